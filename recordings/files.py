"""Where a recording's and a clip's files are. Services write them, selectors, views and the data export
read them: every path is named here once, with one fixed name per file, so every run of a task writes
the same files."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from rooms.live.capture import capture_directory

from . import finalize


@dataclass(frozen=True)
class RecordingFiles:
    """A room's recording files: one fixed name each, so every run of a task writes the same files."""

    room_id: int

    @property
    def directory(self) -> Path:
        return Path(settings.MEDIA_ROOT) / "recordings" / str(self.room_id)

    @property
    def capture(self) -> Path:
        # Written by the live machinery, inside this directory (rooms/live/capture.py).
        return capture_directory(self.room_id)

    @property
    def original(self) -> Path:
        return self.directory / finalize.ORIGINAL_NAME

    @property
    def replay(self) -> Path:
        return self.directory / finalize.REPLAY_NAME

    @property
    def cover(self) -> Path:
        return self.directory / "cover.jpg"

    @property
    def waveform(self) -> Path:
        return self.directory / "waveform.png"


@dataclass(frozen=True)
class ClipFiles:
    """A clip's files, under the recordings tree so the web server's protected location serves them too."""

    clip_id: int

    @property
    def root(self) -> Path:
        return Path(settings.MEDIA_ROOT) / "recordings"

    @property
    def directory(self) -> Path:
        return self.root / "clips" / str(self.clip_id)

    @property
    def audio(self) -> Path:
        return self.directory / "clip.ogg"

    @property
    def waveform(self) -> Path:
        return self.directory / "waveform.png"


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` under a temporary name and rename it into place: a reader (or a task killed
    half-way and run again) only ever sees a complete file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
