// Where the room is in its life (scheduled, backstage, live, ended, cancelled), and the end of the
// room or of being in it.
import { SAY } from "../room-a11y.js";
import { waitForReplay } from "../replay-wait.js";
import { showStatus } from "../room-status.js";
import { gettext, interpolate, pageLanguage } from "../i18n.js";
import { h } from "./elements.js";

// LiveRoom's methods for the room's status and end (static/js/room.js puts them on LiveRoom).
export class RoomLifecycle {
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
