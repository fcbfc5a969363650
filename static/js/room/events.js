// Events from the server: each updates the page's state (the server's, never guessed) and renders
// what changed. The exception is the listener count between two `room.listeners` broadcasts
// (moveBetweenLists).
import { SAY } from "../room-a11y.js";
import { gettext, interpolate } from "../i18n.js";
import { ROLE_LABELS, ROLE_ORDER, isModerator, onStage } from "./protocol.js";

// LiveRoom's methods for the server's events (static/js/room.js puts them on LiveRoom).
export class RoomEvents {
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

  participantLeft(userId) {
    const s = this.state;
    s.stage = s.stage.filter((m) => m.user_id !== userId);
    const count = s.listeners.length;
    s.listeners = s.listeners.filter((m) => m.user_id !== userId);
    if (s.listeners.length < count) s.listener_count = Math.max(0, s.listener_count - 1);
    s.hands = s.hands.filter((id) => id !== userId);
    this.renderAll();
  }
}
