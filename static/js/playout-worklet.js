// The room's play-out buffer, on the audio thread. static/js/audio.js posts decoded PCM (mono, at
// this context's sample rate) as it arrives over the socket; this processor plays it with just
// enough delay to ride out network jitter.
//
// Audio arrives in bundles (200 ms for listeners, 60 ms for the stage), so what must be buffered is
// counted in bundles: when a bundle lands, the next one is due a bundle's length later, and the
// buffer must not run dry before then. The slack is what is still buffered when a bundle lands;
// the reserve is the slack we aim for, enough to cover how late bundles come.
//
// * Play-out starts a reserve after a bundle lands (by then the bundle that follows is a reserve
//   away from running late), or at once when a bundle plus the reserve is buffered (audio that
//   piled up before the page could play it: the oldest is dropped before anything is heard).
//   The reserve starts at 100 ms, and never goes below the jitter audio.js has seen (the spread of
//   bundle arrival times against their sequence numbers) nor 40 ms.
// * A stream that runs dry while it was still continuing (the next audio carries on from where it
//   stopped) was an underrun: the reserve grows. A stream that stops because nobody spoke (the
//   server sends nothing for silence) is not an underrun: it just starts again as above.
// * After each second with no underrun (ten after an underrun) the reserve shrinks, and so does
//   the delay: while the slack holds more than the reserve, silent frames are left out, a pause
//   the server skipped is played shorter and a voiced frame is played a few of its periods shorter
//   (at most a fifth faster), so nobody hears it; and a buffer deeper than a bundle plus the
//   reserve plus a margin (a burst after a stall, or the sender's clock running ahead of ours)
//   drops its oldest
//   audio: late audio is dropped, never played late.
//
// Messages in: {pcm: Float32Array, gap: seconds, silent, bundle: {seconds, jitter}} where gap is 0
// for audio that continues the previous chunk, the length of the silence the server skipped before
// it, or -1 when unknown (the first audio, or after a resync); `silent` marks a frame the mix left
// silent; `bundle` comes with the first chunk of each bundle (its length, and the arrival jitter
// seen lately, in seconds). {reset: true} empties the buffer.
// Messages out, about twice a second: {stats: {...}}.

const START_RESERVE_S = 0.1;
const MIN_RESERVE_S = 0.04;
const MAX_RESERVE_S = 0.5;
const JITTER_PAD_S = 0.01; // decoding and the render quantum, on top of the arrival jitter
const GROW_S = 0.05; // after each underrun
const SHRINK_S = 0.01; // after each stable stretch, at least
const SHRINK_FRACTION = 0.25; // of the way down to the floor, after each stable stretch
const STABLE_S = 1; // a stable stretch, from the start
const CALM_AFTER_UNDERRUN_S = 10; // the first stable stretch after an underrun
const DEFAULT_BUNDLE_S = 0.2; // until the first bundle says
const BUNDLE_MEMORY_S = 2; // a change of bundle length (joining the stage) is followed this fast
const MARGIN_S = 0.1; // beyond a bundle plus the reserve, the buffer is really too deep
const MAX_PAUSE_S = 1; // a longer silence is not padded: play-out restarts as at the start
const FADE_SAMPLES = 128; // ramp in after a restart or a skip, so neither clicks
const STATS_EVERY_S = 0.5;
const ACCEL_WINDOW_S = 0.005; // the cross-fade
const ACCEL_MIN_LAG_S = 0.0025; // periods from 400 Hz down to ...
const ACCEL_MAX_LAG_S = 0.012; // ... 83 Hz: voices, and the notes of a held tone
const ACCEL_MIN_CORRELATION = 0.8;
const ACCEL_MAX_RATE = 0.2; // of the audio played

class PlayoutProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.ring = new Float32Array(Math.ceil(sampleRate * 2));
    this.read = 0;
    this.size = 0;
    this.reserve = START_RESERVE_S * sampleRate;
    this.floor = MIN_RESERVE_S * sampleRate;
    this.bundles = []; // [arrival frame, bundle length in samples] over the last BUNDLE_MEMORY_S
    this.lastArrival = -Infinity; // when the latest bundle landed, in frames (currentFrame)
    this.dryAt = -Infinity; // when the buffer last ran dry
    this.playing = false;
    this.heard = false; // this stream has been heard since it (re)started from nothing
    this.starved = false; // ran dry while the stream was continuing
    this.slack = Infinity; // the least slack seen since the delay was last adjusted
    this.fade = 0;
    this.accelBudget = 0;
    this.stableSamples = 0;
    this.statsSamples = 0;
    this.stats = { underruns: 0, skipped_ms: 0, overflow_ms: 0, shortened_ms: 0, accelerated_ms: 0, restarts: 0 };
    this.port.onmessage = (event) => this.receive(event.data);
  }

  get bundle() {
    let longest = 0;
    for (const [, samples] of this.bundles) longest = Math.max(longest, samples);
    return longest || DEFAULT_BUNDLE_S * sampleRate;
  }

  receive(message) {
    if (message.reset) {
      this.read = 0;
      this.size = 0;
      this.playing = false;
      this.heard = false;
      this.starved = false;
      this.slack = Infinity;
      return;
    }
    const { pcm, gap, bundle, silent } = message;
    if (bundle) this.bundleLanded(bundle);
    if (gap === 0) {
      if (this.starved) {
        // The next piece of a continuing stream came too late: we need more slack.
        this.stats.underruns += 1;
        this.reserve = Math.min(MAX_RESERVE_S * sampleRate, this.reserve + GROW_S * sampleRate);
        // A network that just proved late is trusted again only after a longer quiet stretch.
        this.stableSamples = -(CALM_AFTER_UNDERRUN_S - STABLE_S) * sampleRate;
      }
    } else if (gap > 0 && gap <= MAX_PAUSE_S && this.playing) {
      // A pause the server did not send: keep the speaker's rhythm, less any slack we do not need.
      const pause = Math.round(gap * sampleRate);
      this.write(new Float32Array(pause - this.shorten(pause, true)));
    } else if (gap !== 0 && !this.playing) {
      this.heard = false;
    }
    this.starved = false;
    // A silent frame (the mix was quiet) is where the delay can shrink unheard.
    if (silent && this.playing && this.shorten(pcm.length, false) === pcm.length) return;
    this.write(this.playing && !silent ? this.accelerate(pcm) : pcm);
  }

  // While the slack holds more than the reserve and nobody pauses (a continuous voice or a held
  // note leaves no silence to leave out), play a frame shorter by whole periods of its own sound:
  // find the lag at which the frame best repeats itself and cross-fade over it (time-domain
  // overlap-add, as WebRTC's NetEQ "accelerate" does). A frame that does not repeat itself (noise,
  // a consonant) is played whole.
  accelerate(pcm) {
    if (this.slack === Infinity) return pcm;
    const spare = this.slack - this.reserve;
    const window = Math.round(ACCEL_WINDOW_S * sampleRate);
    const shortest = Math.round(ACCEL_MIN_LAG_S * sampleRate);
    // Catch up at most ACCEL_MAX_RATE of real time: faster would be heard as a hurried voice.
    this.accelBudget = Math.min(this.accelBudget + pcm.length * ACCEL_MAX_RATE, ACCEL_MAX_LAG_S * sampleRate);
    const longest = Math.min(
      Math.round(ACCEL_MAX_LAG_S * sampleRate),
      Math.floor(spare),
      Math.floor(this.accelBudget),
      pcm.length - window,
    );
    if (longest < shortest) return pcm;
    let energy0 = 0;
    for (let i = 0; i < window; i += 1) energy0 += pcm[i] * pcm[i];
    if (energy0 === 0) return pcm;
    let bestLag = 0;
    let best = ACCEL_MIN_CORRELATION;
    // The energy of the lagged window, slid along rather than summed anew for each lag.
    let energy1 = 0;
    for (let i = shortest; i < shortest + window; i += 1) energy1 += pcm[i] * pcm[i];
    for (let lag = shortest; lag <= longest; lag += 1) {
      if (lag > shortest) {
        const leaving = pcm[lag - 1];
        const entering = pcm[lag + window - 1];
        energy1 += entering * entering - leaving * leaving;
      }
      if (energy1 <= 0) continue;
      let dot = 0;
      for (let i = 0; i < window; i += 2) dot += pcm[i] * pcm[lag + i];
      const correlation = (2 * dot) / Math.sqrt(energy0 * energy1);
      // Among lags that repeat as well, the longest catches up fastest.
      if (correlation >= best - 0.02 && correlation > ACCEL_MIN_CORRELATION) {
        best = Math.max(best, correlation);
        bestLag = lag;
      }
    }
    if (!bestLag) return pcm;
    const out = new Float32Array(pcm.length - bestLag);
    for (let i = 0; i < window; i += 1) {
      const a = i / window;
      out[i] = pcm[i] * (1 - a) + pcm[bestLag + i] * a;
    }
    out.set(pcm.subarray(bestLag + window), window);
    this.slack -= bestLag;
    this.accelBudget -= bestLag;
    this.stats.accelerated_ms += (bestLag / sampleRate) * 1000;
    return out;
  }

  // Leave out up to `samples` of silence while the slack holds more than the reserve; return how
  // many. `partial`: a part of it may be left out (a pause), else all of it or none (a frame).
  shorten(samples, partial) {
    if (this.slack === Infinity) return 0;
    const spare = Math.max(0, this.slack - this.reserve);
    const cut = partial ? Math.min(samples, spare) : spare >= samples ? samples : 0;
    this.slack -= cut;
    this.stats.shortened_ms += (cut / sampleRate) * 1000;
    return cut;
  }

  bundleLanded({ seconds, jitter }) {
    const now = currentFrame;
    this.lastArrival = now;
    this.bundles.push([now, Math.round(seconds * sampleRate)]);
    while (this.bundles.length > 1 && this.bundles[0][0] < now - BUNDLE_MEMORY_S * sampleRate) this.bundles.shift();
    this.floor = Math.min(MAX_RESERVE_S, Math.max(MIN_RESERVE_S, jitter + JITTER_PAD_S)) * sampleRate;
    if (this.reserve < this.floor) this.reserve = this.floor;
    // What is still buffered as this bundle lands is the slack the last one left.
    if (this.playing) this.slack = Math.min(this.slack, this.size);
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

  // Start when the buffer will still hold the reserve as the next bundle lands.
  mayStart() {
    if (this.size === 0) return false;
    const full = this.bundle + this.reserve;
    if (this.size >= full) {
      if (!this.heard) {
        // Audio that queued up before anything was played (the page was loading): only the
        // newest is worth hearing, and dropping the rest now is not heard as a skip.
        this.drop(this.size - Math.round(full));
      }
      return true;
    }
    // After running dry, wait a reserve from then too: frames still being decoded catch up.
    return currentFrame - Math.max(this.lastArrival, this.dryAt) >= this.reserve;
  }

  process(inputs, outputs) {
    const output = outputs[0];
    const out = output[0];
    const frames = out.length;
    if (!this.playing && this.mayStart()) {
      this.playing = true;
      this.heard = true;
      this.fade = 0;
      this.slack = Infinity;
      this.stats.restarts += 1;
    }
    const deepest = this.bundle + this.reserve + MARGIN_S * sampleRate;
    if (this.playing && this.size > deepest) {
      const excess = this.size - Math.round(this.bundle + this.reserve);
      this.drop(excess);
      this.stats.skipped_ms += (excess / sampleRate) * 1000;
      this.fade = 0;
      this.slack = Infinity;
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
        this.dryAt = currentFrame;
        this.slack = Infinity;
      }
    }
    for (let channel = 1; channel < output.length; channel += 1) output[channel].set(out);

    this.stableSamples += frames;
    if (this.stableSamples >= STABLE_S * sampleRate) {
      this.stableSamples = 0;
      // Far above the floor (after a stall, say), come down faster.
      const step = Math.max(SHRINK_S * sampleRate, (this.reserve - this.floor) * SHRINK_FRACTION);
      this.reserve = Math.max(this.floor, this.reserve - step);
    }
    this.statsSamples += frames;
    if (this.statsSamples >= STATS_EVERY_S * sampleRate) {
      this.statsSamples = 0;
      this.port.postMessage({
        stats: {
          ...this.stats,
          depth_ms: (this.size / sampleRate) * 1000,
          reserve_ms: (this.reserve / sampleRate) * 1000,
          floor_ms: (this.floor / sampleRate) * 1000,
          bundle_ms: (this.bundle / sampleRate) * 1000,
          slack_ms: this.slack === Infinity ? null : (this.slack / sampleRate) * 1000,
          playing: this.playing,
        },
      });
    }
    return true;
  }
}

registerProcessor("spaces-playout", PlayoutProcessor);
