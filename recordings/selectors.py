"""Reads about recordings. Who may listen to a replay is decided here, in one place."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import User
from accounts.selectors import is_blocked_between
from rooms.models import Participant, Room
from spaces_project.errors import NotFound, ServiceError

from .models import Recording


def recording_get_for_listener(*, recording_id: int, viewer) -> Recording:
    """Return the recording if `viewer` may see its page and hear it; raise otherwise.

    The rule: whoever could have joined the room may replay it. The host always; nobody the host
    blocked or who blocked the host; not a suspended account, nor someone removed from the room;
    visitors who are not signed in only if the room let anonymous listeners in. Ticketed rooms
    extend this rule here. NotFound never reveals that a hidden recording exists;
    ServiceError("sign_in_required") tells a visitor that signing in may help.
    """
    recording = (
        Recording.objects.select_related("room__host")
        .exclude(status=Recording.Status.REMOVED)
        .filter(pk=recording_id)
        .first()
    )
    if recording is None:
        raise NotFound("This recording does not exist.")
    room = recording.room
    if getattr(viewer, "is_authenticated", False) and viewer.pk == room.host_id:
        return recording
    if not getattr(viewer, "is_authenticated", False):
        if not room.allow_anonymous:
            raise ServiceError("sign_in_required", "Sign in to listen to this replay.")
        return recording
    if is_blocked_between(a=viewer, b=room.host):
        raise NotFound("This recording does not exist.")
    if viewer.is_suspended:
        raise ServiceError("suspended", "Your account is suspended.")
    if Participant.objects.filter(room=room, user=viewer, is_removed=True).exists():
        raise ServiceError("removed", "You were removed from this room, so you cannot replay it.")
    return recording


def recording_get_for_host(*, recording_id: int, actor) -> Recording:
    """Return the recording for its host to download or delete; not_allowed for anyone else."""
    recording = recording_get_for_listener(recording_id=recording_id, viewer=actor)
    if not getattr(actor, "is_authenticated", False) or actor.pk != recording.room.host_id:
        raise ServiceError("not_allowed", "Only the host can do that.")
    return recording


def recording_of_room(*, room: Room) -> Recording | None:
    return Recording.objects.exclude(status=Recording.Status.REMOVED).filter(room=room).first()


@dataclass
class Step:
    label: str
    done: bool
    active: bool


def recording_progress(*, recording: Recording) -> list[Step]:
    """The finalizing steps as the replay page shows them while it waits."""
    processing = recording.status == Recording.Status.PROCESSING
    done = [
        recording.status != Recording.Status.CAPTURING,
        recording.finalized_at is not None,
        recording.transcribed_at is not None,
        recording.artwork_at is not None,
        recording.status == Recording.Status.READY,
    ]
    labels = [
        "Room ended, recording stopped",
        "Checking the capture and writing the audio",
        "Writing the transcript",
        "Drawing the cover and the waveform",
        "Publishing the replay",
    ]
    first_open = next((i for i, is_done in enumerate(done) if not is_done), None)
    if processing and first_open == 2:
        from .services import recording_transcribe_progress

        percent = recording_transcribe_progress(recording_id=recording.pk)
        if percent is not None:
            labels[2] = f"Writing the transcript ({percent}%)"
    return [
        Step(label, is_done, processing and i == first_open)
        for i, (label, is_done) in enumerate(zip(labels, done, strict=True))
    ]


def recording_status_payload(*, recording: Recording) -> dict:
    return {
        "status": recording.status,
        "ready": recording.status == Recording.Status.READY,
        "failed": recording.status == Recording.Status.FAILED,
        "steps": [
            {"label": s.label, "done": s.done, "active": s.active}
            for s in recording_progress(recording=recording)
        ],
    }


def clock(ms: int) -> str:
    """A position or a length as a player shows it: 4:05, or 1:02:03 past an hour."""
    seconds = int(ms // 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


@dataclass
class Turn:
    user_id: int
    name: str
    start_ms: int
    end_ms: int

    @property
    def start_label(self) -> str:
        return clock(self.start_ms)


def recording_turns(*, recording: Recording) -> list[Turn]:
    """Who spoke when, with names (someone whose account is gone is "Someone")."""
    ids = {turn[0] for turn in recording.turns}
    names = {user.pk: user.name for user in User.objects.filter(pk__in=ids)}
    return [
        Turn(user_id, names.get(user_id, "Someone"), start_ms, end_ms)
        for user_id, start_ms, end_ms in recording.turns
    ]


def recording_speakers(*, turns: list[Turn], duration_ms: int) -> list[dict]:
    """One row per voice for the timeline: their turns as percentages of the replay."""
    rows: dict[int, dict] = {}
    total = max(1, duration_ms)
    for turn in turns:
        row = rows.setdefault(
            turn.user_id, {"user_id": turn.user_id, "name": turn.name, "turns": [], "talk_ms": 0}
        )
        row["turns"].append(
            {
                "start_ms": turn.start_ms,
                "end_ms": turn.end_ms,
                "start_label": turn.start_label,
                "left": round(100 * turn.start_ms / total, 3),
                "width": round(max(0.3, 100 * (turn.end_ms - turn.start_ms) / total), 3),
            }
        )
        row["talk_ms"] += turn.end_ms - turn.start_ms
    return sorted(rows.values(), key=lambda row: -row["talk_ms"])
