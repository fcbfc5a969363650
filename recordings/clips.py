"""Cut a clip out of a room's Opus packets without re-encoding them. No Django here.

The recording is a single mono Opus stream of 20 ms packets (rooms/audio/ogg.py, capture.py), so a clip
is a run of those packets, copied byte for byte into a new Ogg Opus file whose headers and granule
positions are written afresh (RFC 7845):

- Opus needs a moment to converge after a cut: the clip starts 80 ms (4 packets, RFC 7845 section
  4.6's recommended pre-roll) before the stretch and its OpusHead ``pre_skip`` tells the player to drop
  those samples plus the encoder's own delay, so playback starts exactly at the asked time.
- The last page's granule position ends the stream exactly at the asked time (end trimming, RFC 7845
  section 4.4); one packet more is copied so that the encoder delay does not cut the end short.

Nothing is decoded to make the clip; the waveform is measured by decoding the clip once afterwards.
"""

from __future__ import annotations

import os
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from django.utils.translation import gettext as _

from rooms.audio import ogg
from rooms.audio.wire import FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE

PRE_ROLL_PACKETS = 4  # 80 ms
PEAK_COUNT = 200
_CLIP_SERIAL = 0x434C4950  # "CLIP"


class ClipError(ValueError):
    """The stretch cannot be cut (outside the audio, too long, nothing there)."""


@dataclass
class CutResult:
    start_ms: int
    end_ms: int
    duration_ms: int
    pre_skip: int
    packets: int
    size_bytes: int


def stretch_packets(total_packets: int, start_ms: int, end_ms: int) -> tuple[int, int]:
    """The first and one-past-last packet of [start_ms, end_ms) (both on 20 ms boundaries)."""
    if start_ms % FRAME_MS or end_ms % FRAME_MS:
        raise ClipError(_("a clip starts and ends on a 20 ms boundary"))
    first, last = start_ms // FRAME_MS, end_ms // FRAME_MS
    if first < 0 or last <= first:
        raise ClipError(_("a clip ends after it starts"))
    if last > total_packets:
        raise ClipError(_("the clip ends after the recording does"))
    return first, last


def cut_opus(
    packets: list[bytes],
    *,
    pre_skip: int,
    start_ms: int,
    end_ms: int,
    out_path: Path,
    comments: list[str] | None = None,
) -> CutResult:
    """Write [start_ms, end_ms) of a stream of 20 ms Opus ``packets`` (with its ``pre_skip``) to
    ``out_path`` as Ogg Opus, packets copied unchanged. Written under a temporary name, then renamed."""
    first, last = stretch_packets(len(packets), start_ms, end_ms)
    roll = min(PRE_ROLL_PACKETS, first)
    # The encoder's delay (the source's pre_skip) means the audio heard at time t is decoded from
    # the packets after t by that many samples: copy one packet more at the end when there is one.
    tail = 1 if last < len(packets) and pre_skip else 0
    chosen = packets[first - roll : last + tail]
    clip_pre_skip = roll * FRAME_SAMPLES + pre_skip
    if clip_pre_skip > 0xFFFF:
        raise ClipError(_("pre-skip does not fit OpusHead"))
    # The granule of the last page: the pre-skip plus exactly the asked length in 48 kHz samples.
    wanted = (last - first) * FRAME_SAMPLES
    available = len(chosen) * FRAME_SAMPLES - clip_pre_skip
    final_granule = clip_pre_skip + min(wanted, available)
    body = bytearray(ogg.header_pages(serial=_CLIP_SERIAL, pre_skip=clip_pre_skip, comments=comments or []))
    pages = list(
        ogg.audio_pages(
            chosen,
            serial=_CLIP_SERIAL,
            first_sequence=2,
            first_granule=0,
            samples_per_packet=FRAME_SAMPLES,
            last_flags=ogg.FLAG_EOS,
        )
    )
    for index, (page, granule) in enumerate(pages):
        if index == len(pages) - 1 and granule != final_granule:
            page = _with_granule(page, final_granule)
        body += page
    temp = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex[:8]}.tmp")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(temp, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, out_path)
    finally:
        temp.unlink(missing_ok=True)
    duration_ms = (final_granule - clip_pre_skip) * 1000 // SAMPLE_RATE
    return CutResult(
        start_ms=start_ms,
        end_ms=start_ms + duration_ms,
        duration_ms=duration_ms,
        pre_skip=clip_pre_skip,
        packets=len(chosen),
        size_bytes=len(body),
    )


def _with_granule(page: bytes, granule: int) -> bytes:
    """The same page with another granule position (and its CRC written again)."""
    raw = bytearray(page)
    struct.pack_into("<q", raw, 6, granule)
    raw[22:26] = b"\0\0\0\0"
    struct.pack_into("<I", raw, 22, ogg.ogg_crc(bytes(raw)))
    return bytes(raw)


def read_packets(path: Path) -> tuple[list[bytes], int]:
    """The audio packets and pre-skip of a finalized recording's original Ogg Opus file."""
    report = ogg.read_opus_stream(path.read_bytes())
    return report.packets, report.pre_skip


def decode_ogg(path: Path) -> tuple[np.ndarray, int]:
    """Decode an Ogg Opus file with FFmpeg (PyAV), as a player would: mono float samples and rate."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
        rate = stream.codec_context.sample_rate
    pcm = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, dtype=np.float32)
    return pcm, rate


def peaks_of(pcm: np.ndarray, bins: int = PEAK_COUNT) -> list[float]:
    """The peak level of each of ``bins`` equal slices of ``pcm``, 0..1."""
    if not len(pcm):
        return [0.0] * bins
    edges = np.linspace(0, len(pcm), bins + 1).astype(int)
    out = []
    for i in range(bins):
        lo, hi = edges[i], max(edges[i + 1], edges[i] + 1)
        out.append(round(float(min(1.0, np.abs(pcm[lo:hi]).max(initial=0.0))), 3))
    return out
