// The room's websocket: connecting, what a close means, reconnecting (the schedule is reconnect.js's),
// and sending.
import { SETTLED_MS, reconnectDelay } from "../reconnect.js";
import { gettext } from "../i18n.js";
import {
  CLOSE_ENDED, CLOSE_NOT_LIVE, CLOSE_REASONS, CLOSE_SIGN_IN_REQUIRED, FINAL_CLOSE_CODES, onStage,
} from "./protocol.js";

// A socket that closes this soon after the page was resumed from a freeze was closed by the
// browser for the freeze: the page reconnects at once. Other drops: reconnect.js.
const RESUME_CLOSE_MS = 2000;

// LiveRoom's methods for its socket (static/js/room.js puts them on LiveRoom).
export class RoomConnection {
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
}
