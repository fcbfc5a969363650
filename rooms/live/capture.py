"""Where and whether the mixer records a live room: the capture is what the live machinery writes
(rooms/audio/capture.py's segments); recordings finalizes it into the replay once the room ends.

The capture directory sits inside the room's recording directory (recordings.files.RecordingFiles,
whose ``capture`` is this directory), so a replay's files stay under one tree that the web server's
protected location serves.
"""

import time
from pathlib import Path

from django.conf import settings

from ..audio.capture import CaptureWriter
from ..models import Room


def capture_directory(room_id: int) -> Path:
    """Where the mixer writes a room's capture segments (rooms/audio/capture.py's CaptureWriter)."""
    return Path(settings.MEDIA_ROOT) / "recordings" / str(room_id) / "capture"


def room_is_recorded(room_id: int) -> bool:
    """Whether a mixer running the room now should capture its program mix."""
    return Room.objects.filter(pk=room_id, is_recorded=True, state=Room.State.LIVE).exists()


def open_capture(room_id: int) -> CaptureWriter | None:
    """A capture writer for the room's recording, or None when the room is not being recorded."""
    if not room_is_recorded(room_id):
        return None
    return CaptureWriter(capture_directory(room_id), started_ms=time.time() * 1000, auto_flush=False)
