"""Where a recording's and a clip's files are. Services write them, selectors, views and the data export
read them: every file is named here once, with one fixed name per file, so every run of a task writes
the same files.

Each file has a media *name* (``recordings/12/replay.m4a``): its path under MEDIA_ROOT on disk and its
key in the bucket with MEDIA_STORAGE=s3 (spaces_project/media.py reads and writes either way). The
``Path`` properties say where the file is on disk in local mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rooms.live.capture import capture_directory, capture_prefix
from spaces_project import media

from . import finalize

RECORDINGS = media.tree("recordings")
COVER_NAME = "cover.jpg"
WAVEFORM_NAME = "waveform.png"
CLIP_AUDIO_NAME = "clip.ogg"


@dataclass(frozen=True)
class RecordingFiles:
    """A room's recording files: one fixed name each, so every run of a task writes the same files."""

    room_id: int

    # -- media names (disk or bucket) ---------------------------------------------------------------

    @property
    def prefix(self) -> str:
        return f"{RECORDINGS}{self.room_id}/"

    @property
    def capture_prefix(self) -> str:
        # Written by the live machinery, inside this tree (rooms/live/capture.py).
        return capture_prefix(self.room_id)

    @property
    def original_name(self) -> str:
        return self.prefix + finalize.ORIGINAL_NAME

    @property
    def replay_name(self) -> str:
        return self.prefix + finalize.REPLAY_NAME

    @property
    def cover_name(self) -> str:
        return self.prefix + COVER_NAME

    @property
    def waveform_name(self) -> str:
        return self.prefix + WAVEFORM_NAME

    # -- on disk (MEDIA_STORAGE=local) ------------------------------------------------------------

    @property
    def directory(self) -> Path:
        return media.local_path(self.prefix)

    @property
    def capture(self) -> Path:
        return capture_directory(self.room_id)

    @property
    def original(self) -> Path:
        return media.local_path(self.original_name)

    @property
    def replay(self) -> Path:
        return media.local_path(self.replay_name)

    @property
    def cover(self) -> Path:
        return media.local_path(self.cover_name)

    @property
    def waveform(self) -> Path:
        return media.local_path(self.waveform_name)


@dataclass(frozen=True)
class ClipFiles:
    """A clip's files, under the recordings tree so the web server's protected location serves them too."""

    clip_id: int

    @property
    def prefix(self) -> str:
        return f"{RECORDINGS}clips/{self.clip_id}/"

    @property
    def audio_name(self) -> str:
        return self.prefix + CLIP_AUDIO_NAME

    @property
    def waveform_name(self) -> str:
        return self.prefix + WAVEFORM_NAME

    @property
    def root(self) -> Path:
        return media.local_path(RECORDINGS)

    @property
    def directory(self) -> Path:
        return media.local_path(self.prefix)

    @property
    def audio(self) -> Path:
        return media.local_path(self.audio_name)

    @property
    def waveform(self) -> Path:
        return media.local_path(self.waveform_name)
