"""The binary frames that carry audio over the room websocket. No Django here.

Uplink (browser -> server), one Opus packet per frame, 20 ms of 48 kHz mono:

    offset size  field
    0      1     kind = UPLINK (0x01)
    1      4     sequence number, uint32 big-endian, +1 per 20 ms frame (wraps)
    5      8     capture time, float64 big-endian, ms since the Unix epoch
    13     ...   the Opus packet (1..MAX_OPUS_PACKET bytes; DTX frames may be 1-2 bytes)

Between processes every audio frame carries a tag in front (``tag``/``untag``, the one definition):

    0      4     an id, uint32 big-endian
    4      ...   the frame

On the way to the mixer the web process tags an uplink frame with the speaker's user id; on the way
back the mixer tags a downlink bundle with its receiver: 0 for the program mix everyone else plays,
a stage member's user id for the mix without their own voice.

Downlink (server -> browser), a bundle of consecutive mixed frames:

    0      1     kind = DOWNLINK (0x02)
    1      1     flags: bit 0 = mix-minus (this stream leaves the receiver's own voice out)
    2      4     sequence number of the first frame, uint32 big-endian
    6      8     mix time of the first frame, float64 big-endian, ms since the Unix epoch
    14     8     oldest capture time among voices in the bundle (0 when silent), float64 ms
    22     1     frame count N (1..MAX_BUNDLE_FRAMES)
    23     ...   N times: uint16 big-endian length L, then L bytes of Opus packet
                 (L = 0 means "no packet": silence the decoder should conceal as quiet)

Voice pieces (mixer -> captioner, for live captions; see voicetap.py), 100 ms of one speaker:

    0      4     user id, uint32 big-endian
    4      4     piece number for this speaker, uint32 big-endian, +1 per piece (a gap = pieces lost)
    8      8     wall-clock time of the first sample, float64 big-endian, ms since the Unix epoch
    16     ...   16 kHz mono samples, int16 little-endian
"""

import struct
from dataclasses import dataclass

UPLINK = 0x01
DOWNLINK = 0x02
FLAG_MIX_MINUS = 0x01

SAMPLE_RATE = 48_000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
MAX_OPUS_PACKET = 1275  # RFC 6716's largest packet
MAX_UPLINK_BYTES = 13 + MAX_OPUS_PACKET
MAX_BUNDLE_FRAMES = 16

_UPLINK_HEADER = struct.Struct(">BId")
_DOWNLINK_HEADER = struct.Struct(">BBIddB")
_TAG = struct.Struct(">I")
_VOICE_HEADER = struct.Struct(">IId")
VOICE_RATE = 16_000
PROGRAM = 0  # the receiver tag of the program mix

UPLINK_HEADER_BYTES = _UPLINK_HEADER.size
DOWNLINK_HEADER_BYTES = _DOWNLINK_HEADER.size
TAG_BYTES = _TAG.size
_LENGTH = struct.Struct(">H")


class WireError(ValueError):
    pass


@dataclass(frozen=True)
class UplinkFrame:
    sequence: int
    captured_ms: float
    packet: bytes


@dataclass(frozen=True)
class Bundle:
    mix_minus: bool
    sequence: int
    mixed_ms: float
    oldest_capture_ms: float
    packets: list[bytes]


def encode_uplink(sequence: int, captured_ms: float, packet: bytes) -> bytes:
    return _UPLINK_HEADER.pack(UPLINK, sequence & 0xFFFFFFFF, captured_ms) + packet


def decode_uplink(data: bytes) -> UplinkFrame:
    """Parse an uplink frame; raise WireError for anything malformed or oversized."""
    if len(data) > MAX_UPLINK_BYTES:
        raise WireError("oversized")
    if len(data) <= _UPLINK_HEADER.size:
        raise WireError("truncated")
    kind, sequence, captured_ms = _UPLINK_HEADER.unpack_from(data)
    if kind != UPLINK:
        raise WireError("not an uplink frame")
    if captured_ms != captured_ms or captured_ms <= 0:  # NaN or nonsense
        raise WireError("bad capture time")
    return UplinkFrame(sequence, captured_ms, bytes(data[_UPLINK_HEADER.size :]))


def tag(who: int, data: bytes) -> bytes:
    """Put `who` (a speaker on the way up, a receiver on the way down) in front of an audio frame."""
    return _TAG.pack(who) + data


def untag(data: bytes) -> tuple[int, bytes]:
    """(who, frame) from a tagged frame."""
    if len(data) < _TAG.size:
        raise WireError("truncated")
    return _TAG.unpack_from(data)[0], data[_TAG.size :]


def encode_bundle(
    *, mix_minus: bool, sequence: int, mixed_ms: float, oldest_capture_ms: float, packets: list[bytes]
) -> bytes:
    if not 1 <= len(packets) <= MAX_BUNDLE_FRAMES:
        raise WireError("bad frame count")
    flags = FLAG_MIX_MINUS if mix_minus else 0
    parts = [
        _DOWNLINK_HEADER.pack(
            DOWNLINK, flags, sequence & 0xFFFFFFFF, mixed_ms, oldest_capture_ms, len(packets)
        )
    ]
    for packet in packets:
        parts.append(_LENGTH.pack(len(packet)))
        parts.append(packet)
    return b"".join(parts)


def decode_bundle(data: bytes) -> Bundle:
    if len(data) < _DOWNLINK_HEADER.size:
        raise WireError("truncated")
    kind, flags, sequence, mixed_ms, oldest, count = _DOWNLINK_HEADER.unpack_from(data)
    if kind != DOWNLINK or not 1 <= count <= MAX_BUNDLE_FRAMES:
        raise WireError("not a downlink bundle")
    offset = _DOWNLINK_HEADER.size
    packets = []
    for _ in range(count):
        if offset + _LENGTH.size > len(data):
            raise WireError("truncated")
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        if offset + length > len(data):
            raise WireError("truncated")
        packets.append(bytes(data[offset : offset + length]))
        offset += length
    return Bundle(bool(flags & FLAG_MIX_MINUS), sequence, mixed_ms, oldest, packets)


# Samples per Opus frame at 48 kHz for each TOC configuration (RFC 6716 section 3.1): SILK 10/20/40/60 ms,
# hybrid 10/20 ms, CELT 2.5/5/10/20 ms.
_CONFIG_SAMPLES = [480, 960, 1920, 2880] * 3 + [480, 960] * 2 + [120, 240, 480, 960] * 4


def opus_packet_samples(packet: bytes) -> int:
    """Return how many 48 kHz samples an Opus packet holds, from its TOC byte (RFC 6716 section 3.1);
    raise WireError when the packet cannot be a valid Opus packet."""
    if not packet:
        raise WireError("empty Opus packet")
    toc = packet[0]
    per_frame = _CONFIG_SAMPLES[toc >> 3]
    code = toc & 0x03
    if code == 0:
        count = 1
    elif code == 1:
        if (len(packet) - 1) % 2:
            raise WireError("code 1 Opus packet with an odd payload")
        count = 2
    elif code == 2:
        if len(packet) < 2:
            raise WireError("truncated code 2 Opus packet")
        count = 2
    else:
        if len(packet) < 2:
            raise WireError("truncated code 3 Opus packet")
        count = packet[1] & 0x3F
        if count == 0:
            raise WireError("code 3 Opus packet with no frame")
    samples = count * per_frame
    if samples > 5760:  # 120 ms, the longest packet RFC 6716 allows
        raise WireError("Opus packet longer than 120 ms")
    return samples


def bundle_is_silent(data: bytes) -> bool:
    """True when every frame of the bundle is "no packet" (length 0)."""
    count = data[_DOWNLINK_HEADER.size - 1]
    return len(data) == _DOWNLINK_HEADER.size + count * _LENGTH.size


@dataclass(frozen=True)
class VoicePiece:
    user_id: int
    number: int
    start_ms: float
    samples: bytes  # int16 little-endian at VOICE_RATE

    @property
    def end_ms(self) -> float:
        return self.start_ms + (len(self.samples) // 2) * 1000 / VOICE_RATE


def encode_voice_piece(user_id: int, number: int, start_ms: float, samples: bytes) -> bytes:
    return _VOICE_HEADER.pack(user_id, number & 0xFFFFFFFF, start_ms) + samples


def decode_voice_piece(data: bytes) -> VoicePiece:
    if len(data) < _VOICE_HEADER.size:
        raise WireError("voice piece too short")
    user_id, number, start_ms = _VOICE_HEADER.unpack_from(data)
    return VoicePiece(user_id, number, start_ms, bytes(data[_VOICE_HEADER.size :]))
