// Playback: the audio context, the room's <audio> element (paused, resumed, after a freeze back at
// the live edge) and, for the socket's bundles, the decoder and the jitter estimate that feed
// playout-worklet.js (the adaptive jitter buffer; docs/playout.md).
import { gettext } from "../i18n.js";
import { Resampler } from "./frames.js";
import { cannot } from "./messages.js";
import { FRAME_S, FRAME_SAMPLES, SAMPLE_RATE, parseBundle } from "./wire.js";

const MAX_DECODE_QUEUE = 50;
// Bundles that arrive before the play-out worklet is loaded; older ones are stale anyway.
const MAX_EARLY_BUNDLES = 8;
// How late bundles arrive is judged over this much recent history (playout-worklet.js keeps that
// much slack). One stall is remembered this long, then forgotten.
const JITTER_MEMORY_MS = 10_000;
// After a freeze, the bundles that queued on the socket arrive back to back; the burst is over when
// none came for this long (live bundles come every 60-200 ms), and only the newest is played.
const CATCH_UP_QUIET_MS = 100;
const DECODER_CONFIG = { codec: "opus", sampleRate: SAMPLE_RATE, numberOfChannels: 1 };

// RoomAudio's methods for playback (static/js/audio.js puts them on RoomAudio).
export class AudioPlayback {
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
    await context.audioWorklet.addModule(new URL("../playout-worklet.js", import.meta.url));
    await context.audioWorklet.addModule(new URL("../capture-worklet.js", import.meta.url));
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
}
