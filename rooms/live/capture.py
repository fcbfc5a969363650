"""Where and whether the mixer records a live room: the capture is what the live machinery writes
(rooms/audio/capture.py's segments); recordings finalizes it into the replay once the room ends.

The capture sits inside the room's recording tree (recordings.files.RecordingFiles, whose
``capture_prefix`` is this one), so a replay's files stay under one tree that only the permission
check serves.

On disk (MEDIA_STORAGE=local) the mixer writes the segments in place. With MEDIA_STORAGE=s3 the
finalizer may run on another machine than the mixer, so the capture goes to the bucket
(``StoredCapture``): the mixer writes each segment in a temporary directory of its own, uploads the
open segment every RECORDINGS_CAPTURE_UPLOAD_S (a mixer that dies loses at most that), and starts a
new segment every RECORDINGS_CAPTURE_SEGMENT_S, so no upload is ever larger than one segment.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from pathlib import Path

from django.conf import settings

from spaces_project import media

from ..audio.capture import SEGMENT_PATTERN, CaptureWriter
from ..audio.wire import FRAME_MS
from ..models import Room

logger = logging.getLogger(__name__)


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

    Segments are written locally as 1, 2, 3... and stored after the ones already in the store (a
    mixer taking the room over goes on after them), found at the first flush. The next segment is
    uploaded before the one it follows is ended, so the store's newest segment has no end-of-stream
    page until the capture is closed: that is how the finalizer tells a capture still being written
    from a finished one, with the quiet rule for a dead mixer. An upload that fails is tried again
    at the next flush; the local copy stays until it succeeds.
    """

    def __init__(self, room_id: int, *, started_ms: float, segment_s: float, upload_s: float) -> None:
        self.room_id = room_id
        self.prefix = capture_prefix(room_id)
        self.segment_ms = segment_s * 1000
        self.upload_s = upload_s
        self.spool = Path(tempfile.mkdtemp(prefix=f"spaces-capture-{room_id}-"))
        self._swap = threading.Lock()  # guards self.writer between write() and a rotation
        self._io = threading.Lock()  # one flush or close at a time
        self._unsent: list[CaptureWriter] = []  # ended segments not uploaded yet
        self._stored_before: int | None = None  # the newest stored segment's number before ours
        self._uploaded_at = 0.0
        self.packets = 0
        self.closed = False
        self.writer = self._open(started_ms)

    def _open(self, started_ms: float) -> CaptureWriter:
        return CaptureWriter(self.spool, started_ms=started_ms, auto_flush=False, fsync=False)

    def write(self, sequence: int, mixed_ms: float, packet: bytes, voices: frozenset[int]) -> None:
        with self._swap:
            if self.closed:
                return
            self.writer.write(sequence, mixed_ms, packet, voices)
            self.packets += 1

    def stored_number(self, writer: CaptureWriter) -> int | None:
        """The number ``writer``'s segment has in the store (None until the store was read)."""
        return None if self._stored_before is None else self._stored_before + writer.number

    def _upload(self, writer: CaptureWriter) -> bool:
        try:
            if self._stored_before is None:
                stored = stored_segment_numbers(self.room_id)
                self._stored_before = stored[-1] if stored else 0
            name = f"{self.prefix}segment-{self.stored_number(writer):04d}"
            media.upload(writer.path, name + ".ogg")
            if writer.timeline_path.exists():
                media.upload(writer.timeline_path, name + ".timeline.jsonl")
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
                writer.path.unlink(missing_ok=True)
                writer.timeline_path.unlink(missing_ok=True)

    def flush(self) -> None:
        with self._io:
            if self.closed:
                return
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
            elif self._stored_before is None or time.monotonic() - self._uploaded_at >= self.upload_s:
                self._upload_open(writer)

    def close(self) -> None:
        """End the stream, upload what is left and remove the temporary directory (kept, and said
        so, if an upload fails: the audio is then only there)."""
        with self._io:
            if self.closed:
                return
            with self._swap:
                self.closed = True
            self.writer.close()
            self._unsent.append(self.writer)
            self._send_ended()
            if self._unsent:
                logger.error(
                    "capture of room %s: %d segment(s) not uploaded, left in %s",
                    self.room_id,
                    len(self._unsent),
                    self.spool,
                )
            else:
                shutil.rmtree(self.spool, ignore_errors=True)
            logger.info("capture of room %s closed: %d ms stored", self.room_id, self.duration_ms)

    @property
    def duration_ms(self) -> int:
        return self.packets * FRAME_MS

    def __enter__(self) -> StoredCapture:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
