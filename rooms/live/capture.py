"""Where and whether the mixer records a live room: the capture is what the live machinery writes
(rooms/audio/capture.py's segments); recordings finalizes it into the replay once the room ends.

The capture sits inside the room's recording tree (recordings.files.RecordingFiles, whose
``capture_prefix`` is this one), so a replay's files stay under one tree that only the permission
check serves.

On disk (MEDIA_STORAGE=local) the mixer writes the segments in place. With MEDIA_STORAGE=s3 the
finalizer may run on another machine than the mixer, so the capture goes to the bucket
(``StoredCapture``): the mixer keeps the open segment in memory (never in a file: a dead mixer
leaves nothing on its machine), uploads it every RECORDINGS_CAPTURE_UPLOAD_S, and starts a new
segment every RECORDINGS_CAPTURE_SEGMENT_S, so no upload is ever larger than one segment. What a
mixer that dies had not uploaded yet is not lost: its warm standby mixed the same room, keeps its
last BACK_FILL_S of program packets (rooms/live/runner.py), and when it takes the room over writes
those that come after the stored capture's end before its own (``StoredCapture.back_fill``).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from django.conf import settings

from spaces_project import media

from ..audio.capture import SEGMENT_PATTERN, CaptureWriter, timeline_end_ms
from ..audio.wire import FRAME_MS
from ..models import Room

logger = logging.getLogger(__name__)

# A program packet as the mixer hands it over: (sequence, mixed_ms, packet, voices).
Packet = tuple[int, float, bytes, frozenset[int]]


def capture_prefix(room_id: int) -> str:
    """The media name of a room's capture segments (disk or bucket)."""
    return f"{media.tree('recordings')}{room_id}/capture/"


def capture_directory(room_id: int) -> Path:
    """Where the mixer writes a room's capture segments on disk (MEDIA_STORAGE=local)."""
    return media.local_path(capture_prefix(room_id))


def stored_segment_numbers(room_id: int) -> list[int]:
    """The numbers of the segments of a room's capture in the store, in order."""
    numbers = []
    for item in media.objects(capture_prefix(room_id)):
        match = SEGMENT_PATTERN.match(item.name.rsplit("/", 1)[-1])
        if match:
            numbers.append(int(match.group(1)))
    return sorted(numbers)


def room_is_recorded(room_id: int) -> bool:
    """Whether a mixer running the room now should capture its program mix."""
    return Room.objects.filter(pk=room_id, is_recorded=True, state=Room.State.LIVE).exists()


def open_capture(room_id: int) -> CaptureWriter | StoredCapture | None:
    """A capture writer for the room's recording, or None when the room is not being recorded."""
    if not room_is_recorded(room_id):
        return None
    if media.is_local():
        return CaptureWriter(capture_directory(room_id), started_ms=time.time() * 1000, auto_flush=False)
    return StoredCapture(
        room_id,
        started_ms=time.time() * 1000,
        segment_s=settings.RECORDINGS_CAPTURE_SEGMENT_S,
        upload_s=settings.RECORDINGS_CAPTURE_UPLOAD_S,
    )


class StoredCapture:
    """A room's capture kept in object storage, with CaptureWriter's interface (``write`` from the
    mixer's clock, never touching the disk or the network; ``flush`` and ``close`` from a worker
    thread, one at a time). Opening it touches neither either, so no packet waits for the store.

    The open segment is kept in memory (CaptureWriter with no directory), never in a file: a mixer
    killed with ``kill -9`` leaves nothing on its machine, and what it had not uploaded yet its
    standby writes (``back_fill``).

    Segments are numbered after the ones already in the store (a mixer taking the room over goes on
    after them), found at the first flush. The next segment is uploaded before the one it follows is
    ended, so the store's newest segment has no end-of-stream page until the capture is closed: that
    is how the finalizer tells a capture still being written from a finished one, with the quiet rule
    for a dead mixer. An upload that fails is tried again at the next flush; the segment stays in
    memory until it succeeds.

    Back-fill: a mixer that took the room over as its standby hands ``back_fill`` the program packets
    it mixed before it held the room (the standby mixes what it hears, rooms/live/runner.py). Until
    the first flush has read where the stored capture ends (the end mark of the newest stored
    segment's timeline, in the room's time), those packets and every one written meanwhile are held;
    then the ones that start before that end (the dead mixer stored them) are dropped and the rest
    open the segment, followed by the live ones: the replay goes on where the stored capture stopped,
    with no packet twice and no hole beyond what no mixer mixed.
    """

    def __init__(self, room_id: int, *, started_ms: float, segment_s: float, upload_s: float) -> None:
        self.room_id = room_id
        self.prefix = capture_prefix(room_id)
        self.segment_ms = segment_s * 1000
        self.upload_s = upload_s
        self.started_ms = started_ms
        self._swap = threading.Lock()  # guards self.writer and self._held between write() and flush()
        self._io = threading.Lock()  # one flush or close at a time
        self._unsent: list[CaptureWriter] = []  # ended segments not uploaded yet
        self._stored_before: int | None = None  # the newest stored segment's number before ours
        self._uploaded_at = 0.0
        self._numbered = 0  # segments opened so far
        self.captured = 0  # packets that went into our segments
        # Packets waiting for the stored capture's end to be known (None once it is): the back-fill,
        # then what write() got before the first flush.
        self._held: list[Packet] | None = None
        self.stored_end_ms: float | None = None  # where the stored capture ended, once read
        self.back_filled = 0  # packets of the back-fill that went into the capture
        self.packets = 0
        self.closed = False
        self.writer = self._open(started_ms)

    def _open(self, started_ms: float) -> CaptureWriter:
        self._numbered += 1
        return CaptureWriter(
            None, started_ms=started_ms, auto_flush=False, mark_ends=True, number=self._numbered
        )

    def back_fill(self, packets: list[Packet]) -> None:
        """Put ``packets`` (sequence, mixed_ms, packet, voices; oldest first, all mixed before any
        ``write``) before what is written next, from the end of the stored capture on. Call before
        the first ``write`` (from the mixer's clock: it touches neither the disk nor the network)."""
        with self._swap:
            if self.closed or self.packets or self._held is not None:
                raise RuntimeError("back_fill comes before any write, once")
            self._held = list(packets)

    def write(self, sequence: int, mixed_ms: float, packet: bytes, voices: frozenset[int]) -> None:
        with self._swap:
            if self.closed:
                return
            if self._held is not None:
                self._held.append((sequence, mixed_ms, packet, voices))
            else:
                self.writer.write(sequence, mixed_ms, packet, voices)
                self.captured += 1
            self.packets += 1

    def stored_number(self, writer: CaptureWriter) -> int | None:
        """The number ``writer``'s segment has in the store (None until the store was read)."""
        return None if self._stored_before is None else self._stored_before + writer.number

    def _read_store(self) -> None:
        """Number our segments after the stored ones and, with a back-fill, find where the stored
        capture ends (the newest end mark of its last two segments: the newest may be a segment its
        mixer had only just opened)."""
        stored = stored_segment_numbers(self.room_id)
        if self._held is not None:
            ends = []
            for number in stored[-2:]:
                timeline = media.read_bytes(f"{self.prefix}segment-{number:04d}.timeline.jsonl")
                end = timeline_end_ms(timeline.decode("utf-8", "replace"))
                if end is not None:
                    ends.append(end)
            self.stored_end_ms = max(ends, default=None)
            self._place_held()
        self._stored_before = stored[-1] if stored else 0

    def _place_held(self) -> None:
        """Start the segment with the held packets that begin at or after the stored end."""
        end = self.stored_end_ms
        with self._swap:
            held, self._held = self._held, None
            filling = len(held) - self.packets  # the first ones are the back-fill, the rest write()s
            kept = [n for n, item in enumerate(held) if end is None or item[1] >= end - FRAME_MS / 2]
            self.back_filled = sum(1 for n in kept if n < filling)
            if kept:
                # The segment starts with its first packet (the writer held none yet).
                self.writer = CaptureWriter(
                    None,
                    started_ms=held[kept[0]][1],
                    auto_flush=False,
                    mark_ends=True,
                    number=self.writer.number,
                )
            for n in kept:
                self.writer.write(*held[n])
            self.captured += len(kept)
        logger.info(
            "capture of room %s: stored capture ends at %s; back-filled %d ms",
            self.room_id,
            end,
            self.back_filled * FRAME_MS,
        )

    def _upload(self, writer: CaptureWriter) -> bool:
        try:
            name = f"{self.prefix}segment-{self.stored_number(writer):04d}"
            media.save_bytes(name + ".ogg", writer.audio_bytes())
            media.save_bytes(name + ".timeline.jsonl", writer.timeline_bytes())
        except Exception:
            logger.exception("could not upload capture segment %s of room %s", writer.number, self.room_id)
            return False
        return True

    def _upload_open(self, writer: CaptureWriter) -> None:
        if self._upload(writer):
            self._uploaded_at = time.monotonic()

    def _send_ended(self) -> None:
        for writer in list(self._unsent):
            if self._upload(writer):
                self._unsent.remove(writer)

    def _store_read(self) -> bool:
        """Read the store once (see ``_read_store``); False if it could not be read."""
        if self._stored_before is None:
            try:
                self._read_store()
            except Exception:
                logger.exception("could not read the stored capture of room %s", self.room_id)
                return False
        return True

    def flush(self) -> None:
        with self._io:
            if self.closed or not self._store_read():
                return  # nothing is numbered yet: the packets stay in memory until the next flush
            first = self._uploaded_at == 0.0
            writer = self.writer
            writer.flush()
            self._send_ended()
            if writer.duration_ms >= self.segment_ms:
                following = self._open(time.time() * 1000)
                # Its header is in the store before the old segment ends (see the class).
                self._upload_open(following)
                with self._swap:
                    self.writer = following
                writer.close()
                self._unsent.append(writer)
                self._send_ended()
            elif first or time.monotonic() - self._uploaded_at >= self.upload_s:
                self._upload_open(writer)

    def close(self) -> None:
        """End the stream and upload what is left (if an upload fails, say so: that audio is lost
        with the process)."""
        with self._io:
            if self.closed:
                return
            with self._swap:
                self.closed = True
            if not self._store_read():
                logger.error("capture of room %s: the store could not be read; nothing stored", self.room_id)
                return
            self.writer.close()
            self._unsent.append(self.writer)
            self._send_ended()
            if self._unsent:
                logger.error(
                    "capture of room %s: %d segment(s) could not be uploaded", self.room_id, len(self._unsent)
                )
            logger.info("capture of room %s closed: %d ms stored", self.room_id, self.duration_ms)

    @property
    def duration_ms(self) -> int:
        return self.captured * FRAME_MS

    def __enter__(self) -> StoredCapture:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
