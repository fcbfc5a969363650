// HLS: the mass audience's route (docs/hls.md), and a listener's page in the background whose browser
// suspended Web Audio, played by hls-player.js in an <audio> element.
import { HlsPlayer, canPlayHls } from "../hls-player.js";
import { gettext } from "../i18n.js";
import { cannot } from "./messages.js";

// RoomAudio's methods for HLS (static/js/audio.js puts them on RoomAudio).
export class AudioHls {
  // In the background a phone may suspend Web Audio ("suspended", or Safari's "interrupted") while
  // it lets a media element play on: a listener then hears the room's HLS through the element
  // until the page is in front again. The stage stays on the socket (they are heard live, and
  // their microphone needs the page anyway); so does a listener who paused the room.
  visibilityChanged() {
    if (this.closed || !this.context) return;
    const hidden = document.visibilityState === "hidden";
    if (hidden && !this.background) {
      const suspended = this.context.state === "suspended" || this.context.state === "interrupted";
      if (!suspended || !this.everRan || this.paused || this.stage.onStage || this.route !== "websocket") return;
      if (this.request("audio.background", { on: true })) this.background = true;
    } else if (!hidden && this.background) {
      this.background = false;
      // What the play-out held when Web Audio stopped is seconds old: start from the live edge.
      if (this.playout) this.restartStream();
      this.request("audio.background", { on: false });
      this.resume();
    }
  }

  // The server's answer to audio.background: the room's playlist, played by the room's own
  // element (a browser lets an element it played once play again without a new gesture).
  startBackgroundHls(playlist) {
    const element = this.element;
    if (!element || !canPlayHls(element)) return;
    element.srcObject = null;
    if (new URL(playlist, location.href).origin !== location.origin) element.crossOrigin = "anonymous";
    const player = new HlsPlayer(element, playlist, { onExpired: () => this.onHlsExpired?.() });
    this.hls = { player, element, source: null, background: true };
    player.start();
    if (!this.paused) player.resume();
  }

  // The server's room.audio_route: "hls" with a playlist URL, or "websocket".
  async setRoute({ mode, playlist }) {
    this.route = mode;
    if (mode !== "hls") {
      this.stopHls();
      return;
    }
    if (this.hls) {
      this.hls.player.setUrl(playlist); // a fresh signed URL: the same stream
      return;
    }
    if (this.background) {
      this.startBackgroundHls(playlist);
      return;
    }
    const element = document.createElement("audio");
    element.dataset.testid = "hls-audio";
    element.hidden = true;
    if (!canPlayHls(element)) {
      this.setMessage("listen", cannot(gettext("Listening to this large room"), [gettext("HLS (Media Source Extensions with Opus)")]));
      return;
    }
    if (new URL(playlist, location.href).origin !== location.origin) element.crossOrigin = "anonymous";
    this.area.append(element);
    const player = new HlsPlayer(element, playlist, { onExpired: () => this.onHlsExpired?.() });
    this.hls = { player, element, source: null };
    this.el.hlsNote.hidden = false;
    // Through the page's own graph (the analyser), like websocket audio; straight out if that failed.
    if (await this.ready) {
      if (this.hls?.player !== player) return;
      this.hls.source = this.context.createMediaElementSource(element);
      this.hls.source.connect(this.analyser);
    }
    player.start();
  }

  // A fresh signed URL of the same stream (room.hls_url); `expires`: Unix seconds.
  renewHls(playlist, expires) {
    this.hls?.player.setUrl(playlist, expires);
  }

  stopHls() {
    const hls = this.hls;
    this.hls = null;
    if (!hls) return;
    hls.player.close();
    if (hls.background) {
      // The room's own element: back to the room's stream. (Still in the background, as after a
      // new socket, whose route starts on the websocket: ask again.)
      hls.element.srcObject = this.output.stream;
      this.playElement();
      this.background = false;
      this.visibilityChanged();
      return;
    }
    hls.source?.disconnect();
    hls.element.remove();
    this.el.hlsNote.hidden = true;
  }
}
