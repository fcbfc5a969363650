"""Capture a room's program mix to Ogg Opus while it is live, as the mixer produces it. No Django here.

The mixer hands every 20 ms program packet to ``CaptureWriter.write``; nothing is re-encoded. The
writer keeps at most about a second in memory and writes it as whole Ogg pages on ``flush`` (fsynced),
so a mixer killed at any moment loses at most that second. Each writer opens the next
``segment-NNNN.ogg`` in the capture directory: a mixer that takes the room over after a crash goes on
with the same recording in a new segment, and finalizing (recordings/finalize.py) joins the segments
in order.

Beside each segment, ``segment-NNNN.timeline.jsonl`` says who was heard when: a first line with the
segment's wall-clock start, then a line each time the set of voices changes::

    {"segment": 1, "started_ms": 1700000000000.0, "pre_skip": 312}
    {"at_ms": 1520, "mixed_ms": 1700000001520.0, "voices": [7, 12]}

``at_ms`` counts the segment's audio (20 ms a packet), so it stays right when the clock stalls.
A writer made with ``mark_ends=True`` also says, at each flush, where its audio ends in the room's
time (the last packet's ``mixed_ms`` plus one frame), so a mixer taking the room over knows from what
moment on its own recent packets are missing from the capture (rooms/live/capture.py)::

    {"end_at_ms": 3000, "end_mixed_ms": 1700000003010.0}

A writer made with no directory keeps its segment in memory (``audio_bytes``, ``timeline_bytes``):
rooms/live/capture.py uploads it to the bucket, so a mixer that dies leaves no file on its machine.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import threading
from pathlib import Path

from . import ogg
from .codec import DTX_PACKET
from .wire import FRAME_MS, FRAME_SAMPLES

SEGMENT_PATTERN = re.compile(r"^segment-(\d{4,})\.ogg$")
# Packets held in memory before ``write`` flushes them itself: one second.
FLUSH_EVERY_PACKETS = 1000 // FRAME_MS


def segment_paths(directory: Path) -> list[tuple[int, Path]]:
    """The segments in ``directory`` as (number, path), in recording order."""
    if not directory.is_dir():
        return []
    found = []
    for entry in directory.iterdir():
        match = SEGMENT_PATTERN.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry))
    return sorted(found)


def timeline_path(segment: Path) -> Path:
    return segment.with_name(segment.name.removesuffix(".ogg") + ".timeline.jsonl")


def timeline_end_ms(timeline: str) -> float | None:
    """Where a segment's audio ends in the room's time, by the last end mark of its timeline (None
    when it has none: nothing was flushed, or its writer did not mark ends)."""
    end = None
    for line in timeline.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line torn by a crash
        if "end_mixed_ms" in entry:
            end = float(entry["end_mixed_ms"])
    return end


class CaptureWriter:
    """Append one mixer's program packets to a new segment of a room's recording.

    ``write`` is called from the mixer's clock; with ``auto_flush=False`` it never touches the disk
    and ``flush`` may run in another thread (it takes what was written so far under a lock).

    With ``directory=None`` the segment (numbered ``number``) is kept in memory instead of a file:
    ``audio_bytes`` and ``timeline_bytes`` give what was flushed so far (whole pages and lines).
    """

    def __init__(
        self,
        directory: Path | None,
        *,
        started_ms: float,
        pre_skip: int = ogg.DEFAULT_PRE_SKIP,
        auto_flush: bool = True,
        fsync: bool = True,
        mark_ends: bool = False,
        number: int = 1,
    ) -> None:
        self.started_ms = started_ms
        self.auto_flush = auto_flush
        self.fsync = fsync
        self.mark_ends = mark_ends
        self.serial = secrets.randbits(32)
        self._audio = bytearray()  # the segment, when it is kept in memory
        self._timeline_text: list[str] = []
        if directory is None:
            self.directory = self.path = self.timeline_path = None
            self.number, self._audio_fd, self._timeline = number, None, None
        else:
            self.directory = Path(directory)
            self.directory.mkdir(parents=True, exist_ok=True)
            self.number, self.path, self._audio_fd = self._open_next_segment()
            self.timeline_path = timeline_path(self.path)
            self._timeline = open(self.timeline_path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close)
        self._last_mixed_ms: float | None = None
        self._lock = threading.Lock()  # guards what write() fills and flush() takes
        self._io_lock = threading.Lock()  # keeps pages in order when flushes overlap
        self._pending: list[bytes] = []
        self._pending_lines: list[str] = []
        self.packets = 0  # packets accepted by write()
        self._page_sequence = 2
        self._granule = 0
        self._voices: frozenset[int] = frozenset()
        self._next_sequence: int | None = None
        self.closed = False
        header = ogg.header_pages(serial=self.serial, pre_skip=pre_skip)
        first_line = {"segment": self.number, "started_ms": started_ms, "pre_skip": pre_skip}
        with self._io_lock:
            self._write_audio(header)
            self._write_lines(json.dumps(first_line) + "\n")
            self._sync()

    def _write_audio(self, data: bytes) -> None:
        if self._audio_fd is None:
            self._audio.extend(data)
        else:
            os.write(self._audio_fd, data)

    def _write_lines(self, text: str) -> None:
        if self._timeline is None:
            self._timeline_text.append(text)
        else:
            self._timeline.write(text)

    def audio_bytes(self) -> bytes:
        """The segment as flushed so far (in memory only): whole Ogg pages."""
        with self._io_lock:
            return bytes(self._audio)

    def timeline_bytes(self) -> bytes:
        """The segment's timeline as flushed so far (in memory only)."""
        with self._io_lock:
            return "".join(self._timeline_text).encode()

    def _open_next_segment(self) -> tuple[int, Path, int]:
        existing = segment_paths(self.directory)
        number = existing[-1][0] + 1 if existing else 1
        while True:
            path = self.directory / f"segment-{number:04d}.ogg"
            try:
                # O_EXCL: two mixers racing for a room after a takeover never share a segment.
                return number, path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
            except FileExistsError:
                number += 1

    def write(self, sequence: int, mixed_ms: float, packet: bytes, voices: frozenset[int]) -> None:
        """Append one 20 ms program packet (b"": the room was silent, a DTX packet keeps the time)."""
        if self.closed:
            return
        with self._lock:
            at_ms = self.packets * FRAME_MS
            if self._next_sequence is not None and sequence != self._next_sequence:
                missing = (sequence - self._next_sequence) & 0xFFFFFFFF
                self._pending_lines.append(json.dumps({"at_ms": at_ms, "sequence_gap": missing}))
            self._next_sequence = (sequence + 1) & 0xFFFFFFFF
            if voices != self._voices:
                self._voices = voices
                line = {"at_ms": at_ms, "mixed_ms": round(mixed_ms, 1), "voices": sorted(voices)}
                self._pending_lines.append(json.dumps(line))
            self._pending.append(bytes(packet) if packet else DTX_PACKET)
            self.packets += 1
            self._last_mixed_ms = mixed_ms
            due = len(self._pending) >= FLUSH_EVERY_PACKETS
        if due and self.auto_flush:
            self.flush()

    def flush(self, *, _final: bool = False) -> None:
        """Write what is pending as whole pages, then fsync: after this, a crash keeps it all."""
        with self._io_lock:
            with self._lock:
                packets, self._pending = self._pending, []
                lines, self._pending_lines = self._pending_lines, []
                if packets and self.mark_ends:
                    end = {
                        "end_at_ms": self.packets * FRAME_MS,
                        "end_mixed_ms": self._last_mixed_ms + FRAME_MS,
                    }
                    lines.append(json.dumps(end))
            if not packets and not lines and not _final:
                return
            pages = []
            flags = ogg.FLAG_EOS if _final else 0
            for page, granule in ogg.audio_pages(
                packets,
                serial=self.serial,
                first_sequence=self._page_sequence,
                first_granule=self._granule,
                samples_per_packet=FRAME_SAMPLES,
                last_flags=flags,
            ):
                pages.append(page)
                self._page_sequence += 1
                self._granule = granule
            if _final and not packets:
                # Nothing left to carry the end-of-stream flag: an empty last page does.
                pages.append(
                    ogg.build_page(
                        [],
                        serial=self.serial,
                        sequence=self._page_sequence,
                        granule=self._granule,
                        flags=flags,
                    )
                )
                self._page_sequence += 1
            # Timeline lines go after the audio they describe, so a crash between the two writes
            # never leaves a line pointing past the end of the segment.
            if pages:
                self._write_audio(b"".join(pages))
            if lines:
                self._write_lines("".join(line + "\n" for line in lines))
            self._sync()

    def _sync(self) -> None:
        if self._timeline is None:
            return
        self._timeline.flush()
        if self.fsync:
            os.fsync(self._audio_fd)
            os.fsync(self._timeline.fileno())

    def close(self) -> None:
        """Write the rest and end the stream (EOS page). Calling it again does nothing."""
        if self.closed:
            return
        self.flush(_final=True)
        self.closed = True
        if self._audio_fd is not None:
            os.close(self._audio_fd)
            self._timeline.close()

    @property
    def duration_ms(self) -> int:
        return self.packets * FRAME_MS

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
