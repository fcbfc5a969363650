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

import { HlsPlayer, canPlayHls } from "./hls-player.js";
import { gettext, ngettext, interpolate } from "./i18n.js";

// The wire format's constants are kept in step with rooms/audio/wire.py
// (tests/browser/test_room_js_in_step.py checks them, and the offsets read and written below).
const SAMPLE_RATE = 48_000;
const FRAME_SAMPLES = 960; // 20 ms
const FRAME_S = FRAME_SAMPLES / SAMPLE_RATE;
const UPLINK = 0x01;
const DOWNLINK = 0x02;
const FLAG_MIX_MINUS = 0x01;
const UPLINK_HEADER_BYTES = 13;
const DOWNLINK_HEADER_BYTES = 23;
const MAX_OPUS_PACKET = 1275;
// A new capture jumps the sequence by more than the server's resync threshold (50 frames), so the
// mixer starts a fresh decoder for the new encoder instead of decoding it against the old state.
const SEQUENCE_JUMP_ON_RESTART = 1000;
// Past this much unsent data the network is not keeping up: drop frames rather than queue delay.
const MAX_SOCKET_BACKLOG = 32 * 1024;
const MAX_ENCODE_QUEUE = 10;
const MAX_CAPTURE_LAG_MS = 60;
const MAX_DECODE_QUEUE = 50;
// Bundles that arrive before the play-out worklet is loaded; older ones are stale anyway.
const MAX_EARLY_BUNDLES = 8;
// How late bundles arrive is judged over this much recent history (playout-worklet.js keeps that
// much slack). One stall is remembered this long, then forgotten.
const JITTER_MEMORY_MS = 10_000;
// After a freeze, the bundles that queued on the socket arrive back to back; the burst is over when
// none came for this long (live bundles come every 60-200 ms), and only the newest is played.
const CATCH_UP_QUIET_MS = 100;

const ENCODER_CONFIG = {
  codec: "opus",
  sampleRate: SAMPLE_RATE,
  numberOfChannels: 1,
  bitrate: 32_000,
  // DTX off: browsers' Opus DTX turns a steady voice or tone into comfort noise after about a
  // second, and the mixer's own gate already makes silence cost nothing downstream.
  opus: { frameDuration: 20_000, useinbandfec: true, usedtx: false },
};
const DECODER_CONFIG = { codec: "opus", sampleRate: SAMPLE_RATE, numberOfChannels: 1 };
const MIC_CONSTRAINTS = { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 };
// Music mode (as in Clubhouse): a steady note or an instrument is what noise suppression and
// automatic gain take out first, so a speaker who plays music turns both off. Kept per browser.
const MUSIC_MODE_KEY = "spaces:music-mode";

function musicMode() {
  try {
    return window.localStorage.getItem(MUSIC_MODE_KEY) === "on";
  } catch {
    return false;
  }
}

function micConstraints() {
  const music = musicMode();
  return { ...MIC_CONSTRAINTS, noiseSuppression: !music, autoGainControl: !music };
}

const MESSAGES = {
  micRefused: gettext("Microphone access was refused. Allow the microphone for this site in your browser's settings, then unmute again."),
  micMissing: gettext("No microphone was found. Connect one, then unmute again."),
  micBusy: gettext("Your microphone could not be started: another app may be using it."),
  micFailed: gettext("Your microphone could not be started."),
  micLost: gettext("Your microphone stopped. Unmute again to speak."),
  insecure: gettext("Speaking needs a secure (https) connection to this site."),
};

// -- the wire format (rooms/audio/wire.py) ---------------------------------------------------------

export function encodeUplink(sequence, capturedMs, packet) {
  const frame = new Uint8Array(UPLINK_HEADER_BYTES + packet.byteLength);
  const view = new DataView(frame.buffer);
  view.setUint8(0, UPLINK);
  view.setUint32(1, sequence >>> 0);
  view.setFloat64(5, capturedMs);
  frame.set(packet, UPLINK_HEADER_BYTES);
  return frame.buffer;
}

export function parseBundle(buffer) {
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength < DOWNLINK_HEADER_BYTES) return null;
  const view = new DataView(buffer);
  const count = view.getUint8(22);
  if (view.getUint8(0) !== DOWNLINK || count < 1) return null;
  const packets = [];
  let offset = DOWNLINK_HEADER_BYTES;
  for (let i = 0; i < count; i += 1) {
    if (offset + 2 > buffer.byteLength) return null;
    const length = view.getUint16(offset);
    offset += 2;
    if (offset + length > buffer.byteLength) return null;
    packets.push(new Uint8Array(buffer, offset, length));
    offset += length;
  }
  return {
    mixMinus: (view.getUint8(1) & FLAG_MIX_MINUS) !== 0,
    sequence: view.getUint32(2),
    mixedMs: view.getFloat64(6),
    oldestCaptureMs: view.getFloat64(14),
    packets,
  };
}

// -- what this browser can do ----------------------------------------------------------------------

function listeningGaps() {
  const missing = [];
  if (!window.AudioContext) missing.push(gettext("Web Audio"));
  else if (!window.AudioWorkletNode) missing.push("AudioWorklet");
  if (!window.AudioDecoder) missing.push(gettext("WebCodecs audio decoding (AudioDecoder)"));
  return missing;
}

function speakingGaps() {
  const missing = [];
  if (!window.AudioEncoder) missing.push(gettext("WebCodecs audio encoding (AudioEncoder)"));
  if (!window.MediaStreamTrackProcessor && !window.AudioWorkletNode) missing.push("AudioWorklet");
  return missing;
}

function cannot(what, missing) {
  return interpolate(gettext("%(what)s doesn't work in this browser: it lacks %(missing)s. Try a recent Chrome, Edge, Firefox or Safari."), { what, missing: missing.join(gettext(" and ")) }, true);
}

// -- sample-rate conversion --------------------------------------------------------------------------

// Linear interpolation, carried across calls. Good enough for speech between 44.1 and 48 kHz, and
// only used when the microphone or the output does not run at 48 kHz already.
class Resampler {
  constructor(from, to) {
    this.step = from / to;
    this.position = 0; // in input samples, relative to the start of the next input chunk
    this.last = 0; // the previous chunk's last sample
  }

  process(input) {
    if (this.step === 1) return input;
    const count = Math.max(0, Math.ceil((input.length - this.position) / this.step));
    const output = new Float32Array(count);
    let position = this.position;
    for (let i = 0; i < count; i += 1) {
      const index = Math.floor(position);
      const fraction = position - index;
      const a = index - 1 < 0 ? this.last : input[index - 1];
      const b = input[index] ?? input[input.length - 1];
      output[i] = a + (b - a) * fraction;
      position += this.step;
    }
    this.position = position - input.length;
    this.last = input[input.length - 1] ?? this.last;
    return output;
  }
}

// Cut captured audio (any rate, any chunk size) into 20 ms frames at 48 kHz, each with the
// capture time of its first sample (ms since the epoch).
class FrameCollector {
  constructor(onFrame) {
    this.onFrame = onFrame;
    this.rate = 0;
    this.resampler = null;
    this.frame = new Float32Array(FRAME_SAMPLES);
    this.filled = 0;
    this.frameStartMs = 0;
  }

  push(pcm, rate, startMs) {
    if (rate !== this.rate) {
      this.rate = rate;
      this.resampler = new Resampler(rate, SAMPLE_RATE);
    }
    const samples = this.resampler.process(pcm);
    let offset = 0;
    while (offset < samples.length) {
      if (this.filled === 0) this.frameStartMs = startMs + (offset / SAMPLE_RATE) * 1000;
      const take = Math.min(samples.length - offset, FRAME_SAMPLES - this.filled);
      this.frame.set(samples.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === FRAME_SAMPLES) {
        this.onFrame(this.frame, this.frameStartMs);
        this.frame = new Float32Array(FRAME_SAMPLES);
        this.filled = 0;
      }
    }
  }
}

// -- the room's audio ------------------------------------------------------------------------------

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

  // -- playback --------------------------------------------------------------------------------

  async startPlayback() {
    if (!(await AudioDecoder.isConfigSupported(DECODER_CONFIG)).supported) {
      this.setMessage("listen", cannot(gettext("Listening to live audio"), [gettext("an Opus decoder for WebCodecs")]));
      return false;
    }
    try {
      this.context = new AudioContext({ sampleRate: SAMPLE_RATE, latencyHint: "interactive" });
    } catch {
      this.context = new AudioContext({ latencyHint: "interactive" });
    }
    const context = this.context;
    await context.audioWorklet.addModule(new URL("playout-worklet.js", import.meta.url));
    await context.audioWorklet.addModule(new URL("capture-worklet.js", import.meta.url));
    this.playout = new AudioWorkletNode(context, "spaces-playout", {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [1],
    });
    this.playout.port.onmessage = (event) => {
      if (event.data.stats) this.playoutStats = event.data.stats;
    };
    this.analyser = context.createAnalyser();
    this.analyser.fftSize = 2048;
    this.analyser.smoothingTimeConstant = 0.2;
    this.playout.connect(this.analyser);
    // Out through a media element rather than context.destination: a phone keeps media elements
    // playing with the screen locked and shows their Media Session; a bare AudioContext gets
    // neither. The analyser stays the last node before it, where the page (and the tests) listen.
    this.output = context.createMediaStreamDestination();
    this.analyser.connect(this.output);
    this.element = document.createElement("audio");
    this.element.dataset.testid = "room-audio";
    this.element.hidden = true;
    this.element.srcObject = this.output.stream;
    this.element.addEventListener("play", () => this.playingChanged());
    this.element.addEventListener("pause", () => this.playingChanged());
    this.area.append(this.element);
    this.playElement();
    if (context.sampleRate !== SAMPLE_RATE) this.downResampler = new Resampler(SAMPLE_RATE, context.sampleRate);
    context.addEventListener("statechange", () => {
      if (context.state === "running") this.everRan = true;
      this.showListenButton();
      this.visibilityChanged();
    });
    this.everRan = context.state === "running";
    this.showListenButton();
    const early = this.early;
    this.early = [];
    early.forEach(([buffer, arrivedMs]) => this.receive(buffer, arrivedMs));
    return true;
  }

  showListenButton() {
    if (this.closed || !this.context) return;
    const blocked = this.context.state === "suspended" || this.loopback?.blocked || this.element?.paused;
    this.el.listen.hidden = !blocked;
  }

  // The room's element plays unless this person paused it; a browser that wants a gesture first
  // shows the "Tap to listen" button until there is one.
  playElement() {
    const element = this.element;
    if (!element || this.paused || this.closed || !element.paused) return;
    element.play().then(
      () => this.showListenButton(),
      () => this.showListenButton(),
    );
  }

  playingChanged() {
    this.showListenButton();
    this.onPlayingChange?.(this.playing);
  }

  get playing() {
    return Boolean(this.element && !this.element.paused && !this.paused);
  }

  // Mute the room for this person only (the Media Session's "pause"): they stay in the room, seen
  // by everyone, and play() brings them back to the live edge.
  pause() {
    if (this.closed) return;
    this.paused = true;
    this.element?.pause();
    this.loopback?.element?.pause();
    this.playingChanged();
  }

  // Paused, the room went on playing into the silent stream (and an HLS element into it), so the
  // element starts again at the live edge.
  play() {
    if (this.closed) return;
    this.paused = false;
    this.resume();
  }

  // The last thing the page does before the browser stops its scripts: note when. (The socket stays
  // open; what arrives meanwhile waits for resume.)
  frozen() {
    this.stats.freezes += 1;
    this.marks.frozen = performance.now();
  }

  // Back from a freeze: forget what was buffered before it, and of what queued on the socket
  // meanwhile play only the newest bundle (receive() holds the burst until it is over). A browser
  // pauses a frozen page's media element: play it again (it played before, so no gesture is needed).
  catchUp() {
    this.marks.resumed = performance.now();
    if (this.closed || !this.playout) return;
    this.stats.catch_ups += 1;
    this.restartStream();
    clearTimeout(this.catchingUp?.timer);
    this.catchingUp = { held: null, timer: setTimeout(() => this.caughtUp(), CATCH_UP_QUIET_MS) };
    this.hls?.player.toLiveEdge();
    this.resume();
  }

  caughtUp() {
    const held = this.catchingUp?.held;
    this.catchingUp = null;
    if (held) this.receive(...held);
  }

  // Start the stream afresh: nothing buffered, nothing being decoded, no jitter history.
  restartStream() {
    this.playout.port.postMessage({ reset: true });
    if (this.decoder && this.decoder.state !== "closed") this.decoder.close();
    this.decoder = null;
    this.decodeQueue = [];
    this.expectedSequence = null;
    this.arrivals = [];
  }

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

  // Browsers start audio only after a gesture: this is called from the "Tap to listen" button and
  // from any click or key on the page.
  resume() {
    if (this.closed || !this.context) return;
    if (this.context.state === "suspended") this.context.resume().then(() => this.showListenButton());
    this.playElement();
    this.hls?.player.resume();
    const loopback = this.loopback;
    if (loopback?.element?.srcObject && loopback.element.paused && !this.paused) {
      loopback.element.play().then(
        () => {
          loopback.blocked = false;
          this.showListenButton();
        },
        () => {},
      );
    }
  }

  // -- HLS, for the mass audience --------------------------------------------------------------

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

  markSnapshot() {
    this.marks.snapshot ??= performance.now();
    // A fresh socket: whatever comes next does not continue what came before.
    this.expectedSequence = null;
  }

  // A binary frame from the room socket (that arrived at `arrivedMs`, if it waited).
  receive(buffer, arrivedMs = performance.now()) {
    if (this.closed) return;
    if (this.catchingUp) {
      if (this.catchingUp.held) this.stats.stale_bundles += 1;
      this.catchingUp.held = [buffer, arrivedMs];
      clearTimeout(this.catchingUp.timer);
      this.catchingUp.timer = setTimeout(() => this.caughtUp(), CATCH_UP_QUIET_MS);
      return;
    }
    if (!this.playout) {
      this.early.push([buffer, arrivedMs]);
      if (this.early.length > MAX_EARLY_BUNDLES) this.early.shift();
      return;
    }
    const bundle = parseBundle(buffer);
    if (bundle === null) {
      this.stats.malformed += 1;
      return;
    }
    this.stats.bundles += 1;
    this.marks.firstBundle ??= performance.now();
    if (bundle.oldestCaptureMs > 0) this.stats.last_bundle_delay_ms = Date.now() - bundle.oldestCaptureMs;
    // The server sends nothing while the room is silent, so a jump in the sequence is a pause of
    // that length; a jump backwards is a new mixer (it took the room over): start afresh.
    let gap = -1;
    if (this.expectedSequence !== null) {
      const ahead = (bundle.sequence - this.expectedSequence) >>> 0;
      if (ahead < 0x80000000) gap = ahead * FRAME_S;
    }
    this.expectedSequence = (bundle.sequence + bundle.packets.length) >>> 0;
    const seconds = bundle.packets.length * FRAME_S;
    const fresh = gap === -1 || gap * 1000 > JITTER_MEMORY_MS;
    const info = { seconds, jitter: this.jitter(arrivedMs, bundle.sequence + bundle.packets.length, fresh) };
    bundle.packets.forEach((packet, index) =>
      this.queueFrame(packet, bundle.sequence + index, index === 0 ? gap : 0, index === 0 ? info : null),
    );
    this.drain();
  }

  // The spread of arrival times over the last JITTER_MEMORY_MS, in seconds: each bundle is due when
  // its last frame has been mixed (sequence x 20 ms on the mixer's clock, whatever the offset
  // between that clock and ours); how much later than the earliest one each arrives is its jitter.
  jitter(arrivedMs, endSequence, fresh) {
    if (fresh) this.arrivals = [];
    const offset = arrivedMs - endSequence * FRAME_S * 1000;
    this.arrivals.push([arrivedMs, offset]);
    while (this.arrivals[0][0] < arrivedMs - JITTER_MEMORY_MS) this.arrivals.shift();
    let earliest = Infinity;
    let latest = -Infinity;
    for (const [, each] of this.arrivals) {
      earliest = Math.min(earliest, each);
      latest = Math.max(latest, each);
    }
    this.stats.jitter_ms = latest - earliest;
    return (latest - earliest) / 1000;
  }

  queueFrame(packet, sequence, gap, bundle) {
    this.stats.frames += 1;
    if (packet.byteLength === 0) {
      // "No packet": the mix was silent here.
      this.stats.silent_frames += 1;
      this.decodeQueue.push({ pcm: new Float32Array(FRAME_SAMPLES), gap, silent: true, bundle, pending: false });
      return;
    }
    const decoder = this.getDecoder();
    if (decoder === null || decoder.decodeQueueSize > MAX_DECODE_QUEUE) {
      this.stats.dropped_decodes += 1;
      this.decodeQueue.push({ pcm: new Float32Array(FRAME_SAMPLES), gap, silent: false, bundle, pending: false });
      return;
    }
    this.decodeQueue.push({ pcm: null, gap, silent: false, bundle, pending: true });
    try {
      decoder.decode(new EncodedAudioChunk({ type: "key", timestamp: (sequence >>> 0) * 20_000, data: packet }));
    } catch (error) {
      this.decoderFailed(error);
    }
  }

  getDecoder() {
    if (this.decoder && this.decoder.state === "configured") return this.decoder;
    try {
      this.decoder = new AudioDecoder({
        output: (data) => this.decoded(data),
        error: (error) => this.decoderFailed(error),
      });
      this.decoder.configure(DECODER_CONFIG);
    } catch (error) {
      console.error("live audio: no decoder", error);
      this.decoder = null;
    }
    return this.decoder;
  }

  decoded(data) {
    const pcm = new Float32Array(data.numberOfFrames);
    data.copyTo(pcm, { planeIndex: 0, format: "f32-planar" });
    data.close();
    const entry = this.decodeQueue.find((e) => e.pending);
    if (entry) {
      entry.pcm = pcm;
      entry.pending = false;
      this.drain();
    }
  }

  decoderFailed(error) {
    this.stats.decode_errors += 1;
    console.warn("live audio: decoder error", error);
    // What it still owed is lost: play it as silence and start a new decoder with the next packet.
    for (const entry of this.decodeQueue) {
      if (entry.pending) {
        entry.pcm = new Float32Array(FRAME_SAMPLES);
        entry.pending = false;
      }
    }
    this.decoder = null;
    this.drain();
  }

  // Hand decoded frames to the play-out buffer in order.
  drain() {
    const queue = this.decodeQueue;
    let sent = 0;
    while (sent < queue.length && !queue[sent].pending) {
      const { gap, silent, bundle } = queue[sent];
      let pcm = queue[sent].pcm;
      if (this.downResampler) pcm = this.downResampler.process(pcm);
      if (this.marks.firstAudio === null && pcm.some((sample) => sample !== 0)) this.marks.firstAudio = performance.now();
      this.playout.port.postMessage({ pcm, gap, silent, bundle }, [pcm.buffer]);
      sent += 1;
    }
    if (sent) queue.splice(0, sent);
  }

  // -- speaking --------------------------------------------------------------------------------

  // Follow the server's view of this person. Frames go out only while it says "on stage,
  // unmuted"; the mic is released as soon as it says otherwise (a host muted you, moved you
  // back to the audience...). Returns a promise that is false if the mic should be on but
  // could not start, so the page can tell the server it is muted after all.
  async setStage({ onStage, muted }) {
    this.stage = { onStage, muted };
    this.el.headphones.hidden = !onStage;
    if (this.el.music) this.el.music.hidden = !onStage;
    if (!onStage) this.setMessage("speak", "");
    else {
      const missing = speakingGaps();
      if (missing.length) this.setMessage("speak", cannot(gettext("Speaking"), missing));
    }
    if (!onStage || muted) {
      this.stopMic();
      if (!onStage) this.setLoopback(false);
      return true;
    }
    if (this.capture || this.starting) return (await this.starting) ?? true;
    return this.startMic();
  }

  get sending() {
    return this.stage.onStage && !this.stage.muted && this.capture !== null;
  }

  // Start the microphone; show why not and return false if it cannot.
  startMic() {
    if (this.capture) return Promise.resolve(true);
    if (!this.starting) {
      this.starting = this.openMic().finally(() => {
        this.starting = null;
      });
    }
    return this.starting;
  }

  async openMic() {
    this.resume();
    const missing = speakingGaps();
    if (missing.length) {
      this.setMessage("speak", cannot(gettext("Speaking"), missing));
      return false;
    }
    if (!navigator.mediaDevices?.getUserMedia) {
      this.setMessage("speak", window.isSecureContext ? cannot(gettext("Speaking"), [gettext("microphone access")]) : MESSAGES.insecure);
      return false;
    }
    if (!(await AudioEncoder.isConfigSupported(ENCODER_CONFIG)).supported) {
      this.setMessage("speak", cannot(gettext("Speaking"), [gettext("an Opus encoder for WebCodecs")]));
      return false;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: micConstraints() });
    } catch (error) {
      this.setMessage("speak", micErrorMessage(error));
      return false;
    }
    const track = stream.getAudioTracks()[0];
    if (!track) {
      this.setMessage("speak", MESSAGES.micMissing);
      return false;
    }
    if (this.closed) {
      track.stop();
      return false;
    }
    // Chrome cancels echo only from audio that WebRTC plays, unless it offers "all" (any output).
    // Chromium 156 offers [true, false, "remote-only"], so the loopback below is what works today.
    const offered = track.getCapabilities?.().echoCancellation ?? [];
    this.echoMode = "loopback";
    if (Array.isArray(offered) && offered.includes("all")) {
      try {
        await track.applyConstraints({ ...micConstraints(), echoCancellation: "all" });
        if (track.getSettings().echoCancellation === "all") this.echoMode = "all";
      } catch {
        // keep the loopback
      }
    }
    this.setLoopback(this.echoMode === "loopback");

    const capture = { track, stream, encoder: null, stop: [], captureTimes: [] };
    capture.encoder = new AudioEncoder({
      output: (chunk) => this.encoded(capture, chunk),
      error: (error) => {
        this.stats.encode_errors += 1;
        console.error("live audio: encoder error", error);
        if (this.capture === capture) {
          this.stopMic();
          this.setMessage("speak", MESSAGES.micFailed);
          this.onMicLost?.();
        }
      },
    });
    capture.encoder.configure(ENCODER_CONFIG);
    const collector = new FrameCollector((frame, startMs) => this.encode(capture, frame, startMs));
    track.addEventListener("ended", () => {
      if (this.capture !== capture) return;
      this.stopMic();
      this.setMessage("speak", MESSAGES.micLost);
      this.onMicLost?.();
    });
    this.sequence = (this.sequence + SEQUENCE_JUMP_ON_RESTART) >>> 0;
    this.capture = capture;
    if (window.MediaStreamTrackProcessor) this.readTrack(capture, track, collector);
    else this.captureWithWorklet(capture, stream, collector);
    this.setMessage("speak", "");
    return true;
  }

  async readTrack(capture, track, collector) {
    const reader = new MediaStreamTrackProcessor({ track }).readable.getReader();
    // Chrome stamps AudioData on the performance.now() clock, so the lag is absolute; a browser
    // with another clock would show a constant offset, which minLag takes out.
    let minLag = Infinity;
    capture.stop.push(() => reader.cancel().catch(() => {}));
    try {
      while (this.capture === capture) {
        const { value, done } = await reader.read();
        if (done) break;
        // A page that was busy finds old audio queued: drop it rather than send it late forever.
        const lag = performance.now() - value.timestamp / 1000;
        minLag = Math.min(minLag, lag);
        this.stats.read_lag_ms = lag;
        if (lag - Math.max(0, minLag) > MAX_CAPTURE_LAG_MS) {
          value.close();
          this.stats.capture_skipped += 1;
          continue;
        }
        const pcm = new Float32Array(value.numberOfFrames);
        value.copyTo(pcm, { planeIndex: 0, format: "f32-planar" });
        // AudioData timestamps are microseconds on the performance.now() clock.
        collector.push(pcm, value.sampleRate, performance.timeOrigin + value.timestamp / 1000);
        value.close();
      }
    } catch (error) {
      if (this.capture === capture) console.error("live audio: capture failed", error);
    }
  }

  captureWithWorklet(capture, stream, collector) {
    const context = this.context;
    const source = context.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(context, "spaces-capture", { numberOfOutputs: 1 });
    const sink = context.createGain();
    sink.gain.value = 0; // the node must be pulled by the graph, but its output is not for hearing
    source.connect(node).connect(sink).connect(context.destination);
    node.port.onmessage = (event) => {
      const { pcm } = event.data;
      const startMs = performance.timeOrigin + performance.now() - (pcm.length / context.sampleRate) * 1000;
      collector.push(pcm, context.sampleRate, startMs);
    };
    capture.stop.push(() => {
      node.port.onmessage = null;
      source.disconnect();
      node.disconnect();
      sink.disconnect();
    });
  }

  encode(capture, frame, startMs) {
    const encoder = capture.encoder;
    if (this.capture !== capture || encoder.state !== "configured") return;
    if (!this.sending || encoder.encodeQueueSize > MAX_ENCODE_QUEUE) return;
    const data = new AudioData({
      format: "f32-planar",
      sampleRate: SAMPLE_RATE,
      numberOfFrames: FRAME_SAMPLES,
      numberOfChannels: 1,
      timestamp: Math.round((startMs - performance.timeOrigin) * 1000),
      data: frame,
    });
    encoder.encode(data);
    data.close();
    // Chrome stamps encoded chunks by counting from the first input, so after any frame that was
    // not encoded (muted, skipped) its timestamps lag behind; keep each frame's own capture time.
    capture.captureTimes.push(startMs);
  }

  encoded(capture, chunk) {
    const capturedMs = capture.captureTimes.shift() ?? performance.timeOrigin + chunk.timestamp / 1000;
    // Muting stops frames here at once, before the server has even heard of it.
    if (this.capture !== capture || !this.sending) return;
    if (chunk.byteLength === 0 || chunk.byteLength > MAX_OPUS_PACKET) return;
    const packet = new Uint8Array(chunk.byteLength);
    chunk.copyTo(packet);
    this.stats.capture_to_send_ms = performance.timeOrigin + performance.now() - capturedMs;
    this.sequence = (this.sequence + 1) >>> 0;
    if (this.send(encodeUplink(this.sequence, capturedMs, packet), MAX_SOCKET_BACKLOG)) this.stats.sent += 1;
    else this.stats.unsent += 1;
  }

  // Release the microphone: frames stop at once and the browser's mic indicator goes off.
  stopMic() {
    const capture = this.capture;
    if (!capture) return;
    this.capture = null;
    capture.stop.forEach((stop) => stop());
    capture.track.stop();
    if (capture.encoder.state !== "closed") capture.encoder.close();
  }

  // -- echo: play through WebRTC so Chrome's echo canceller hears it ------------------------------

  setLoopback(on) {
    if (!this.context || !this.analyser) return;
    if (on && !this.loopback) {
      this.loopback = { ready: false };
      this.openLoopback(this.loopback).catch((error) => {
        console.warn("live audio: echo loopback failed; playing directly", error);
        this.closeLoopback();
      });
    } else if (!on && this.loopback) {
      this.closeLoopback();
    }
  }

  async openLoopback(loopback) {
    const destination = this.context.createMediaStreamDestination();
    const sender = new RTCPeerConnection();
    const receiver = new RTCPeerConnection();
    Object.assign(loopback, { destination, sender, receiver, element: new Audio(), blocked: false });
    sender.addEventListener("icecandidate", (e) => e.candidate && receiver.addIceCandidate(e.candidate).catch(() => {}));
    receiver.addEventListener("icecandidate", (e) => e.candidate && sender.addIceCandidate(e.candidate).catch(() => {}));
    const track = new Promise((resolve) => receiver.addEventListener("track", (e) => resolve(e.streams[0] ?? new MediaStream([e.track]))));
    destination.stream.getAudioTracks().forEach((t) => sender.addTrack(t, destination.stream));
    const offer = await sender.createOffer();
    await sender.setLocalDescription(offer);
    await receiver.setRemoteDescription(offer);
    const answer = await receiver.createAnswer();
    await receiver.setLocalDescription(answer);
    await sender.setRemoteDescription(answer);
    const stream = await track;
    if (this.loopback !== loopback) return;
    loopback.element.srcObject = stream;
    try {
      if (!this.paused) await loopback.element.play();
    } catch {
      loopback.blocked = true;
    }
    if (this.loopback !== loopback) return;
    // Switch the output only now, so the room is never silent while the loopback connects.
    this.analyser.disconnect();
    this.analyser.connect(destination);
    loopback.ready = true;
    this.showListenButton();
  }

  closeLoopback() {
    const loopback = this.loopback;
    this.loopback = null;
    if (!loopback) return;
    if (loopback.ready && this.analyser) {
      this.analyser.disconnect();
      this.analyser.connect(this.output);
    }
    loopback.sender?.close();
    loopback.receiver?.close();
    if (loopback.element) loopback.element.srcObject = null;
    this.showListenButton();
  }

  // -- messages and the end -------------------------------------------------------------------

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

  // Turn music mode on or off, for this browser; a microphone already on follows at once.
  async setMusicMode(on) {
    try {
      window.localStorage.setItem(MUSIC_MODE_KEY, on ? "on" : "off");
    } catch {
      // private browsing without storage: it still applies to this microphone
    }
    const track = this.capture?.track;
    if (!track) return;
    const echo = this.echoMode === "all" ? "all" : true;
    try {
      await track.applyConstraints({ ...micConstraints(), noiseSuppression: !on, autoGainControl: !on, echoCancellation: echo });
    } catch (error) {
      console.warn("live audio: music mode could not be applied", error);
    }
  }
}

function micErrorMessage(error) {
  switch (error?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return MESSAGES.micRefused;
    case "NotFoundError":
    case "OverconstrainedError":
      return MESSAGES.micMissing;
    case "NotReadableError":
    case "AbortError":
      return MESSAGES.micBusy;
    default:
      return MESSAGES.micFailed;
  }
}

export { MESSAGES as AUDIO_MESSAGES };
