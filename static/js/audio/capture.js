// Speaking: the microphone (music mode included) -> 20 ms frames -> the Opus encoder -> uplink frames
// on the room socket, only while the server says this person is on stage and unmuted.
import { gettext } from "../i18n.js";
import { FrameCollector } from "./frames.js";
import { MESSAGES, cannot, micErrorMessage, speakingGaps } from "./messages.js";
import { FRAME_SAMPLES, MAX_OPUS_PACKET, SAMPLE_RATE, encodeUplink } from "./wire.js";

// A new capture jumps the sequence by more than the server's resync threshold (50 frames), so the
// mixer starts a fresh decoder for the new encoder instead of decoding it against the old state.
const SEQUENCE_JUMP_ON_RESTART = 1000;
// Past this much unsent data the network is not keeping up: drop frames rather than queue delay.
const MAX_SOCKET_BACKLOG = 32 * 1024;
const MAX_ENCODE_QUEUE = 10;
const MAX_CAPTURE_LAG_MS = 60;

const ENCODER_CONFIG = {
  codec: "opus",
  sampleRate: SAMPLE_RATE,
  numberOfChannels: 1,
  bitrate: 32_000,
  // DTX off: browsers' Opus DTX turns a steady voice or tone into comfort noise after about a
  // second, and the mixer's own gate already makes silence cost nothing downstream.
  opus: { frameDuration: 20_000, useinbandfec: true, usedtx: false },
};
const MIC_CONSTRAINTS = { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 };
// Music mode (as in Clubhouse): a steady note or an instrument is what noise suppression and
// automatic gain take out first, so a speaker who plays music turns both off. Kept per browser.
const MUSIC_MODE_KEY = "spaces:music-mode";

export function musicMode() {
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

// RoomAudio's methods for the microphone (static/js/audio.js puts them on RoomAudio).
export class AudioCapture {
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
