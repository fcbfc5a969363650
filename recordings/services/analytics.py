"""Writes for the host's report (rooms/analytics/, docs/analytics.md): how long each counted replay
play was listened to, and clip plays."""

from django.db.models import F

from rooms.ratelimit import get_rate_limiter

from ..models import Clip, Recording, ReplayPlay

SESSION_PLAYS_KEY = "recordings_play_ids"
SESSION_CLIPS_PLAYED_KEY = "clips_played"
# Clip plays counted from one client address for one clip per hour (an embed has no session).
CLIP_PLAYS_PER_ADDRESS_PER_HOUR = 10


def replay_play_started(*, recording: Recording, session) -> ReplayPlay:
    """A play was counted (recording_count_play): keep it, and let this session report its length."""
    play = ReplayPlay.objects.create(recording=recording)
    plays = dict(session.get(SESSION_PLAYS_KEY, {}))
    plays[str(recording.pk)] = play.pk
    session[SESSION_PLAYS_KEY] = dict(list(plays.items())[-200:])
    return play


def replay_note_listened(*, recording: Recording, session, listened_ms: int) -> bool:
    """The player says it has played `listened_ms` of this session's counted play: keep the longest
    (a report sent twice, or late, changes nothing). False when this session has no counted play."""
    play_id = session.get(SESSION_PLAYS_KEY, {}).get(str(recording.pk))
    if play_id is None:
        return False
    listened = max(0, min(int(listened_ms), recording.duration_ms or int(listened_ms)))
    ReplayPlay.objects.filter(pk=play_id, recording=recording, listened_ms__lt=listened).update(
        listened_ms=listened
    )
    return True


def clip_count_play(*, clip: Clip, session=None, address: str = "") -> bool:
    """Count a play of a ready clip once per viewer session, or (an embed, which has none) at most
    CLIP_PLAYS_PER_ADDRESS_PER_HOUR times an hour from one address. Returns whether it counted."""
    if clip.status != Clip.Status.READY:
        return False
    if session is not None:
        played = list(session.get(SESSION_CLIPS_PLAYED_KEY, []))
        if clip.pk in played:
            return False
        session[SESSION_CLIPS_PLAYED_KEY] = (played + [clip.pk])[-500:]
    if address and not get_rate_limiter().allow(
        f"clip-plays:{clip.pk}:{address}",
        per_second=CLIP_PLAYS_PER_ADDRESS_PER_HOUR / 3600,
        burst=CLIP_PLAYS_PER_ADDRESS_PER_HOUR,
    ):
        return False
    Clip.objects.filter(pk=clip.pk).update(play_count=F("play_count") + 1)
    return True
