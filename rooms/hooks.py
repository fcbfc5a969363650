"""What the apps above rooms do at points of a room's life.

rooms imports none of the apps above it (docs/architecture.md: spaces_project, then accounts, rooms,
recordings, moderation). Yet when a recorded room goes live or ends, when its captions go off and
when a caption line is heard, recordings has its part to do in the same transaction or the same
delivery: open the recording, start finalizing it, keep the live transcript or note its gap. Each app
above rooms registers here the function that does its part, from its ``AppConfig.ready``; rooms calls
every function registered for an event, in the order the apps start (``INSTALLED_APPS``), at the
point of its own work where that part belongs. What is registered today:

``on_room_live(room=)``
    Called by ``room_create`` (a room started at once) and ``room_start``, inside their transaction,
    once the host is seated on stage and before the going-live announcement is queued.
    Registered: ``recordings.services.replays.recording_start_capture`` (a recorded room's recording
    and its live transcript open).

``on_room_end(room=)``
    Called whenever a live room ends (``room_end``, ``room_force_end``, ``room_end_abandoned``), inside
    their transaction, after the room is ended and ``room.ended`` is queued for after the commit.
    Registered: ``recordings.services.replays.recording_end_capture`` (a recorded room's recording
    goes to processing; its finalizing chain starts once the transaction commits).

``on_captions_off(room=)``
    Called by ``room_set_captions`` when a host or co-host turns the captions off, inside its
    transaction.
    Registered: ``recordings.services.transcripts.transcript_note_captions_off`` (a recorded room's
    transcript will come from the recording instead: the live one has a gap).

``on_caption_line(room_id=, user_id=, speaker_name=, text=, wall_start_ms=, wall_end_ms=)``
    Called for each final caption line that has text, by the process delivering the lines
    (rooms/live/captions.py's CaptionSink), once the line is published to the room.
    Registered: ``recordings.services.transcripts.transcript_add_live_line`` (kept as a line of a
    recorded room's live transcript).

``on_caption_gap(room_id=)``
    Called for a "skipped" caption line (the recognizer fell behind and lost some of a voice), by the
    same process, once the line is published.
    Registered: ``recordings.services.transcripts.transcript_note_gap`` (as when captions go off).

A hook called inside a transaction writes with it (it commits or rolls back with the rest) and what
it starts goes out after the commit; an exception is the caller's, as any other would be. The caption
hooks run outside any transaction, in the thread that delivers lines, which logs a failure and goes on
with the next line. Registries as in accounts/hooks.py: each says what it is called with, the order is
the apps' order. tests/rooms/test_hooks.py holds the list above to what is registered.
"""

from typing import Protocol

from accounts.hooks import Registry

from .models import Room


class OnRoomLive(Protocol):
    def __call__(self, *, room: Room) -> object: ...


class OnRoomEnd(Protocol):
    def __call__(self, *, room: Room) -> object: ...


class OnCaptionsOff(Protocol):
    def __call__(self, *, room: Room) -> object: ...


class OnCaptionLine(Protocol):
    def __call__(
        self,
        *,
        room_id: int,
        user_id: int,
        speaker_name: str,
        text: str,
        wall_start_ms: float,
        wall_end_ms: float,
    ) -> object: ...


class OnCaptionGap(Protocol):
    def __call__(self, *, room_id: int) -> object: ...


on_room_live: Registry[OnRoomLive] = Registry("on_room_live")
on_room_end: Registry[OnRoomEnd] = Registry("on_room_end")
on_captions_off: Registry[OnCaptionsOff] = Registry("on_captions_off")
on_caption_line: Registry[OnCaptionLine] = Registry("on_caption_line")
on_caption_gap: Registry[OnCaptionGap] = Registry("on_caption_gap")

REGISTRIES = (on_room_live, on_room_end, on_captions_off, on_caption_line, on_caption_gap)
