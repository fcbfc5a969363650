// The live room page: one websocket to /ws/rooms/<id>/ speaking the protocol of spaces_project/protocol.
// The server is the source of truth: every change is rendered from a server event, never guessed,
// except the listener count between two `room.listeners` broadcasts (see moveBetweenLists).

import { RoomAudio } from "./audio.js";
import {
  Announcer, ReactionTally, SAY, SPEAKING_TEXT_MS, installShortcuts, showModalFrom, stageStateText,
} from "./room-a11y.js";
import { roomMediaSession } from "./media-session.js";
import { waitForReplay } from "./replay-wait.js";
import { showStatus } from "./room-status.js";
import { SETTLED_MS, reconnectDelay } from "./reconnect.js";
import { gettext, ngettext, interpolate, pageLanguage } from "./i18n.js";

// Kept in step with spaces_project/protocol (tests/browser/test_room_js_in_step.py checks it; docs/protocol.md).
const REACTIONS = ["😂", "😲", "😢", "💜", "💯", "👏", "✊", "👍", "👎", "👋"];
const REACTION_NAMES = [gettext("Laugh"), gettext("Wow"), gettext("Sad"), gettext("Love"), "100", gettext("Clap"), gettext("Solidarity"), gettext("Thumbs up"), gettext("Thumbs down"), gettext("Wave")];
// Reactions are drawn from images shipped with the site (Twemoji, CC-BY 4.0: static/emoji/LICENSE.md),
// so they look the same on every system, with or without an emoji font.
const REACTION_IMAGES = new Map(
  REACTIONS.map((emoji) => [emoji, new URL(`../emoji/${emoji.codePointAt(0).toString(16)}.svg`, import.meta.url).href]),
);
const CLOSE_SIGN_IN_REQUIRED = 4001;
const CLOSE_TICKET_REQUIRED = 4002;
const CLOSE_REMOVED = 4003;
const CLOSE_NOT_FOUND = 4004;
const CLOSE_SUSPENDED = 4005;
const CLOSE_NOT_LIVE = 4009;
const CLOSE_ENDED = 4010;
const CLOSE_REASONS = {
  [CLOSE_SIGN_IN_REQUIRED]: gettext("Sign in to listen to this room."),
  [CLOSE_TICKET_REQUIRED]: gettext("This room is for ticket holders."),
  [CLOSE_REMOVED]: gettext("You were removed from this room."),
  [CLOSE_NOT_FOUND]: gettext("This room does not exist."),
  [CLOSE_SUSPENDED]: gettext("Your account is suspended."),
};
// Reconnecting cannot help after these: the answer would be the same.
const FINAL_CLOSE_CODES = new Set([
  CLOSE_SIGN_IN_REQUIRED, CLOSE_TICKET_REQUIRED, CLOSE_REMOVED, CLOSE_NOT_FOUND, CLOSE_SUSPENDED, CLOSE_NOT_LIVE,
  CLOSE_ENDED,
]);

// A socket that closes this soon after the page was resumed from a freeze was closed by the
// browser for the freeze: the page reconnects at once. Other drops: reconnect.js.
const RESUME_CLOSE_MS = 2000;
const REACTION_SHOWN_MS = 2400;
const TOAST_SHOWN_MS = 5000;
const UNMUTE_ANSWER_MS = 5000;
const CAPTION_LINES_SHOWN = 4;
const CAPTIONS_HIDDEN_KEY = "spaces:captions-hidden";
// The Q&A queue's limit on a question (spaces_project/protocol MAX_QUESTION_CHARS).
const MAX_QUESTION_CHARS = 280;

const ROLE_LABELS = { host: gettext("Host"), cohost: gettext("Co-host"), speaker: gettext("Speaker"), listener: gettext("Listener") };
// Who is on stage, in the order the stage shows them, and who runs it (spaces_project/protocol).
const STAGE_ROLES = ["host", "cohost", "speaker"];
const MODERATOR_ROLES = ["host", "cohost"];
const ROLE_ORDER = Object.fromEntries(STAGE_ROLES.map((role, index) => [role, index]));
const onStage = (p) => STAGE_ROLES.includes(p.role);
const isModerator = (p) => Boolean(p) && MODERATOR_ROLES.includes(p.role);

// An interface icon from the page's sprite (templates/_icons.html), as the `icon` template tag
// draws it: decoration beside words that say the same, or, with a label, an image of that name.
const SVG = "http://www.w3.org/2000/svg";
function icon(name, label = "") {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", `icon icon-${name}`);
  if (label) {
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
    const title = document.createElementNS(SVG, "title");
    title.textContent = label;
    svg.append(title);
  } else {
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
  }
  const use = document.createElementNS(SVG, "use");
  use.setAttribute("href", `#icon-${name}`);
  svg.append(use);
  return svg;
}

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(name, value === true ? "" : value);
  }
  el.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

class LiveRoom {
  constructor(root) {
    this.root = root;
    this.shell = root.querySelector("[data-live-shell]");
    this.wsPath = root.dataset.wsPath;
    this.profileUrl = this.shell.dataset.profileUrl;
    this.signInUrl = this.shell.dataset.signInUrl;
    this.socket = null;
    this.attempt = 0;
    this.reconnectTimer = null;
    this.openedAt = null; // when the current socket opened (performance.now())
    this.heartbeatTimer = null;
    this.resumedAt = null; // when the browser last resumed this page from a freeze
    this.everConnected = false;
    this.finished = false; // ended, left, removed...: no more reconnects
    this.leaving = false;
    // null while the page only watches a scheduled room (no snapshot: it is not in the room yet).
    this.state = null;
    // Where the room is in its life (room.status): "scheduled", "backstage", "live", "ended", "cancelled".
    this.status = root.dataset.state;
    // A host goes live muted: say so until they unmute the first time (in this room, this tab).
    this.unmutedKey = `spaces:unmuted:${root.dataset.roomId}`;
    this.everUnmuted = readSession(this.unmutedKey);
    this.people = new Map(); // user_id -> latest participant payload seen
    this.el = {
      banner: this.shell.querySelector("[data-testid=reconnecting]"),
      stage: this.shell.querySelector("[data-roster=stage]"),
      stageCount: this.shell.querySelector("[data-stage-count]"),
      listeners: this.shell.querySelector("[data-roster=listeners]"),
      listenersEmpty: this.shell.querySelector("[data-roster-empty]"),
      listenerCount: this.shell.querySelector("[data-testid=listener-count]"),
      hands: this.shell.querySelector("[data-hands]"),
      handList: this.shell.querySelector("[data-hand-list]"),
      handCount: this.shell.querySelector("[data-hand-count]"),
      links: this.shell.querySelector("[data-links]"),
      linkList: this.shell.querySelector("[data-link-list]"),
      pinForm: this.shell.querySelector("[data-pin-form]"),
      tools: this.shell.querySelector("[data-moderator-tools]"),
      policy: this.shell.querySelector("[data-testid=speaker-policy]"),
      muteAll: this.shell.querySelector("[data-testid=mute-all]"),
      controls: this.shell.querySelector("[data-controls]"),
      roleControls: this.shell.querySelector("[data-role-controls]"),
      reactions: this.shell.querySelector("[data-reactions]"),
      toasts: this.shell.querySelector("[data-toasts]"),
      floatArea: this.shell.querySelector("[data-reaction-float]"),
      dialog: this.shell.querySelector("[data-confirm]"),
      captions: this.shell.querySelector("[data-captions]"),
      captionLines: this.shell.querySelector("[data-caption-lines]"),
      captionsVisibility: this.shell.querySelector("[data-testid=captions-visibility]"),
      captionsToggle: this.shell.querySelector("[data-testid=captions-toggle]"),
      backstage: this.shell.querySelector("[data-backstage]"),
      goLive: this.shell.querySelector("[data-go-live]"),
      startingSoon: this.shell.querySelector("[data-starting-soon]"),
      waitingCount: this.shell.querySelector("[data-waiting-count]"),
      waitingLabel: this.shell.querySelector("[data-waiting-label]"),
      stageCard: this.shell.querySelector(".stage-card"),
      answering: this.shell.querySelector("[data-answering]"),
      qa: this.shell.querySelector("[data-qa]"),
      qaForm: this.shell.querySelector("[data-qa-form]"),
      qaChars: this.shell.querySelector("[data-qa-chars]"),
      qaOff: this.shell.querySelector("[data-qa-off]"),
      questionList: this.shell.querySelector("[data-question-list]"),
      questionCount: this.shell.querySelector("[data-question-count]"),
      questionsEmpty: this.shell.querySelector("[data-questions-empty]"),
      qaSwitch: this.shell.querySelector("[data-qa-switch]"),
      qaToggle: this.shell.querySelector("[data-testid=qa-toggle]"),
    };
    // The dock (captions over the control bar) is fixed to the bottom of a phone's screen: the page
    // keeps that much room below its end (static/css/site.css, --live-dock-h).
    const dock = this.shell.querySelector("[data-live-dock]");
    if (dock && "ResizeObserver" in window) {
      new ResizeObserver(() => {
        document.documentElement.style.setProperty("--live-dock-h", `${dock.offsetHeight}px`);
      }).observe(dock);
    }
    this.captionLines = new Map(); // line id -> <li>
    this.captionsHidden = readCaptionsHidden();
    this.audio = new RoomAudio({
      area: this.shell.querySelector("[data-audio]"),
      send: (frame, maxBacklog) => this.sendAudio(frame, maxBacklog),
      request: (type, fields) => this.socket?.readyState === WebSocket.OPEN && this.send(type, fields),
      onMicLost: () => this.send("mic.mute"),
    });
    // A signed HLS URL expired (private rooms): a fresh snapshot brings a fresh one.
    this.audio.onHlsExpired = () => this.send("snapshot.request");
    // The lock screen's "now playing": title, host, avatar; pause/play mute the room here, stop leaves.
    this.releaseMediaSession = roomMediaSession(root, this.audio, () => this.leave(false));
    this.buildReactionBar();
    // One polite live region (outside #live-room, so it outlasts the room's end): docs/accessibility.md.
    this.announcer = new Announcer(document.querySelector("[data-announcer]"));
    this.reactionTally = new ReactionTally(this.announcer, new Map(REACTIONS.map((emoji, index) => [emoji, REACTION_NAMES[index]])));
    this.speakingTimer = null;
    this.installShortcuts();
    this.el.policy.addEventListener("change", () => this.send("room.speaker_policy", { policy: this.el.policy.value }));
    this.el.muteAll.addEventListener("click", () => this.send("speakers.mute_all"));
    this.el.captionsToggle.addEventListener("change", () => {
      // The server's room.captions event settles the switch (a refusal puts it back on the next render).
      if (!this.send("captions.set", { enabled: this.el.captionsToggle.checked })) {
        this.el.captionsToggle.checked = Boolean(this.state.room.captions);
      }
    });
    this.el.qaToggle.addEventListener("change", () => {
      if (!this.send("qa.set", { enabled: this.el.qaToggle.checked })) this.el.qaToggle.checked = Boolean(this.state.room.qa);
    });
    this.el.goLive.addEventListener("click", () => this.send("room.go_live"));
    const qaText = this.el.qaForm.elements.text;
    qaText.addEventListener("input", () => {
      const left = MAX_QUESTION_CHARS - qaText.value.length;
      this.el.qaChars.textContent = left === 1 ? "1 character left" : interpolate(ngettext("%(count)s character left", "%(count)s characters left", left), { count: left }, true);
    });
    this.el.qaForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = qaText.value.trim();
      if (!text) {
        this.toast(gettext("Type a question first."), { kind: "error" });
        return;
      }
      // Cleared when the queue comes back with it (room.questions); a refusal keeps the text.
      this.pendingQuestion = text;
      this.send("question.ask", { text });
    });
    this.el.captionsVisibility.addEventListener("click", () => {
      this.captionsHidden = !this.captionsHidden;
      try {
        localStorage.setItem(CAPTIONS_HIDDEN_KEY, this.captionsHidden ? "1" : "0");
      } catch {
        // Private browsing without storage: the choice lasts for this page.
      }
      this.renderCaptions();
    });
    this.el.pinForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const form = this.el.pinForm;
      const title = form.elements.title.value.trim();
      const url = form.elements.url.value.trim();
      if (!title || !url) {
        this.toast(gettext("Give the link a title and an http(s) address."), { kind: "error" });
        return;
      }
      if (this.send("link.pin", { title, url })) {
        form.reset();
        form.closest("details").open = false;
      }
    });
    window.addEventListener("online", () => this.reconnectNow());
    // Chromium closes the sockets of a page it froze (a phone's background tab) as it resumes it
    // (what the Page Lifecycle's guidance asks pages to do themselves). The page then opens one new
    // socket at once, not after the backoff and "Reconnecting" banner of a dropped connection; the
    // audio starts afresh at the live edge (RoomAudio.catchUp, and the new snapshot).
    document.addEventListener("resume", () => {
      this.resumedAt = performance.now();
      if (this.finished || this.reconnectTimer === null) return;
      this.resumedAt = null;
      this.attempt = 0;
      this.connect();
    });
    window.addEventListener("pagehide", () => {
      this.finished = true;
      this.socket?.close(1000);
    });
    // A page restored from the back/forward cache has a closed socket and stale state.
    window.addEventListener("pageshow", (event) => {
      if (event.persisted) window.location.reload();
    });
  }

  // -- connection -----------------------------------------------------------------------------

  connect() {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${window.location.host}${this.wsPath}`);
    this.socket = socket;
    socket.binaryType = "arraybuffer";
    this.openedAt = null;
    socket.addEventListener("open", () => {
      if (socket === this.socket) this.openedAt = performance.now();
    });
    socket.addEventListener("message", (event) => {
      // A socket this page has moved on from (rejoin) has nothing more to say to it.
      if (socket !== this.socket) return;
      // Binary frames are audio (rooms/audio/wire.py), for the audio player, not for the page.
      if (typeof event.data !== "string") {
        this.audio.receive(event.data);
        return;
      }
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      this.handle(data);
    });
    socket.addEventListener("close", (event) => {
      if (socket === this.socket) this.closed(event.code);
    });
  }

  closed(code) {
    this.socket = null;
    const settled = this.openedAt !== null && performance.now() - this.openedAt >= SETTLED_MS;
    this.openedAt = null;
    clearInterval(this.heartbeatTimer);
    this.setConnected(false);
    if (this.finished) return;
    if (this.leaving) {
      this.finish("left");
      return;
    }
    if (code === CLOSE_ENDED) {
      this.showEnded();
      return;
    }
    if (code === CLOSE_NOT_LIVE) {
      // The room's backstage closed or it was cancelled, and its room.status was missed: the next
      // connection says where the room is.
      this.scheduleReconnect();
      return;
    }
    if (FINAL_CLOSE_CODES.has(code)) {
      this.finish("refused", CLOSE_REASONS[code], code === CLOSE_SIGN_IN_REQUIRED);
      return;
    }
    if (this.resumedAt !== null && performance.now() - this.resumedAt < RESUME_CLOSE_MS) {
      this.resumedAt = null; // once: a socket that closes again is a drop like any other
      this.attempt = 0;
      this.connect();
      return;
    }
    this.scheduleReconnect(settled);
  }

  scheduleReconnect(settled = false) {
    const { delay, backoff } = reconnectDelay(
      { attempt: this.attempt, onStage: Boolean(this.state?.you && onStage(this.state.you)), settled },
      Math.random(),
    );
    if (backoff) this.attempt += 1;
    this.el.banner.hidden = false;
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (this.reconnectTimer !== null && !this.finished) this.connect();
  }

  send(type, fields = {}) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
      this.toast(gettext("Not connected right now; trying again…"), { kind: "error" });
      return false;
    }
    this.socket.send(JSON.stringify({ type, ...fields }));
    return true;
  }

  // An uplink audio frame; dropped rather than queued when the socket is not keeping up.
  sendAudio(frame, maxBacklog) {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN || socket.bufferedAmount > maxBacklog) return false;
    socket.send(frame);
    return true;
  }

  setConnected(connected) {
    this.el.controls.classList.toggle("is-offline", !connected);
    this.el.controls.querySelectorAll("button, select").forEach((control) => {
      control.disabled = !connected;
    });
    if (connected) this.el.banner.hidden = true;
  }

  // -- events from the server -----------------------------------------------------------------

  handle(event) {
    switch (event.type) {
      case "room.batch":
        return event.events.forEach((inner) => this.handle(inner));
      case "room.snapshot":
        return this.applySnapshot(event);
      case "room.participant_updated":
        return this.participantUpdated(event.participant);
      case "room.participant_left":
        return this.participantLeft(event.user_id);
      case "room.listeners":
        // Without its list (the audience is churning) only the count changed: keep the list shown.
        if (event.listeners) {
          event.listeners.forEach((p) => this.people.set(p.user_id, p));
          this.state.listeners = event.listeners;
        }
        this.state.listener_count = event.listener_count;
        return this.renderListeners();
      case "room.speak_invited":
        return this.showInvitation(event.by, event.recorded ?? this.state.room.is_recorded);
      case "room.request_declined":
        return this.toast(gettext("The host declined your request to speak this time."), { testid: "request-declined" });
      case "room.reaction":
        return this.showReaction(event.user_id, event.emoji);
      case "room.links":
        this.state.links = event.links;
        return this.renderLinks();
      case "room.settings":
        this.state.room.speaker_policy = event.speaker_policy;
        this.renderControls();
        return this.renderTools();
      case "room.ended":
        return this.showEnded();
      case "room.levels":
        return this.showLevels(event.levels);
      case "room.captions":
        this.state.room.captions = event.enabled;
        if (!event.enabled) this.clearCaptions();
        this.renderTools();
        return this.renderCaptions();
      case "room.caption":
        return this.showCaption(event);
      case "room.questions":
        if (event.answering && event.answering.id !== this.state.answering?.id) {
          this.announcer.say(SAY.answering(event.answering.text, event.answering.asker_name), "answering");
        }
        this.state.room.qa = event.enabled;
        this.state.questions = event.questions;
        this.state.answering = event.answering;
        this.questionsArrived();
        this.renderTools();
        return this.renderQuestions();
      case "room.my_votes":
        this.state.my_votes = event.question_ids;
        return this.renderQuestions();
      case "room.went_live":
        // What the page shows follows room.status, which comes next.
        return this.toast(gettext("The room is live."), { testid: "went-live" });
      case "room.status":
        return this.statusChanged(event.status, event.started_at);
      case "room.audio_route":
        return this.audio.setRoute(event);
      case "room.hls_url":
        // A private room's signed URL, renewed while this person may stay: played from at the next reload.
        return this.audio.renewHls(event.playlist, event.expires);
      case "room.resync":
        return this.send("snapshot.request");
      case "error":
        // A removal is explained by the close that follows it.
        if (event.code !== "removed") this.toast(event.message, { kind: "error" });
        return undefined;
      default:
        return undefined;
    }
  }

  applySnapshot(snapshot) {
    const first = this.state === null;
    this.audio.markSnapshot();
    this.state = snapshot;
    // The snapshot carries when the room went live, so a page that missed room.status (it reconnected
    // after the room went live) still says "Live since …".
    this.showStatus(snapshot.room.backstage ? "backstage" : snapshot.room.state, snapshot.room.started_at);
    this.people.clear();
    [...snapshot.stage, ...snapshot.listeners].forEach((p) => this.people.set(p.user_id, p));
    if (snapshot.you) this.people.set(snapshot.you.user_id, snapshot.you);
    this.noteUnmuted(snapshot.you);
    this.attempt = 0;
    this.everConnected = true;
    if (first) {
      // Replace the server-rendered roster (first paint, and pages without JavaScript).
      this.el.stage.replaceChildren();
      this.el.listeners.replaceChildren();
      this.el.controls.hidden = false;
      this.hideHttpEndForm();
    }
    this.setConnected(true);
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => this.send("heartbeat"), snapshot.heartbeat_seconds * 1000);
    this.renderAll();
    this.renderCaptions();
    this.syncAudio();
    if (snapshot.you?.invited) this.showInvitation(null, snapshot.room.is_recorded);
    else this.dismissInvitation();
  }

  participantUpdated(p) {
    const s = this.state;
    const before = this.people.get(p.user_id);
    this.people.set(p.user_id, p);
    const youBefore = s.you;
    if (s.you && s.you.user_id === p.user_id) s.you = p;
    const wasOnStage = s.stage.some((m) => m.user_id === p.user_id);
    if (onStage(p)) {
      const index = s.stage.findIndex((m) => m.user_id === p.user_id);
      if (index >= 0) s.stage[index] = p;
      else s.stage.push(p);
      s.stage.sort((a, b) => ROLE_ORDER[a.role] - ROLE_ORDER[b.role]);
      this.moveBetweenLists(p, { toStage: true });
    } else {
      s.stage = s.stage.filter((m) => m.user_id !== p.user_id);
      const index = s.listeners.findIndex((m) => m.user_id === p.user_id);
      if (index >= 0) s.listeners[index] = p;
      else if (wasOnStage) this.moveBetweenLists(p, { toStage: false });
    }
    const yours = s.you?.user_id === p.user_id;
    if (onStage(p) && !wasOnStage && !yours) this.announcer.say(SAY.onStage(p.name), `stage-${p.user_id}`);
    const handWasUp = s.hands.includes(p.user_id);
    s.hands = s.hands.filter((id) => id !== p.user_id);
    if (p.hand_raised && !onStage(p)) {
      s.hands.push(p.user_id);
      if (!handWasUp && !yours && isModerator(s.you)) this.announcer.say(SAY.handRaised(p.name), `hand-${p.user_id}`);
    }
    if (youBefore && youBefore.user_id === p.user_id) {
      this.noteUnmuted(p);
      this.youChanged(youBefore, p);
      this.syncAudio();
    } else if (before && before.invited !== p.invited) this.renderListeners();
    this.renderAll();
  }

  // `room.listeners` arrives only when someone connects or disconnects, so a change of role
  // moves the person between the lists here; the next broadcast corrects any difference.
  moveBetweenLists(p, { toStage }) {
    const s = this.state;
    const inList = s.listeners.some((m) => m.user_id === p.user_id);
    if (toStage && inList) {
      s.listeners = s.listeners.filter((m) => m.user_id !== p.user_id);
      s.listener_count = Math.max(0, s.listener_count - 1);
    } else if (!toStage && !inList) {
      s.listeners.push(p);
      s.listener_count += 1;
    }
  }

  noteUnmuted(you) {
    if (this.everUnmuted || !you || you.muted || !onStage(you)) return;
    this.everUnmuted = true;
    writeSession(this.unmutedKey);
  }

  youChanged(before, now) {
    if (!onStage(before) && onStage(now)) {
      this.dismissInvitation();
      this.announcer.say(before.hand_raised ? SAY.handApproved() : SAY.invitedOnStage(), "you");
      this.toast(gettext("You're on stage. Your mic is off: unmute when you're ready."), { testid: "on-stage", announce: false });
    } else if (onStage(before) && !onStage(now)) {
      this.toast(gettext("You're back in the audience."));
    } else if (before.role !== now.role) {
      this.toast(now.role === "cohost" ? gettext("You're now a co-host.") : interpolate(gettext("You're now a %(role)s."), { role: ROLE_LABELS[now.role].toLowerCase() }, true));
    } else if (!before.muted && now.muted && onStage(now) && this.pendingMute !== true) {
      this.toast(gettext("A host muted your mic."), { announce: false });
      this.announcer.say(SAY.mutedByHost(), "you");
    }
    if (before.invited && !now.invited) this.dismissInvitation();
    this.pendingMute = false;
  }

  // The microphone follows the server: on only while it says you are on stage and unmuted.
  syncAudio() {
    const you = this.state.you;
    const stage = { onStage: Boolean(you && onStage(you)), muted: you ? you.muted : true };
    this.audio.setStage(stage).then((ok) => {
      // Unmuted (a reload while speaking, say) but the mic would not start: say so to the room.
      if (!ok && this.state.you && !this.state.you.muted) {
        this.pendingMute = true;
        this.send("mic.mute");
      }
    });
  }

  async toggleMic() {
    const you = this.state.you;
    if (you.muted) {
      // Ask for the microphone first: if it is refused, the room never sees you unmuted.
      if (!(await this.audio.startMic())) {
        this.toast(this.audio.messages.speak || gettext("Your microphone could not be started."), { kind: "error", testid: "mic-error" });
        return;
      }
      this.pendingMute = false;
      // If the server refuses (an error frame says why), do not keep the microphone open.
      if (this.send("mic.unmute")) setTimeout(() => this.state.you?.muted && this.audio.stopMic(), UNMUTE_ANSWER_MS);
      else this.audio.stopMic();
    } else {
      this.audio.stopMic();
      this.pendingMute = true;
      this.send("mic.mute");
    }
  }

  participantLeft(userId) {
    const s = this.state;
    s.stage = s.stage.filter((m) => m.user_id !== userId);
    const count = s.listeners.length;
    s.listeners = s.listeners.filter((m) => m.user_id !== userId);
    if (s.listeners.length < count) s.listener_count = Math.max(0, s.listener_count - 1);
    s.hands = s.hands.filter((id) => id !== userId);
    this.renderAll();
  }

  // -- rendering ------------------------------------------------------------------------------

  renderAll() {
    this.renderBackstage();
    this.renderQuestions();
    this.renderStage();
    this.renderHands();
    this.renderListeners();
    this.renderLinks();
    this.renderTools();
    this.renderControls();
  }

  renderStage() {
    const stage = this.state.stage;
    syncList(this.el.stage, stage, (p) => this.buildStageMember(p), (el, p) => this.updateStageMember(el, p));
    this.el.stageCount.textContent = `${stage.length}`;
  }

  renderListeners() {
    const s = this.state;
    syncList(this.el.listeners, s.listeners, (p) => this.buildListener(p), (el, p) => this.updateListener(el, p));
    this.el.listenerCount.textContent = `${s.listener_count}`;
    this.el.waitingCount.textContent = `${s.listener_count}`;
    this.el.waitingLabel.textContent = ngettext("person is", "people are", s.listener_count);
    const hidden = s.listener_count - s.listeners.length;
    this.el.listenersEmpty.hidden = s.listener_count > 0;
    this.el.listeners.dataset.more = hidden > 0 ? interpolate(gettext("and %(count)s more"), { count: hidden }, true) : "";
  }

  renderHands() {
    const you = this.state.you;
    // Only the hosts see raised hands, and only when there are some.
    this.el.hands.hidden = !isModerator(you) || this.state.hands.length === 0;
    if (!isModerator(you)) return;
    const requests = this.state.hands.map((id) => this.people.get(id) || { user_id: id, name: "Someone", handle: "", avatar: "" });
    syncList(this.el.handList, requests, (p) => this.buildHandRequest(p), (el, p) => updatePerson(el, p, this.profileUrl));
    this.el.handCount.textContent = `${requests.length}`;
  }

  renderLinks() {
    const links = this.state.links;
    const moderator = isModerator(this.state.you);
    const key = JSON.stringify([links, moderator]);
    if (key === this.linksKey) return;
    this.linksKey = key;
    this.el.links.hidden = links.length === 0;
    this.el.linkList.replaceChildren(
      ...links.map((link) => {
        let host = "";
        try {
          host = new URL(link.url).host;
        } catch {
          host = "";
        }
        return h(
          "li",
          { class: "pinned-link", "data-testid": `link-${link.id}` },
          h("span", { class: "pin" }, icon("pin")),
          h(
            "a",
            { href: link.url, target: "_blank", rel: "noopener noreferrer nofollow ugc" },
            h("span", { class: "link-title", text: link.title }),
            h("small", { class: "link-host", text: host }),
          ),
          moderator &&
            h("button", {
              type: "button",
              class: "button-small button-ghost",
              text: gettext("Unpin"),
              "aria-label": interpolate(gettext("Unpin %(title)s"), { title: link.title }, true),
              onclick: () => this.send("link.unpin", { link_id: link.id }),
            }),
        );
      }),
    );
  }

  renderTools() {
    const moderator = isModerator(this.state.you);
    this.el.tools.hidden = !moderator || this.state.room.backstage;
    if (moderator) {
      this.el.policy.value = this.state.room.speaker_policy;
      this.el.captionsToggle.checked = Boolean(this.state.room.captions);
      this.el.qaToggle.checked = Boolean(this.state.room.qa);
    }
    this.el.qaSwitch.hidden = this.state.you?.role !== "host";
  }

  // Backstage: the stage sees a banner (and the host "Go live"); everyone else waits, with a count.
  renderBackstage() {
    const s = this.state;
    const backstage = Boolean(s.room.backstage);
    const staged = Boolean(s.you && onStage(s.you));
    this.el.backstage.hidden = !(backstage && staged);
    this.el.goLive.hidden = !(backstage && s.you?.role === "host");
    this.el.startingSoon.hidden = !(backstage && !staged);
    this.el.stageCard.hidden = backstage && !staged;
  }

  // -- where the room is in its life ----------------------------------------------------------

  showStatus(status, startedAt = null) {
    if (status === "live" && this.status !== "live") {
      // It went live while this page was open: "Ran … · 12 min" will count from now.
      const when = document.querySelector(".room-head [data-live-since]");
      if (when) when.dataset.liveForS = String(-performance.now() / 1000);
    }
    this.status = status;
    showStatus(status, { startedAt });
  }

  // room.status: every page of the room, in it or watching the schedule, shows the new status.
  statusChanged(status, startedAt) {
    if (this.finished) return;
    if (status === "ended") {
      this.showEnded();
      return;
    }
    if (status === "cancelled") {
      this.showCancelled();
      return;
    }
    this.showStatus(status, startedAt);
    if (status === "scheduled") {
      // Its backstage closed (it was moved later): leave it and watch the schedule again.
      if (this.state !== null) this.rejoin();
      return;
    }
    if (this.state === null) {
      // Watching the schedule, and the room opened: join it.
      this.rejoin();
      return;
    }
    this.state.room.state = status === "live" ? "live" : "scheduled";
    this.state.room.backstage = status === "backstage";
    this.renderAll();
    this.syncAudio();
  }

  // A new connection at once, the old one closed without its close counting as a drop.
  rejoin() {
    const old = this.socket;
    this.socket = null;
    clearInterval(this.heartbeatTimer);
    if (this.state !== null) {
      this.state = null;
      this.audio.setStage({ onStage: false, muted: true });
      this.el.controls.hidden = true;
    }
    if (old && old.readyState <= WebSocket.OPEN) old.close(1000);
    this.attempt = 0;
    this.connect();
  }

  questionsArrived() {
    const you = this.state.you;
    if (!this.pendingQuestion || !you) return;
    const mine = this.state.questions.some((q) => q.asker_id === you.user_id && q.text === this.pendingQuestion);
    if (mine) {
      this.pendingQuestion = null;
      this.el.qaForm.reset();
      this.el.qaChars.textContent = interpolate(ngettext("%(count)s character left", "%(count)s characters left", MAX_QUESTION_CHARS), { count: MAX_QUESTION_CHARS }, true);
    }
  }

  // The Q&A queue: most votes first, then the oldest (the server's order); the one being answered
  // is listed first, and shown under the stage ("Now answering").
  renderQuestions() {
    const s = this.state;
    const you = s.you;
    const live = s.room.state === "live" && !s.room.backstage;
    const on = Boolean(s.room.qa);
    this.el.qa.hidden = !live || (!on && s.questions.length === 0 && !s.answering);
    this.el.qaOff.hidden = on;
    this.el.qaForm.hidden = !on || !you || onStage(you);
    const answering = s.answering;
    this.el.answering.hidden = !live || !answering;
    if (answering) {
      this.el.answering.querySelector("[data-answering-text]").textContent = answering.text;
      this.el.answering.querySelector("[data-answering-asker]").textContent = interpolate(gettext("asked by %(name)s"), { name: answering.asker_name }, true);
    }
    const moderator = isModerator(you);
    const key = JSON.stringify([s.questions, answering, s.my_votes, you?.user_id, moderator, on]);
    if (key === this.questionsKey) return;
    this.questionsKey = key;
    // The list has the question being answered first, then the open ones; its count and its empty
    // state say the same as the list.
    const items = [...(answering ? [answering] : []), ...s.questions];
    this.el.questionCount.textContent = `${items.length}`;
    this.el.questionsEmpty.hidden = items.length > 0;
    const voted = new Set(s.my_votes);
    const reportBase = this.el.qa.dataset.reportUrl;
    this.el.questionList.replaceChildren(
      ...items.map((q) => {
        const mine = you && q.asker_id === you.user_id;
        const isVoted = voted.has(q.id);
        const actions = [];
        if (moderator && q.state === "answering") {
          actions.push(button(gettext("Answered"), "question-done", () => this.send("question.done", { question_id: q.id }), { cls: "button-small button-primary" }));
        } else if (moderator) {
          actions.push(button(gettext("Answer now"), "question-answer", () => this.send("question.answer", { question_id: q.id }), { cls: "button-small button-primary" }));
          actions.push(button(gettext("Invite to speak"), "question-invite", () => this.send("question.invite", { question_id: q.id }), { cls: "button-small", label: interpolate(gettext("Invite %(name)s to speak"), { name: q.asker_name }, true) }));
          actions.push(button(gettext("Dismiss"), "question-dismiss", () => this.send("question.dismiss", { question_id: q.id }), { cls: "button-small" }));
        }
        if (moderator) {
          actions.push(button(gettext("Remove"), "question-remove", () => this.send("question.remove", { question_id: q.id }), { cls: "button-small button-danger" }));
        }
        if (mine && q.state === "open") {
          actions.push(button(gettext("Withdraw"), "question-withdraw", () => this.send("question.withdraw", { question_id: q.id }), { cls: "button-small" }));
        }
        if (you && !mine) {
          actions.push(h("a", { class: "button button-small button-ghost", href: reportBase.replace(/\/0\/$/, `/${q.id}/`), target: "_blank", rel: "noopener", "data-testid": "question-report", text: gettext("Report") }));
        }
        const vote = h("button", {
          type: "button",
          class: isVoted ? "button-small vote-button is-voted" : "button-small vote-button",
          "data-testid": "question-vote",
          "aria-pressed": String(isVoted),
          "aria-label": isVoted ? interpolate(gettext("Take back your upvote (%(count)s)"), { count: q.votes }, true) : interpolate(gettext("Upvote (%(count)s)"), { count: q.votes }, true),
          disabled: !you || mine || !on || q.state !== "open",
          text: `▲ ${q.votes}`,
          onclick: () => this.send(isVoted ? "question.unvote" : "question.vote", { question_id: q.id }),
        });
        return h(
          "li",
          {
            class: q.state === "answering" ? "question is-answering" : "question",
            "data-testid": `question-${q.id}`,
            dataset: { questionId: q.id, votes: q.votes },
          },
          vote,
          h(
            "div",
            {},
            h("p", { class: "question-text", "data-testid": "question-text", text: q.text }),
            h("small", { text: `${q.asker_name} @${q.asker_handle}${q.state === "answering" ? gettext(" · being answered") : ""}` }),
            actions.length ? h("div", { class: "question-actions" }, ...actions) : null,
          ),
        );
      }),
    );
  }

  // Live captions: shown while the room has them on, unless this listener hid them.
  renderCaptions() {
    const on = Boolean(this.state.room.captions);
    this.el.captions.hidden = !on;
    this.el.captionLines.hidden = this.captionsHidden;
    this.el.captions.classList.toggle("is-collapsed", this.captionsHidden);
    this.el.captionsVisibility.textContent = this.captionsHidden ? gettext("Show captions") : gettext("Hide captions");
    this.el.captionsVisibility.setAttribute("aria-pressed", String(!this.captionsHidden));
  }

  clearCaptions() {
    this.captionLines.clear();
    this.el.captionLines.replaceChildren();
  }

  // A partial line refines itself in place until its final arrives; old lines scroll away.
  showCaption(event) {
    let line = this.captionLines.get(event.line);
    if (!line) {
      line = h(
        "li",
        { class: "caption-line", "data-testid": "caption-line", dataset: { userId: event.user_id, line: event.line } },
        h("strong", { class: "caption-speaker" }),
        " ",
        h("span", { class: "caption-text" }),
      );
      this.captionLines.set(event.line, line);
      this.el.captionLines.append(line);
      while (this.el.captionLines.children.length > CAPTION_LINES_SHOWN) {
        const oldest = this.el.captionLines.firstElementChild;
        this.captionLines.delete(oldest.dataset.line);
        oldest.remove();
      }
    }
    if (event.final && !event.text && !event.skipped) {
      // Nothing was made of it after all (a cough, a breath).
      this.captionLines.delete(event.line);
      line.remove();
      return;
    }
    line.querySelector(".caption-speaker").textContent = `${event.name}:`;
    line.querySelector(".caption-text").textContent = event.skipped ? "(captions skipped: the recognizer fell behind)" : event.text;
    line.dataset.final = String(Boolean(event.final));
    line.classList.toggle("is-partial", !event.final);
    line.classList.toggle("is-skipped", Boolean(event.skipped));
  }

  renderControls() {
    const s = this.state;
    const you = s.you;
    // Rebuild only when something shown changed, so keyboard focus is not lost on every event.
    const mutedHint = you?.role === "host" && you.muted && !this.everUnmuted;
    const key = JSON.stringify([you?.role, you?.muted, you?.hand_raised, s.room.speaker_policy, mutedHint, s.room.backstage]);
    if (key === this.controlsKey) return;
    this.controlsKey = key;
    const buttons = [];
    if (mutedHint) {
      const hint = s.room.backstage ? gettext("You're backstage and muted. Unmute to check your mic.") : gettext("You're live and muted. Unmute to talk.");
      buttons.push(h("p", { class: "live-hint", role: "status", "data-testid": "muted-hint", text: hint }));
    }
    const waiting = s.room.backstage && !(you && onStage(you));
    if (waiting) {
      buttons.push(h("span", { class: "control-note", text: gettext("The room starts soon.") }));
    } else if (you === null) {
      buttons.push(h("a", { class: "button button-primary", href: this.signInUrl, text: gettext("Sign in to react or speak") }));
    } else if (onStage(you)) {
      buttons.push(
        h(
          "button",
          {
            type: "button",
            class: you.muted ? "mic-button is-muted" : "mic-button is-live",
            "data-testid": "mic-toggle",
            "aria-keyshortcuts": "M",
            "aria-label": you.muted ? gettext("Unmute your mic") : gettext("Mute your mic"),
            onclick: () => this.toggleMic(),
          },
          icon(you.muted ? "micOff" : "mic"),
          h("span", { text: you.muted ? gettext("Unmute") : gettext("Mute") }),
        ),
      );
      if (you.role !== "host") {
        buttons.push(
          button(gettext("Step down"), "step-down", () => this.send("speaker.to_audience", { user_id: you.user_id }), {
            label: gettext("Step down to the audience"),
          }),
        );
      }
    } else if (you.hand_raised) {
      buttons.push(button(gettext("Lower hand"), "lower-hand", () => this.send("hand.lower"), { label: gettext("Lower your hand"), cls: "is-raised", icon: "hand", keys: "H" }));
    } else if (s.room.speaker_policy === "invited") {
      buttons.push(h("span", { class: "control-note", text: gettext("Only people the host invites can speak.") }));
    } else {
      buttons.push(button(gettext("Raise hand"), "raise-hand", () => this.raiseHand(), { label: gettext("Raise your hand to ask to speak"), icon: "hand", keys: "H" }));
    }
    buttons.push(h("span", { class: "control-spacer" }));
    if (you?.role === "host" && !s.room.backstage) {
      buttons.push(button(gettext("End room"), "end-room", () => this.confirmEnd(), { cls: "button-danger" }));
    }
    buttons.push(
      h(
        "details",
        { class: "leave-menu" },
        h("summary", { class: "button button-ghost", "data-testid": "leave-menu" }, gettext("Leave")),
        h(
          "div",
          { class: "menu-body", role: "group", "aria-label": gettext("Leave the room") },
          button(gettext("Leave"), "leave", () => this.leave(false), { cls: "button-small" }),
          button(gettext("Leave quietly"), "leave-quietly", () => this.leave(true), {
            cls: "button-small",
            label: gettext("Leave quietly, without telling the room"),
          }),
        ),
      ),
    );
    this.el.roleControls.replaceChildren(...buttons);
    this.el.reactions.hidden = you === null || Boolean(s.room.backstage);
    this.setConnected(this.socket?.readyState === WebSocket.OPEN);
  }

  buildReactionBar() {
    this.el.reactions.replaceChildren(
      ...REACTIONS.map((emoji, index) =>
        h("button", {
          type: "button",
          class: "reaction-button",
          "data-testid": `reaction-${index}`,
          "aria-label": `React: ${REACTION_NAMES[index]}`,
          title: REACTION_NAMES[index],
          onclick: () => this.send("reaction.send", { emoji }),
        }, reactionImage(emoji)),
      ),
    );
  }

  buildStageMember(p) {
    return h(
      "li",
      { class: "stage-member", dataset: { userId: p.user_id }, "data-testid": `stage-member-${p.user_id}` },
      h("div", { class: "avatar-wrap" }, avatar(p, 72), h("span", { class: "mic-badge" })),
      h("a", { class: "member-name", href: "#" }),
      h("span", { class: "role-badge" }),
      h("span", { class: "mic-state visually-hidden" }),
      h("div", { class: "member-actions" }),
    );
  }

  updateStageMember(el, p) {
    updatePerson(el, p, this.profileUrl);
    const badge = el.querySelector(".role-badge");
    badge.textContent = ROLE_LABELS[p.role];
    badge.className = `role-badge role-${p.role}`;
    const mic = el.querySelector(".mic-badge");
    mic.replaceChildren(icon(p.muted ? "micOff" : "mic"));
    mic.className = p.muted ? "mic-badge is-muted" : "mic-badge is-live";
    el.classList.toggle("is-muted", p.muted);
    el.querySelector(".mic-state").textContent = stageStateText(p.muted, el.classList.contains("is-speaking"));
    this.renderMemberMenu(el, p, this.stageActions(p));
  }

  buildListener(p) {
    return h(
      "li",
      { class: "person-row listener", dataset: { userId: p.user_id }, "data-testid": `listener-${p.user_id}` },
      h("div", { class: "avatar-wrap" }, avatar(p, 36)),
      h("span", { class: "who" }, h("a", { class: "member-name", href: "#" }), h("small", { class: "member-handle" })),
      h("span", { class: "listener-flags" }),
      h("div", { class: "member-actions" }),
    );
  }

  updateListener(el, p) {
    updatePerson(el, p, this.profileUrl);
    const you = this.state.you;
    const flags = [];
    // Raised hands are for the hosts to see (and for the person themself).
    if (p.hand_raised && (isModerator(you) || you?.user_id === p.user_id)) {
      flags.push(h("span", { class: "flag", title: gettext("Hand raised") }, icon("hand", gettext("Hand raised"))));
    }
    if (p.invited && isModerator(you)) flags.push(h("span", { class: "pill", text: gettext("Invited") }));
    if (you?.user_id === p.user_id) flags.push(h("span", { class: "pill", text: gettext("You") }));
    el.querySelector(".listener-flags").replaceChildren(...flags);
    this.renderMemberMenu(el, p, this.listenerActions(p));
  }

  buildHandRequest(p) {
    return h(
      "li",
      { class: "person-row hand-request", dataset: { userId: p.user_id }, "data-testid": `hand-request-${p.user_id}` },
      h("div", { class: "avatar-wrap" }, avatar(p, 36)),
      h("span", { class: "who" }, h("a", { class: "member-name", href: "#" }), h("small", { text: "wants to speak" })),
      h(
        "span",
        { class: "request-actions" },
        h("button", {
          type: "button",
          class: "button-small button-primary",
          "data-testid": "approve",
          text: gettext("Approve"),
          "aria-label": interpolate(gettext("Approve %(name)s's request to speak"), { name: p.name }, true),
          onclick: () => this.send("request.approve", { user_id: p.user_id }),
        }),
        h("button", {
          type: "button",
          class: "button-small",
          "data-testid": "decline",
          text: gettext("Decline"),
          "aria-label": interpolate(gettext("Decline %(name)s's request to speak"), { name: p.name }, true),
          onclick: () => this.send("request.decline", { user_id: p.user_id }),
        }),
      ),
    );
  }

  // What the viewer may do to a person; the server checks again (services.py holds the rules).
  stageActions(p) {
    const you = this.state.you;
    if (!isModerator(you) || p.user_id === you.user_id || p.role === "host") return [];
    if (p.role === "cohost" && you.role !== "host") return [];
    const actions = [];
    if (!p.muted) actions.push([gettext("Mute"), "mute", () => this.send("speaker.mute", { user_id: p.user_id })]);
    actions.push([gettext("Move to audience"), "to-audience", () => this.send("speaker.to_audience", { user_id: p.user_id })]);
    if (you.role === "host") {
      if (p.role === "cohost") actions.push([gettext("Remove co-host"), "cohost-remove", () => this.send("cohost.remove", { user_id: p.user_id })]);
      else actions.push([gettext("Make co-host"), "cohost-add", () => this.send("cohost.add", { user_id: p.user_id })]);
    }
    actions.push([gettext("Remove from room…"), "remove", () => this.confirmRemove(p), "danger"]);
    return actions;
  }

  listenerActions(p) {
    const you = this.state.you;
    if (!isModerator(you) || p.user_id === you.user_id) return [];
    const actions = [];
    if (!p.invited) actions.push([gettext("Invite to speak"), "invite", () => this.send("speaker.invite", { user_id: p.user_id })]);
    if (you.role === "host") actions.push([gettext("Make co-host"), "cohost-add", () => this.send("cohost.add", { user_id: p.user_id })]);
    actions.push([gettext("Remove from room…"), "remove", () => this.confirmRemove(p), "danger"]);
    return actions;
  }

  renderMemberMenu(el, p, actions) {
    const holder = el.querySelector(".member-actions");
    if (actions.length === 0) {
      holder.replaceChildren();
      return;
    }
    let menu = holder.querySelector("details");
    if (!menu) {
      menu = h(
        "details",
        { class: "member-menu" },
        h("summary", { "data-testid": "member-menu" }, icon("more"), h("span", { class: "visually-hidden" })),
        h("div", { class: "menu-body", role: "group" }),
      );
      holder.replaceChildren(menu);
    }
    menu.querySelector("summary .visually-hidden").textContent = interpolate(gettext("Actions for %(name)s"), { name: p.name }, true);
    menu.querySelector(".menu-body").setAttribute("aria-label", interpolate(gettext("Actions for %(name)s"), { name: p.name }, true));
    menu.querySelector(".menu-body").replaceChildren(
      ...actions.map(([label, testid, run, kind]) =>
        h("button", {
          type: "button",
          class: kind === "danger" ? "button-small button-danger" : "button-small",
          "data-testid": testid,
          text: label,
          onclick: () => {
            menu.open = false;
            run();
          },
        }),
      ),
    );
  }

  // -- actions --------------------------------------------------------------------------------

  // The shortcuts (docs/accessibility.md, and the page's "Keyboard shortcuts" dialog): each does
  // what its button does, and only when that button is there.
  installShortcuts() {
    const press = (testid) => {
      const control = this.el.roleControls.querySelector(`[data-testid=${testid}]`);
      if (!control || control.disabled || this.finished) return false;
      control.click();
      return true;
    };
    const help = document.querySelector("[data-shortcuts]");
    const openHelp = this.shell.querySelector("[data-shortcuts-open]");
    openHelp?.addEventListener("click", () => showModalFrom(help));
    installShortcuts({
      m: () => press("mic-toggle"),
      h: () => press("raise-hand") || press("lower-hand"),
      r: () => {
        const first = this.el.reactions.querySelector("button:not([disabled])");
        if (this.el.reactions.hidden || !first || this.finished) return false;
        first.focus();
        return true;
      },
      "?": () => {
        if (!help || this.finished) return false;
        showModalFrom(help);
        return true;
      },
    });
  }

  raiseHand() {
    if (!this.state.room.is_recorded) {
      this.send("hand.raise");
      return;
    }
    this.confirm({
      title: gettext("This room is being recorded"),
      text: gettext("If the host brings you on stage, your voice will be in the recording."),
      action: gettext("Raise hand"),
      danger: false,
      run: () => this.send("hand.raise"),
    });
  }

  confirmRemove(p) {
    this.confirm({
      title: interpolate(gettext("Remove %(name)s?"), { name: p.name }, true),
      text: gettext("They leave the room at once and cannot come back to it."),
      action: gettext("Remove"),
      run: () => this.send("participant.remove", { user_id: p.user_id }),
    });
  }

  confirmEnd() {
    this.confirm({
      title: gettext("End this room for everyone?"),
      text: this.state.room.is_recorded
        ? gettext("Everyone is told the room has ended. The recording stops and is published as a replay.")
        : gettext("Everyone is told the room has ended."),
      action: this.state.room.is_recorded ? gettext("End room and recording") : gettext("End room"),
      run: () => this.send("room.end"),
    });
  }

  confirm({ title, text, action, run, danger = true }) {
    const dialog = this.el.dialog;
    dialog.querySelector("[data-confirm-title]").textContent = title;
    dialog.querySelector("[data-confirm-text]").textContent = text;
    const ok = dialog.querySelector("[data-testid=confirm-ok]");
    ok.textContent = action;
    ok.className = danger ? "button-danger" : "button-primary";
    dialog.returnValue = "";
    dialog.onclose = () => {
      if (dialog.returnValue === "ok") run();
    };
    // Focus goes to the dialog's first button (Cancel), and back to what opened it when it closes.
    showModalFrom(dialog, () => this.el.controls.querySelector("button"));
  }

  leave(quiet) {
    this.leaving = true;
    if (!this.send("leave", { quiet })) this.finish("left");
  }

  showInvitation(by, recorded) {
    if (this.el.toasts.querySelector("[data-testid=invite-toast]")) return;
    const who = by ? interpolate(gettext("%(name)s invited you"), { name: by }, true) : gettext("You're invited");
    const message = h("div", { class: "toast-text" }, h("strong", { text: `${who} to speak.` }));
    if (recorded) message.append(h("p", { class: "toast-rec", text: gettext("This room is being recorded: your voice will be in the recording.") }));
    const toast = h(
      "div",
      { class: "toast toast-invite", "data-testid": "invite-toast", role: "group", "aria-label": gettext("Invitation to speak") },
      message,
      h(
        "div",
        { class: "toast-actions" },
        h("button", { type: "button", class: "button-small button-primary", "data-testid": "invite-accept", text: gettext("Join the stage"), onclick: () => this.send("invite.accept") }),
        h("button", {
          type: "button",
          class: "button-small",
          "data-testid": "invite-decline",
          text: gettext("Not now"),
          onclick: () => {
            this.send("invite.decline");
            toast.remove();
          },
        }),
      ),
    );
    this.el.toasts.append(toast);
    this.announcer.say(SAY.invited(by, recorded), "invited");
  }

  dismissInvitation() {
    this.el.toasts.querySelector("[data-testid=invite-toast]")?.remove();
  }

  toast(text, { kind = "info", testid = "toast", announce = true } = {}) {
    // A toast is seen, and heard through the live region (the toasts are not a live region themselves).
    if (announce) this.announcer.say(text);
    const toast = h("div", { class: `toast toast-${kind}`, "data-testid": testid }, h("span", { class: "toast-text", text }));
    toast.append(h("button", { type: "button", class: "toast-close", "aria-label": gettext("Dismiss"), text: "×", onclick: () => toast.remove() }));
    this.el.toasts.append(toast);
    setTimeout(() => toast.remove(), TOAST_SHOWN_MS);
  }

  showReaction(userId, emoji) {
    const anchor = this.shell.querySelector(
      `[data-roster] [data-user-id="${CSS.escape(String(userId))}"] .avatar-wrap`,
    );
    const bubble = h("span", { class: "reaction-bubble", "data-testid": "reaction-bubble", "data-emoji": emoji, "aria-hidden": "true" }, reactionImage(emoji));
    if (anchor) {
      anchor.append(bubble);
    } else {
      const person = this.people.get(userId);
      if (person) bubble.append(h("small", { text: person.name }));
      bubble.style.left = `${10 + Math.random() * 70}%`;
      this.el.floatArea.append(bubble);
    }
    setTimeout(() => bubble.remove(), REACTION_SHOWN_MS);
    this.reactionTally.add(emoji);
  }

  // Who is speaking: a ring on the avatar that grows with the voice. People absent from the
  // list are quiet (the server leaves out levels below 0.05 and sends only changes).
  showLevels(levels) {
    const loud = new Map(levels.map(([userId, level]) => [String(userId), level]));
    for (const member of this.el.stage.children) {
      const level = loud.get(member.dataset.userId) || 0;
      member.classList.toggle("is-speaking", level > 0);
      member.style.setProperty("--level", level.toFixed(2));
    }
    // The ring's words ("mic on, speaking"), at most once a second, not at every level.
    if (this.speakingTimer === null) this.speakingTimer = setTimeout(() => this.tellSpeaking(), SPEAKING_TEXT_MS);
  }

  tellSpeaking() {
    this.speakingTimer = null;
    for (const member of this.el.stage.children) {
      const state = member.querySelector(".mic-state");
      const text = stageStateText(member.classList.contains("is-muted"), member.classList.contains("is-speaking"));
      if (state && state.textContent !== text) state.textContent = text;
    }
  }

  // -- the end of the room, or of being in it -------------------------------------------------

  hideHttpEndForm() {
    // The host card's End form reloads the page; the control bar ends the room without reload.
    document.querySelectorAll(".host-controls .confirm").forEach((el) => {
      el.hidden = true;
    });
  }

  showEnded() {
    if (this.finished) return;
    this.stop();
    this.announcer.say(SAY.ended(), "ended");
    const { replayStatusUrl, replayUrl } = this.root.dataset;
    const recorded = this.state?.room.is_recorded && replayStatusUrl;
    const replay = recorded
      ? h(
          "div",
          { class: "replay-wait", "data-testid": "replay-wait", dataset: { statusUrl: replayStatusUrl, replayUrl } },
          h("p", { text: gettext("Thanks for listening. The replay will appear on this page once it is ready.") }),
        )
      : h("p", { text: gettext("Thanks for listening.") });
    this.root.replaceChildren(
      h(
        "section",
        { class: "card notice ended-view", "data-testid": "room-ended", tabindex: "-1" },
        h("h2", { text: gettext("This room has ended") }),
        replay,
        h("p", {}, h("a", { class: "button", href: "/", text: gettext("Find another room") })),
      ),
    );
    if (recorded) waitForReplay(replay);
    this.showRanFor();
    this.showStatus("ended");
  }

  showCancelled() {
    if (this.finished) return;
    this.stop();
    this.root.replaceChildren(
      h(
        "section",
        { class: "card notice", "data-testid": "room-cancelled", role: "status", tabindex: "-1" },
        h("h2", { text: gettext("This room was cancelled") }),
        h("p", { text: gettext("The host cancelled it before it started.") }),
        h("p", {}, h("a", { class: "button", href: "/", text: gettext("Find another room") })),
      ),
    );
    this.showStatus("cancelled");
  }

  // "Live since 14:05" becomes "Ran 14:05 – 14:52 · 47 min", as the page of an ended room says.
  // The length is counted from the server's figure when the page was made, not the local clock.
  showRanFor() {
    const when = document.querySelector(".room-head .room-when[data-live-for-s]");
    const started = when?.querySelector("time");
    if (!started) return;
    const ranS = Number(when.dataset.liveForS) + performance.now() / 1000;
    const end = new Date(new Date(started.getAttribute("datetime")).getTime() + ranS * 1000);
    const ended = h("time", {
      datetime: end.toISOString(),
      text: end.toLocaleTimeString(pageLanguage, { hour: "2-digit", minute: "2-digit" }),
    });
    when.replaceChildren(gettext("Ran "), started, " – ", ended, ` · ${durationLabel(ranS)}`);
    delete when.dataset.liveForS;
  }

  finish(kind, reason = "", signIn = false) {
    this.stop();
    const body =
      kind === "left"
        ? [
            h("h2", { text: gettext("You left the room") }),
            h("p", {}, h("button", { type: "button", class: "button-primary", "data-testid": "rejoin", text: gettext("Rejoin"), onclick: () => window.location.reload() }), " ", h("a", { class: "button", href: "/", text: gettext("Back to rooms") })),
          ]
        : [
            h("h2", { text: reason || gettext("You are no longer in this room.") }),
            signIn ? h("p", {}, h("a", { class: "button button-primary", href: this.signInUrl, text: gettext("Sign in") })) : h("p", {}, h("a", { class: "button", href: "/", text: gettext("Back to rooms") })),
          ];
    this.shell.replaceChildren(h("section", { class: "card notice", "data-testid": "room-left", role: "status" }, ...body));
  }

  stop() {
    this.finished = true;
    this.reactionTally.stop();
    clearTimeout(this.speakingTimer);
    this.audio.close();
    this.releaseMediaSession();
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.reconnectTimer);
    this.el.banner.hidden = true;
    if (this.socket && this.socket.readyState <= WebSocket.OPEN) this.socket.close(1000);
  }
}

// How long a room ran, as rooms_tags.duration says it.
function durationLabel(seconds) {
  const minutes = Math.floor(seconds / 60);
  if (minutes < 1) return gettext("less than a minute");
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (!hours) return interpolate(gettext("%(minutes)s min"), { minutes: rest }, true);
  return rest ? interpolate(gettext("%(hours)s h %(minutes)s min"), { hours, minutes: rest }, true) : interpolate(gettext("%(hours)s h"), { hours }, true);
}

function readSession(key) {
  try {
    return window.sessionStorage.getItem(key) !== null;
  } catch {
    return false;
  }
}

function readCaptionsHidden() {
  try {
    return localStorage.getItem(CAPTIONS_HIDDEN_KEY) === "1";
  } catch {
    return false;
  }
}

function writeSession(key) {
  try {
    window.sessionStorage.setItem(key, "1");
  } catch {
    // Storage refused (private mode): the hint just comes back after a reload.
  }
}

function button(text, testid, onclick, { cls = "", label = null, icon: name = null, keys = null } = {}) {
  return h("button", { type: "button", class: cls, "data-testid": testid, "aria-label": label, "aria-keyshortcuts": keys, onclick }, name && icon(name), text);
}

function reactionImage(emoji) {
  const src = REACTION_IMAGES.get(emoji);
  return src ? h("img", { class: "emoji", src, alt: "", width: 28, height: 28, draggable: "false" }) : emoji;
}

function avatar(p, size) {
  if (p.avatar) return h("img", { class: "avatar", src: p.avatar, width: size, height: size, alt: "" });
  const initial = h("span", { class: "avatar avatar-initial", "aria-hidden": "true", text: (p.name || "?").charAt(0).toUpperCase() });
  initial.style.width = initial.style.height = `${size}px`;
  initial.style.fontSize = `${Math.round(size / 2.4)}px`;
  initial.dataset.hue = `${p.user_id % 6}`;
  return initial;
}

function updatePerson(el, p, profileUrl) {
  const link = el.querySelector(".member-name");
  link.textContent = p.name;
  if (p.handle) link.href = profileUrl.replace("__handle__", encodeURIComponent(p.handle));
  const handle = el.querySelector(".member-handle");
  if (handle) handle.textContent = p.handle ? `@${p.handle}` : "";
}

// Update `list` to show `items` in order, reusing each person's element so that an open menu,
// focus and a floating reaction survive the update.
function syncList(list, items, build, update) {
  const existing = new Map();
  for (const child of list.children) existing.set(child.dataset.userId, child);
  items.forEach((item, index) => {
    const key = String(item.user_id);
    let el = existing.get(key);
    existing.delete(key);
    if (!el) el = build(item);
    update(el, item);
    if (list.children[index] !== el) list.insertBefore(el, list.children[index] || null);
  });
  existing.forEach((el) => el.remove());
}

const root = document.getElementById("live-room");
if (root && root.querySelector("[data-live-shell]") && !root.querySelector("[data-join-refusal]")) {
  new LiveRoom(root).connect();
}
