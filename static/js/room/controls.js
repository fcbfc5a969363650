// The control bar (mic, hand, leave, end) and what it leads to: the microphone following the
// server, the keyboard shortcuts, confirmations, the invitation to speak and the toasts.
import { SAY, installShortcuts, showModalFrom } from "../room-a11y.js";
import { gettext, interpolate } from "../i18n.js";
import { button, h, icon } from "./elements.js";
import { onStage } from "./protocol.js";

const TOAST_SHOWN_MS = 5000;
const UNMUTE_ANSWER_MS = 5000;

// LiveRoom's methods for its controls (static/js/room.js puts them on LiveRoom).
export class RoomControls {
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

  noteUnmuted(you) {
    if (this.everUnmuted || !you || you.muted || !onStage(you)) return;
    this.everUnmuted = true;
    writeSession(this.unmutedKey);
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
}

export function readSession(key) {
  try {
    return window.sessionStorage.getItem(key) !== null;
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
