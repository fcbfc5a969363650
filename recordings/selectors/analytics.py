"""Reads for the host's report: a room's replay and clip plays (rooms/analytics/ has the rest)."""

import statistics
from dataclasses import dataclass

from django.db.models import Sum

from ..models import Clip, Recording, ReplayPlay


@dataclass
class ReplayFigures:
    plays: int = 0
    median_listen_ms: float = 0.0
    clip_plays: int = 0
    clips: int = 0


def replay_figures(*, room) -> ReplayFigures:
    """Replay plays (every counted play), the median time a play was listened to (plays whose player
    reported it), and the plays of the room's clips."""
    recording = Recording.objects.filter(room=room).exclude(status=Recording.Status.REMOVED).first()
    if recording is None:
        return ReplayFigures()
    listened = [
        ms
        for ms in ReplayPlay.objects.filter(recording=recording).values_list("listened_ms", flat=True)
        if ms
    ]
    clips = Clip.objects.filter(recording=recording, status=Clip.Status.READY)
    return ReplayFigures(
        plays=recording.play_count,
        median_listen_ms=statistics.median(listened) if listened else 0.0,
        clip_plays=clips.aggregate(n=Sum("play_count"))["n"] or 0,
        clips=clips.count(),
    )


def replay_plays_by_room(*, room_ids: list[int]) -> dict[int, int]:
    """Each room's replay plays, for the host's report across rooms."""
    return dict(
        Recording.objects.filter(room_id__in=room_ids)
        .exclude(status=Recording.Status.REMOVED)
        .values_list("room_id", "play_count")
    )
