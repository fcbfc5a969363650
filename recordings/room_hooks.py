"""What recordings does at points of a room's life (rooms/hooks.py): RecordingsConfig.ready registers
these services, each of which does the whole part."""

from rooms import hooks

from .services import (
    recording_end_capture,
    recording_start_capture,
    transcript_add_live_line,
    transcript_note_captions_off,
    transcript_note_gap,
)


def register() -> None:
    hooks.on_room_live.register(recording_start_capture)
    hooks.on_room_end.register(recording_end_capture)
    hooks.on_captions_off.register(transcript_note_captions_off)
    hooks.on_caption_line.register(transcript_add_live_line)
    hooks.on_caption_gap.register(transcript_note_gap)
