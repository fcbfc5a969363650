// Live audio for the room page: the speaker's microphone up, the room's mix down, over the room's
// websocket in the binary format of rooms/audio/wire.py. docs/audio.md has the design and its reasons.
//
// Up: getUserMedia -> MediaStreamTrackProcessor (or capture-worklet.js) -> 20 ms frames at 48 kHz
//     -> WebCodecs AudioEncoder (Opus) -> one uplink frame per packet, sent only while the server
//     says this person is on stage and unmuted.
// Down: bundles -> WebCodecs AudioDecoder -> playout-worklet.js (the adaptive jitter buffer)
//     -> AnalyserNode -> a MediaStreamAudioDestinationNode -> an <audio> element -> the speakers,
//     so that the system treats the room as media (it keeps playing with the screen locked, and
//     the Media Session, static/js/media-session.js, gives it a title and lock-screen controls);
//     or, for a speaker whose browser cannot cancel echo from any output ("all"), through a
//     loopback RTCPeerConnection into an <audio> element, the only playback Chrome's echo
//     canceller hears.
// A page the browser froze (a phone's background tab) comes back at the live edge: what queued
//     on the socket meanwhile is dropped, not played late (catchUp).
// A listener's page in the background whose browser suspended Web Audio (a locked iPhone) asks
//     the server for the room's HLS (audio.background) and plays it in the same media element,
//     with no Web Audio at all; back in front it returns to the socket's audio at the live edge.
//
// Mass audience (docs/hls.md): a listener the server routes to HLS gets no bundles; the page plays
//     the room's playlist with hls-player.js in an <audio> element -> MediaElementSource
//     -> the same AnalyserNode -> the speakers, a few seconds late.
//
// window.spacesAudio exposes the analyser, counters and marks, for people debugging and for tests.
//
// RoomAudio is one class; its methods live by domain in static/js/audio/ (playback and the jitter
// buffer's feed, capture, echo, hls), each a class whose methods includeMethods copies onto
// RoomAudio, with the wire format (wire.js), the frames (frames.js) and the messages (messages.js).

import { includeMethods } from "./include-methods.js";
import { gettext } from "./i18n.js";
import { AudioCapture, musicMode } from "./audio/capture.js";
import { AudioEcho } from "./audio/echo.js";
import { AudioHls } from "./audio/hls.js";
import { cannot, listeningGaps } from "./audio/messages.js";
import { AudioPlayback } from "./audio/playback.js";

export class RoomAudio {
  // area: the page's audio area ([data-listen] button, [data-audio-status], [data-headphones]).
  // send(ArrayBuffer, maxBacklog): put an uplink frame on the room socket; false if it could not.
  // request(type, fields): send a message on the room socket (spaces_project/protocol/).
  // onMicLost(): the microphone stopped by itself (unplugged, revoked): tell the room you're muted.
  constructor({ area, send, request = () => false, onMicLost }) {
    this.area = area;
    this.send = send;
    this.request = request;
    this.onMicLost = onMicLost;
    this.el = {
      listen: area.querySelector("[data-listen]"),
      status: area.querySelector("[data-audio-status]"),
      headphones: area.querySelector("[data-headphones]"),
      music: area.querySelector("[data-music-mode]"),
      hlsNote: area.querySelector("[data-hls-note]"),
    };
    this.hls = null; // {player, element, source} while this page hears the room over HLS
    this.route = "websocket";
    this.onHlsExpired = null;
    this.onPlayingChange = null; // (playing: bool) for the Media Session's playbackState
    this.output = null; // the MediaStreamAudioDestinationNode the room plays into
    this.element = null; // the <audio> element that plays it
    this.paused = false; // this person muted the room for themself (the Media Session's pause)
    this.catchingUp = null; // {held: [ArrayBuffer, arrival], timer} while a freeze's backlog arrives
    this.background = false; // hearing the room over HLS while the browser suspends Web Audio
    this.everRan = false; // the audio context ran once (a gesture let it)
    this.el.listen.addEventListener("click", () => this.play());
    if (this.el.music) {
      const box = this.el.music.querySelector("input");
      box.checked = musicMode();
      box.addEventListener("change", () => this.setMusicMode(box.checked));
    }
    this.context = null;
    this.playout = null;
    this.analyser = null;
    this.decoder = null;
    this.decodeQueue = []; // frames in play order: {pcm, gap, silent, bundle, pending}
    this.early = []; // [ArrayBuffer, arrival time]
    this.expectedSequence = null;
    this.arrivals = []; // [arrival time, arrival - the bundle's end on the mixer's clock], both ms
    this.downResampler = null;
    this.capture = null;
    this.starting = null;
    this.sequence = Math.floor(Math.random() * 0x7fffffff);
    this.stage = { onStage: false, muted: true };
    this.loopback = null;
    this.echoMode = "none"; // "all" | "loopback" | "none": how echo is kept out of the speaker's voice
    this.closed = false;
    this.stats = {
      bundles: 0,
      malformed: 0,
      frames: 0,
      silent_frames: 0,
      decode_errors: 0,
      dropped_decodes: 0,
      sent: 0,
      unsent: 0,
      encode_errors: 0,
      last_bundle_delay_ms: null, // from the oldest voice's capture to this page
      jitter_ms: null, // the spread of bundle arrival times lately
      capture_to_send_ms: null,
      capture_skipped: 0,
      read_lag_ms: null,
      freezes: 0, // the browser froze the page (the Page Lifecycle's "freeze")
      catch_ups: 0, // the page came back from a freeze ("resume")
      stale_bundles: 0, // bundles that queued meanwhile, dropped unplayed
    };
    this.marks = { snapshot: null, firstBundle: null, firstAudio: null, frozen: null, resumed: null };
    this.playoutStats = null;
    this.messages = { listen: "", speak: "" };
    window.spacesAudio = this;

    const missing = listeningGaps();
    if (missing.length) {
      this.setMessage("listen", cannot(gettext("Listening to live audio"), missing));
      this.ready = Promise.resolve(false);
    } else {
      this.ready = this.startPlayback().catch((error) => {
        console.error("live audio: playback could not start", error);
        this.setMessage("listen", gettext("Live audio could not start in this browser."));
        return false;
      });
    }
    // Any interaction may unlock audio the browser held back for want of a gesture.
    const unlock = () => this.resume();
    document.addEventListener("pointerdown", unlock, { capture: true });
    document.addEventListener("keydown", unlock, { capture: true });
    // The Page Lifecycle API: a phone's browser freezes a background page (no script runs, the
    // socket's messages wait) and resumes it later.
    document.addEventListener("freeze", () => this.frozen());
    document.addEventListener("resume", () => this.catchUp());
    document.addEventListener("visibilitychange", () => this.visibilityChanged());
  }

  setMessage(kind, text) {
    this.messages[kind] = text;
    const shown = [this.messages.listen, this.messages.speak].filter(Boolean).join(" ");
    this.el.status.textContent = shown;
    this.el.status.hidden = !shown;
  }

  close() {
    if (this.closed) return;
    this.stopHls();
    this.stopMic();
    this.closeLoopback();
    this.closed = true;
    clearTimeout(this.catchingUp?.timer);
    if (this.decoder && this.decoder.state !== "closed") this.decoder.close();
    this.context?.close();
    if (this.element) {
      this.element.pause();
      this.element.srcObject = null;
    }
    this.onPlayingChange?.(false);
    this.el.listen.hidden = true;
    this.el.headphones.hidden = true;
    if (this.el.music) this.el.music.hidden = true;
  }
}
includeMethods(RoomAudio, AudioPlayback, AudioHls, AudioCapture, AudioEcho);

export { MESSAGES as AUDIO_MESSAGES } from "./audio/messages.js";
export { encodeUplink, parseBundle } from "./audio/wire.js";
