"""Every write of the recordings app, one module per sub-domain:

- ``replays``: capture bookkeeping, the finalizing chain's steps, plays, removal;
- ``transcripts``: live caption lines, the chain's transcript step, the host's corrections;
- ``clips``: making, cutting and deleting clips, the host's clipping switch;
- ``podcast``: the host's podcast switch;
- ``access``: the host-only rule the host's changes share.

The public names of each are re-exported here, with where the files are (``recordings.files``; the
live capture's directory and switch from ``rooms.live.capture``, which writes it), so
``recordings.services.<name>`` works for all of them.
"""

from rooms.live.capture import capture_directory, room_is_recorded

from ..files import ClipFiles, RecordingFiles
from .clips import (
    clip_create_from_replay,
    clip_create_live,
    clip_cut,
    clip_delete,
    clip_dispatch,
    clip_fail,
    clip_remove,
    clips_remove_of_recording,
    recording_set_clipping,
    seconds_label,
)
from .podcast import recording_set_podcast
from .replays import (
    PLAYS_PER_ADDRESS_PER_HOUR,
    SESSION_PLAYED_KEY,
    SESSION_VIEWED_KEY,
    recording_count_play,
    recording_delete,
    recording_end_capture,
    recording_fail,
    recording_finalize,
    recording_make_artwork,
    recording_note_view,
    recording_process,
    recording_publish,
    recording_remove,
    recording_retry,
    recording_start_capture,
    recordings_redispatch_stuck,
)
from .transcripts import (
    recording_transcribe,
    transcript_add_live_line,
    transcript_delete,
    transcript_line_correct,
    transcript_note_captions_off,
    transcript_note_gap,
    transcript_remove,
)

__all__ = [
    "PLAYS_PER_ADDRESS_PER_HOUR",
    "SESSION_PLAYED_KEY",
    "SESSION_VIEWED_KEY",
    "ClipFiles",
    "RecordingFiles",
    "capture_directory",
    "clip_create_from_replay",
    "clip_create_live",
    "clip_cut",
    "clip_delete",
    "clip_dispatch",
    "clip_fail",
    "clip_remove",
    "clips_remove_of_recording",
    "recording_count_play",
    "recording_delete",
    "recording_end_capture",
    "recording_fail",
    "recording_finalize",
    "recording_make_artwork",
    "recording_note_view",
    "recording_process",
    "recording_publish",
    "recording_remove",
    "recording_retry",
    "recording_set_clipping",
    "recording_set_podcast",
    "recording_start_capture",
    "recording_transcribe",
    "recordings_redispatch_stuck",
    "room_is_recorded",
    "seconds_label",
    "transcript_add_live_line",
    "transcript_delete",
    "transcript_line_correct",
    "transcript_note_captions_off",
    "transcript_note_gap",
    "transcript_remove",
]
