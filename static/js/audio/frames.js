// Sample-rate conversion, and captured audio cut into the wire's 20 ms frames at 48 kHz.
import { FRAME_SAMPLES, SAMPLE_RATE } from "./wire.js";

// Linear interpolation, carried across calls. Good enough for speech between 44.1 and 48 kHz, and
// only used when the microphone or the output does not run at 48 kHz already.
export class Resampler {
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
export class FrameCollector {
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
