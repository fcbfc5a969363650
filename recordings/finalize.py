"""Turn a room's capture into the replay files. No Django here: the Celery task and bench/finalize.py
call ``finalize_capture`` with plain paths and tags.

1. Read every segment in order and check it (capture pattern, CRC and sequence of every page, the
   Opus headers). A torn last page (the mixer died while writing it) ends that segment there.
2. Join the segments' Opus packets, untouched, into one Ogg Opus stream: the original.
3. Decode them once and encode AAC into an M4A for playback; the same pass measures the waveform.
4. Tag both with mutagen (title, host, date, topics, cover art) and check the M4A's duration against
   the packets captured (within 100 ms).

Files are written under temporary names and renamed into place, so a reader (or a finalize killed
half-way and run again) only ever sees a complete file under the final name.
"""

from __future__ import annotations

import base64
import ctypes
import json
import logging
import os
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from mutagen.flac import Picture
from mutagen.mp4 import MP4, MP4Cover
from mutagen.oggopus import OggOpus

from rooms.audio import codec, ogg
from rooms.audio.capture import segment_paths, timeline_path
from rooms.audio.wire import FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE

logger = logging.getLogger(__name__)

ORIGINAL_NAME = "original.ogg"
REPLAY_NAME = "replay.m4a"
# Speech replays: AAC-LC mono at 24 kHz keeps everything up to 12 kHz, more than the live mix's
# Opus at 32 kbit/s carries, and encodes about twice as fast as 48 kHz (bench/finalize.py).
AAC_RATE = 24_000
AAC_BITRATE = 64_000
# FFmpeg's "fast" AAC coder: twice the speed of its default (twoloop), and at 64 kbit/s for one
# speech channel the difference is not audible; it keeps finalizing above 100x real time on a busy
# two-core machine (bench/finalize.py).
AAC_CODER = "fast"
PEAK_COUNT = 1000
DURATION_TOLERANCE_MS = 100
# Two turns of the same voice closer than this are one turn in the timeline.
TURN_MERGE_MS = 1500
# How much of a segment's end holds its last page header (a page is at most 65,307 bytes).
TAIL_BYTES = 64 * 1024
_ORIGINAL_SERIAL = 0x53504143  # "SPAC": one fixed serial, so the original is the same file every run


class FinalizeError(RuntimeError):
    """The capture cannot be turned into a replay (nothing captured, or the result is wrong)."""


@dataclass
class ReplayTags:
    title: str
    artist: str
    date: str  # ISO 8601, e.g. "2025-05-01"
    topics: list[str] = field(default_factory=list)
    comment: str = ""
    cover_jpeg: bytes | None = None


@dataclass
class Segment:
    number: int
    packets: int
    started_ms: float
    eos: bool
    damage: str = ""
    sequence_gaps: int = 0


@dataclass
class Capture:
    packets: list[bytes]
    pre_skip: int
    segments: list[Segment]
    # (user id, start ms, end ms) in replay time, merged per voice.
    turns: list[tuple[int, int, int]]

    @property
    def duration_ms(self) -> int:
        return len(self.packets) * FRAME_MS

    @property
    def problems(self) -> list[str]:
        notes = []
        for segment in self.segments:
            if segment.damage:
                notes.append(f"segment {segment.number}: {segment.damage}")
            if segment.sequence_gaps:
                notes.append(f"segment {segment.number}: {segment.sequence_gaps} frames missing")
        return notes


@dataclass
class FinalizeResult:
    duration_ms: int
    m4a_duration_ms: int
    packets: int
    peaks: list[float]
    turns: list[tuple[int, int, int]]
    segments: list[Segment]
    problems: list[str]
    original: Path
    replay: Path
    replay_bytes: int


def capture_is_closed(directory: Path, *, quiet_s: float) -> bool:
    """True when nobody is still writing the capture: its last segment ended its stream (EOS), or has
    not changed for ``quiet_s`` (its mixer died; a live writer flushes every second)."""
    segments = segment_paths(directory)
    if not segments:
        return True
    last = segments[-1][1]
    if time.time() - last.stat().st_mtime >= quiet_s:
        return True
    with open(last, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - TAIL_BYTES))
        tail = handle.read()
    return ogg.ends_stream(tail)


def read_capture(directory: Path) -> Capture:
    """Read and check every segment in ``directory``; raise FinalizeError if none holds audio."""
    packets: list[bytes] = []
    segments: list[Segment] = []
    turns: list[tuple[int, int, int]] = []
    pre_skip = None
    for number, path in segment_paths(directory):
        try:
            report = ogg.read_opus_stream(path.read_bytes())
        except ogg.OggError as error:
            # Nothing usable: the mixer died before its first page was written.
            logger.warning("capture segment %s is unreadable: %s", path, error)
            segments.append(Segment(number, 0, 0.0, False, damage=str(error)))
            continue
        if report.damage:
            logger.warning(
                "capture segment %s is damaged after %d packets: %s", path, len(report.packets), report.damage
            )
        offset_ms = len(packets) * FRAME_MS
        segment_ms = len(report.packets) * FRAME_MS
        started_ms, gaps, events = _read_timeline(timeline_path(path))
        turns += _turns(events, offset_ms=offset_ms, end_ms=segment_ms)
        if pre_skip is None and report.packets:
            pre_skip = report.pre_skip
        packets += report.packets
        segments.append(Segment(number, len(report.packets), started_ms, report.eos, report.damage, gaps))
    if not packets:
        raise FinalizeError("Nothing was captured.")
    return Capture(packets, pre_skip or 0, segments, _merge_turns(turns))


def _read_timeline(path: Path) -> tuple[float, int, list[tuple[int, frozenset[int]]]]:
    started_ms, gaps, events = 0.0, 0, []
    if not path.exists():
        return started_ms, gaps, events
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line torn by a crash
        if "started_ms" in entry:
            started_ms = float(entry["started_ms"])
        elif "sequence_gap" in entry:
            gaps += int(entry["sequence_gap"])
        elif "voices" in entry:
            events.append((int(entry["at_ms"]), frozenset(int(v) for v in entry["voices"])))
    return started_ms, gaps, events


def _turns(
    events: list[tuple[int, frozenset[int]]], *, offset_ms: int, end_ms: int
) -> list[tuple[int, int, int]]:
    """Spans of each voice within one segment, shifted to replay time."""
    open_since: dict[int, int] = {}
    spans = []
    for at_ms, voices in events + [(end_ms, frozenset())]:
        at_ms = min(at_ms, end_ms)
        for user in list(open_since):
            if user not in voices:
                spans.append((user, offset_ms + open_since.pop(user), offset_ms + at_ms))
        for user in voices:
            open_since.setdefault(user, at_ms)
    return [span for span in spans if span[2] > span[1]]


def _merge_turns(spans: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    merged: list[list[int]] = []
    last_of: dict[int, list[int]] = {}
    for user, start, end in sorted(spans, key=lambda span: span[1]):
        previous = last_of.get(user)
        if previous is not None and start - previous[2] <= TURN_MERGE_MS:
            previous[2] = max(previous[2], end)
            continue
        last_of[user] = item = [user, start, end]
        merged.append(item)
    return [tuple(item) for item in merged]


# -- decoding -------------------------------------------------------------------------------------------


class _BatchDecoder:
    """Decode Opus packets straight into one array per batch, at ``rate`` (libopus resamples inside,
    which costs less than decoding at 48 kHz and resampling after)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.per_packet = rate * FRAME_MS // 1000
        self._lib = codec._libopus()
        if self._lib is not None:
            error = ctypes.c_int()
            self._state = self._lib.opus_decoder_create(rate, 1, ctypes.byref(error))
            if error.value != 0 or not self._state:
                raise FinalizeError(f"opus_decoder_create failed ({error.value})")
        else:
            self._fallback = codec.make_decoder(backend="pyav")

    def decode(self, packets: list[bytes]) -> np.ndarray:
        out = np.zeros(len(packets) * self.per_packet, dtype=np.float32)
        if self._lib is None:
            for i, packet in enumerate(packets):
                pcm = self._fallback.decode(packet)
                out[i * self.per_packet : (i + 1) * self.per_packet] = pcm[:: SAMPLE_RATE // self.rate]
            return out
        decode = self._lib.opus_decode_float
        state, base, step, per_packet = self._state, out.ctypes.data, self.per_packet * 4, self.per_packet
        for i, packet in enumerate(packets):
            # A packet that fails to decode stays silence: one bad frame must not lose the replay.
            decode(state, packet, len(packet), base + i * step, per_packet, 0)
        return out

    def __del__(self) -> None:
        if getattr(self, "_state", None):
            self._lib.opus_decoder_destroy(self._state)
            self._state = None


def _decoded_chunks(
    packets: list[bytes], pre_skip: int, rate: int, chunk_packets: int, sink: queue.Queue
) -> None:
    """Producer thread: decode in chunks (libopus runs without the GIL, beside the AAC encoder)."""
    try:
        decoder = _BatchDecoder(rate)
        skip = pre_skip * rate // SAMPLE_RATE
        for start in range(0, len(packets), chunk_packets):
            pcm = decoder.decode(packets[start : start + chunk_packets])
            if skip:
                pcm, skip = pcm[skip:], max(0, skip - len(pcm))
            sink.put(pcm)
        sink.put(None)
    except BaseException as error:  # handed to the consumer, which raises it
        sink.put(error)


def _encode_m4a(
    packets: list[bytes], pre_skip: int, path: Path, *, rate: int, bitrate: int, peak_bins: int
) -> np.ndarray:
    """Write the M4A; return the peak level of each of ``peak_bins`` equal slices of the audio."""
    total = len(packets) * rate * FRAME_MS // 1000 - pre_skip * rate // SAMPLE_RATE
    frame_peaks = np.zeros(max(1, -(-total // (rate // 50))), dtype=np.float32)  # per 20 ms of output
    chunks: queue.Queue = queue.Queue(maxsize=16)
    producer = threading.Thread(
        target=_decoded_chunks, args=(packets, pre_skip, rate, 250, chunks), name="opus-decode", daemon=True
    )
    producer.start()
    window = rate // 50
    written = 0
    container = av.open(str(path), "w", format="ipod", options={"movflags": "+faststart"})
    try:
        stream = container.add_stream("aac", rate=rate, layout="mono", options={"aac_coder": AAC_CODER})
        stream.bit_rate = bitrate
        while True:
            pcm = chunks.get()
            if pcm is None:
                break
            if isinstance(pcm, BaseException):
                raise pcm
            if not len(pcm):
                continue
            frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = written
            for packet in stream.encode(frame):
                container.mux(packet)
            # Peaks per 20 ms window (chunks are whole windows except after the pre-skip cut).
            first = written // window
            head = (-written) % window
            if head:
                frame_peaks[first] = max(frame_peaks[first], float(np.abs(pcm[:head]).max(initial=0.0)))
                first += 1
            body = pcm[head:]
            whole = len(body) // window
            if whole:
                frame_peaks[first : first + whole] = (
                    np.abs(body[: whole * window]).reshape(whole, window).max(axis=1)
                )
            rest = body[whole * window :]
            if len(rest):
                frame_peaks[first + whole] = float(np.abs(rest).max())
            written += len(pcm)
        for packet in stream.encode(None):
            container.mux(packet)
    finally:
        container.close()
        producer.join(timeout=5)
    return _bin_peaks(frame_peaks, peak_bins)


def _bin_peaks(frame_peaks: np.ndarray, bins: int) -> np.ndarray:
    edges = np.linspace(0, len(frame_peaks), bins + 1).astype(int)
    out = np.zeros(bins, dtype=np.float32)
    for i in range(bins):
        lo, hi = edges[i], max(edges[i + 1], edges[i] + 1)
        out[i] = frame_peaks[lo:hi].max(initial=0.0)
    return np.clip(out, 0.0, 1.0)


# -- writing --------------------------------------------------------------------------------------------


def _temp_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.tmp")


def _write_original(capture: Capture, path: Path) -> None:
    serial = _ORIGINAL_SERIAL
    with open(path, "wb") as handle:
        handle.write(ogg.header_pages(serial=serial, pre_skip=capture.pre_skip))
        batch = []
        for page, _granule in ogg.audio_pages(
            capture.packets,
            serial=serial,
            first_sequence=2,
            first_granule=0,
            samples_per_packet=FRAME_SAMPLES,
            last_flags=ogg.FLAG_EOS,
        ):
            batch.append(page)
            if len(batch) >= 256:
                handle.write(b"".join(batch))
                batch = []
        handle.write(b"".join(batch))


def _tag_ogg(path: Path, tags: ReplayTags) -> None:
    audio = OggOpus(str(path))
    audio["title"] = tags.title
    audio["artist"] = tags.artist
    audio["date"] = tags.date
    if tags.topics:
        audio["genre"] = tags.topics
    if tags.comment:
        audio["comment"] = tags.comment
    if tags.cover_jpeg:
        picture = Picture()
        picture.type = 3  # front cover
        picture.mime = "image/jpeg"
        picture.desc = "Cover"
        picture.data = tags.cover_jpeg
        picture.width = picture.height = 0
        audio["metadata_block_picture"] = [base64.b64encode(picture.write()).decode("ascii")]
    audio.save()


def _tag_m4a(path: Path, tags: ReplayTags) -> None:
    audio = MP4(str(path))
    audio["\xa9nam"] = [tags.title]
    audio["\xa9ART"] = [tags.artist]
    audio["aART"] = [tags.artist]
    audio["\xa9day"] = [tags.date]
    audio["\xa9alb"] = ["Spaces replays"]
    if tags.topics:
        audio["\xa9gen"] = [", ".join(tags.topics)]
    if tags.comment:
        audio["\xa9cmt"] = [tags.comment]
    if tags.cover_jpeg:
        audio["covr"] = [MP4Cover(tags.cover_jpeg, imageformat=MP4Cover.FORMAT_JPEG)]
    audio.save()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def finalize_capture(
    capture_dir: Path,
    out_dir: Path,
    *,
    tags: ReplayTags,
    aac_rate: int = AAC_RATE,
    aac_bitrate: int = AAC_BITRATE,
    peak_count: int = PEAK_COUNT,
    capture: Capture | None = None,
) -> FinalizeResult:
    """Write ``original.ogg`` and ``replay.m4a`` for the capture in ``capture_dir`` into ``out_dir``.

    Safe to run again: each run writes temporary files and renames them over the final names, and the
    same capture always gives the same audio. Not meant to run twice at once for one ``out_dir`` (the
    task holds the recording's row lock): it first clears temporary files a killed run left behind.
    """
    capture = capture or read_capture(capture_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in (ORIGINAL_NAME, REPLAY_NAME):
        for stale in out_dir.glob(f".{name}.*.tmp"):
            stale.unlink(missing_ok=True)
    original, replay = out_dir / ORIGINAL_NAME, out_dir / REPLAY_NAME
    temp_original, temp_replay = _temp_path(original), _temp_path(replay)
    try:
        _write_original(capture, temp_original)
        _tag_ogg(temp_original, tags)
        peaks = _encode_m4a(
            capture.packets,
            capture.pre_skip,
            temp_replay,
            rate=aac_rate,
            bitrate=aac_bitrate,
            peak_bins=peak_count,
        )
        _tag_m4a(temp_replay, tags)
        m4a_ms = round(MP4(str(temp_replay)).info.length * 1000)
        if abs(m4a_ms - capture.duration_ms) > DURATION_TOLERANCE_MS:
            raise FinalizeError(f"The replay lasts {m4a_ms} ms but {capture.duration_ms} ms were captured.")
        for temp in (temp_original, temp_replay):
            _fsync(temp)
        os.replace(temp_original, original)
        os.replace(temp_replay, replay)
    finally:
        for temp in (temp_original, temp_replay):
            temp.unlink(missing_ok=True)
    return FinalizeResult(
        duration_ms=capture.duration_ms,
        m4a_duration_ms=m4a_ms,
        packets=len(capture.packets),
        peaks=[round(float(p), 3) for p in peaks],
        turns=capture.turns,
        segments=capture.segments,
        problems=capture.problems,
        original=original,
        replay=replay,
        replay_bytes=replay.stat().st_size,
    )
