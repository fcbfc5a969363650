// The room's play-out buffer, on the audio thread. static/js/audio.js posts decoded PCM (mono, at
// this context's sample rate) as it arrives over the socket; this processor plays it with just
// enough delay to ride out network jitter:
//
// * Play-out starts only once `target` seconds are buffered (150 ms at first). A stream that runs
//   dry while it was still continuing (the next audio carries on from where it stopped) was an
//   underrun: the target grows, up to 500 ms. A stream that stops because nobody spoke (the
//   server sends nothing for silence) is not an underrun: it just starts again with the pre-buffer.
// * After a stretch with no underrun the target shrinks slowly back towards 150 ms.
// * When more than target + margin is buffered (a burst after a stall, or the sender's clock
//   running ahead of ours) the oldest audio is skipped: late audio is dropped, never played late.
//
// Messages in: {pcm: Float32Array, gap: seconds} where gap is 0 for audio that continues the
// previous chunk, the length of the silence the server skipped before it, or -1 when unknown (the
// first audio, or after a resync). {reset: true} empties the buffer.
// Messages out, about twice a second: {stats: {...}}.

const MIN_TARGET_S = 0.15;
const MAX_TARGET_S = 0.5;
const GROW_S = 0.04; // after each underrun
const SHRINK_S = 0.01; // after each stable stretch
const STABLE_S = 3;
// Bundles arrive 60 ms at a time, so a healthy buffer holds at most target + 60 ms, however late
// some bundles come; past target + 100 ms it is really too deep.
const MARGIN_S = 0.1;
const MAX_PAUSE_S = 1; // a longer silence is not padded: play-out restarts with the pre-buffer
const FADE_SAMPLES = 128; // ramp in after a restart or a skip, so neither clicks
const STATS_EVERY_S = 0.5;

class PlayoutProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.ring = new Float32Array(Math.ceil(sampleRate * 2));
    this.read = 0;
    this.size = 0;
    this.target = MIN_TARGET_S * sampleRate;
    this.playing = false;
    this.starved = false; // ran dry while the stream was continuing
    this.fade = 0;
    this.stableSamples = 0;
    this.statsSamples = 0;
    this.stats = { underruns: 0, skipped_ms: 0, overflow_ms: 0, restarts: 0 };
    this.port.onmessage = (event) => this.receive(event.data);
  }

  receive(message) {
    if (message.reset) {
      this.read = 0;
      this.size = 0;
      this.playing = false;
      this.starved = false;
      return;
    }
    const { pcm, gap } = message;
    if (gap === 0) {
      if (this.starved) {
        // The next piece of a continuing stream came too late: we need more buffer.
        this.stats.underruns += 1;
        this.target = Math.min(MAX_TARGET_S * sampleRate, this.target + GROW_S * sampleRate);
        this.stableSamples = 0;
      }
    } else if (gap > 0 && gap <= MAX_PAUSE_S && this.playing) {
      // A short pause the server did not send: keep the speaker's rhythm.
      this.write(new Float32Array(Math.round(gap * sampleRate)));
    }
    this.starved = false;
    this.write(pcm);
  }

  write(pcm) {
    const ring = this.ring;
    const capacity = ring.length;
    let samples = pcm;
    if (samples.length > capacity) samples = samples.subarray(samples.length - capacity);
    const overflow = this.size + samples.length - capacity;
    if (overflow > 0) {
      this.drop(overflow);
      this.stats.overflow_ms += (overflow / sampleRate) * 1000;
    }
    let at = (this.read + this.size) % capacity;
    const first = Math.min(samples.length, capacity - at);
    ring.set(samples.subarray(0, first), at);
    if (first < samples.length) ring.set(samples.subarray(first), 0);
    this.size += samples.length;
  }

  drop(count) {
    this.read = (this.read + count) % this.ring.length;
    this.size -= count;
  }

  process(inputs, outputs) {
    const output = outputs[0];
    const out = output[0];
    const frames = out.length;
    if (!this.playing && this.size >= this.target) {
      this.playing = true;
      this.fade = 0;
      this.stats.restarts += 1;
    }
    if (this.playing && this.size > this.target + MARGIN_S * sampleRate) {
      const excess = this.size - Math.round(this.target);
      this.drop(excess);
      this.stats.skipped_ms += (excess / sampleRate) * 1000;
      this.fade = 0;
    }
    if (!this.playing) {
      out.fill(0);
    } else {
      const ring = this.ring;
      const take = Math.min(frames, this.size);
      for (let i = 0; i < take; i += 1) {
        let sample = ring[(this.read + i) % ring.length];
        if (this.fade < FADE_SAMPLES) {
          sample *= this.fade / FADE_SAMPLES;
          this.fade += 1;
        }
        out[i] = sample;
      }
      out.fill(0, take);
      this.drop(take);
      if (take < frames) {
        this.playing = false;
        this.starved = true;
      }
    }
    for (let channel = 1; channel < output.length; channel += 1) output[channel].set(out);

    this.stableSamples += frames;
    if (this.stableSamples >= STABLE_S * sampleRate) {
      this.stableSamples = 0;
      this.target = Math.max(MIN_TARGET_S * sampleRate, this.target - SHRINK_S * sampleRate);
    }
    this.statsSamples += frames;
    if (this.statsSamples >= STATS_EVERY_S * sampleRate) {
      this.statsSamples = 0;
      this.port.postMessage({
        stats: {
          ...this.stats,
          depth_ms: (this.size / sampleRate) * 1000,
          target_ms: (this.target / sampleRate) * 1000,
          playing: this.playing,
        },
      });
    }
    return true;
  }
}

registerProcessor("spaces-playout", PlayoutProcessor);
