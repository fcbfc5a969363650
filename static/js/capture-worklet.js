// Microphone capture for browsers without MediaStreamTrackProcessor: collect the first input
// channel in 20 ms chunks and post them to static/js/audio.js, which encodes them.

const CHUNK_S = 0.02;

class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.chunk = new Float32Array(Math.round(sampleRate * CHUNK_S));
    this.filled = 0;
  }

  process(inputs) {
    const input = inputs[0]?.[0];
    if (!input) return true;
    let offset = 0;
    while (offset < input.length) {
      const take = Math.min(input.length - offset, this.chunk.length - this.filled);
      this.chunk.set(input.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === this.chunk.length) {
        // currentTime is the context's clock at the start of this quantum; the page converts it.
        const endTime = currentTime + offset / sampleRate;
        this.port.postMessage({ pcm: this.chunk, endTime }, [this.chunk.buffer]);
        this.chunk = new Float32Array(this.chunk.length);
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("spaces-capture", CaptureProcessor);
