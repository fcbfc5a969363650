// The binary frames of rooms/audio/wire.py: an uplink frame per Opus packet up, bundles of packets down.
// The wire format's constants are kept in step with rooms/audio/wire.py
// (tests/browser/test_room_js_in_step.py checks them, and the offsets read and written below).
export const SAMPLE_RATE = 48_000;
export const FRAME_SAMPLES = 960; // 20 ms
export const FRAME_S = FRAME_SAMPLES / SAMPLE_RATE;
const UPLINK = 0x01;
const DOWNLINK = 0x02;
const FLAG_MIX_MINUS = 0x01;
const UPLINK_HEADER_BYTES = 13;
const DOWNLINK_HEADER_BYTES = 23;
export const MAX_OPUS_PACKET = 1275;

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
