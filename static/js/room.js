// The live room page: one websocket to /ws/rooms/<id>/ speaking the protocol of spaces_project/protocol.
// The server is the source of truth: every change is rendered from a server event, never guessed,
// except the listener count between two `room.listeners` broadcasts (see moveBetweenLists).
//
// LiveRoom is one class; its methods live by domain in static/js/room/ (connection, events, stage,
// controls, reactions, qa, captions, lifecycle), each a class whose methods includeMethods copies
// onto LiveRoom. This module makes the room and starts it.

import { RoomAudio } from "./audio.js";
import { Announcer, ReactionTally } from "./room-a11y.js";
import { includeMethods } from "./include-methods.js";
import { roomMediaSession } from "./media-session.js";
import { gettext, ngettext, interpolate } from "./i18n.js";
import { RoomCaptions, CAPTIONS_HIDDEN_KEY, readCaptionsHidden } from "./room/captions.js";
import { RoomConnection } from "./room/connection.js";
import { RoomControls, readSession } from "./room/controls.js";
import { RoomEvents } from "./room/events.js";
import { RoomLifecycle } from "./room/lifecycle.js";
import { MAX_QUESTION_CHARS } from "./room/protocol.js";
import { RoomQa } from "./room/qa.js";
import { REACTIONS, REACTION_NAMES, RoomReactions } from "./room/reactions.js";
import { RoomStage } from "./room/stage.js";

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
}
includeMethods(
  LiveRoom, RoomConnection, RoomEvents, RoomStage, RoomControls, RoomReactions, RoomQa, RoomCaptions, RoomLifecycle,
);

const root = document.getElementById("live-room");
if (root && root.querySelector("[data-live-shell]") && !root.querySelector("[data-join-refusal]")) {
  new LiveRoom(root).connect();
}
