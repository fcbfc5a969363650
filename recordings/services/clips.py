"""Every write about clips (issue 15). Views, the Celery task, moderation and admin call these.

Clips:
- Whoever may listen to a recorded room (recordings.selectors.recording_get_for_listener: ticket
  holders only for a ticketed room) and is signed in may clip it: "the last N seconds" (1 to 60)
  while it is live, or any stretch of 1 to 60 s of its replay. A clip needs an owner who can delete
  it, so visitors who are not signed in cannot clip.
- Not when the host turned clipping off for the room, and at most settings.CLIPS_PER_HOUR an hour
  per person.
- The clip is cut by a Celery task (recordings/tasks.py cut_clip -> clip_cut), dispatched once the
  row is committed; its Opus packets are copied, not re-encoded (recordings/clips.py).
- The clipper deletes their clip; the room's host deletes any clip of their room; a moderator
  removes a reported clip.
"""

from __future__ import annotations

import logging
import math
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from accounts.models import User
from rooms.models import Room
from rooms.ratelimit import get_rate_limiter
from rooms.selectors import room_get_for_viewer
from spaces_project import media
from spaces_project.errors import NotFound, ServiceError
from spaces_project.tasks import dispatch

from .. import artwork, clips, finalize
from ..files import CLIP_AUDIO_NAME, ClipFiles, RecordingFiles
from ..models import MAX_CLIP_MS, MIN_CLIP_MS, Clip, Recording, Transcript, TranscriptLine
from ..selectors import clip_get_for_viewer, recording_get_for_listener
from .access import locked_for_host

logger = logging.getLogger(__name__)

MAX_TITLE_LENGTH = 100
LIVE_CLIP_CHOICES = (30, 60)
# The clip must decode to its length within this (a player's view of it, checked after cutting).
DURATION_TOLERANCE_MS = 40


# -- making a clip ---------------------------------------------------------------------------------------


def _require_clipper(actor) -> None:
    if not getattr(actor, "is_authenticated", False):
        raise ServiceError("sign_in_required", _("Sign in to make a clip."))


def _require_clips_on(recording: Recording) -> None:
    if not recording.clips_enabled:
        raise ServiceError("clips_off", _("The host turned clipping off for this room."))


def _seconds(value, field: str) -> Decimal:
    """A position in seconds as a form or the player sends it ("12", "12.345")."""
    try:
        seconds = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ServiceError("bad_time", _("Give the clip's start and end in seconds."), field=field) from None
    if not seconds.is_finite() or seconds < 0:
        raise ServiceError("bad_time", _("Give the clip's start and end in seconds."), field=field)
    return seconds


def _frame(ms: Decimal) -> int:
    """The nearest 20 ms packet boundary: clips are cut between packets."""
    return int((ms / finalize.FRAME_MS).to_integral_value()) * finalize.FRAME_MS


def _title(title: str, room: Room) -> str:
    title = " ".join((title or "").split())
    if len(title) > MAX_TITLE_LENGTH:
        raise ServiceError(
            "title_too_long",
            _("A clip's title has at most %(count)s characters.") % {"count": MAX_TITLE_LENGTH},
            field="title",
        )
    return title or room.title[:MAX_TITLE_LENGTH]


def _check_rate(actor: User) -> None:
    per_hour = settings.CLIPS_PER_HOUR
    if not get_rate_limiter().allow(f"clips:{actor.pk}", per_second=per_hour / 3600, burst=per_hour):
        raise ServiceError(
            "rate_limited",
            _("You can make at most %(per_hour)s clips an hour. Please try again later.")
            % {"per_hour": per_hour},
        )


def _create(
    *, recording: Recording, actor: User, source: str, start_ms: int, end_ms: int, title: str
) -> Clip:
    _check_rate(actor)
    clip = Clip.objects.create(
        recording=recording,
        created_by=actor,
        title=title,
        source=source,
        start_ms=start_ms,
        end_ms=end_ms,
    )
    clip_id = clip.pk
    transaction.on_commit(lambda: clip_dispatch(clip_id=clip_id), robust=True)
    return clip


@transaction.atomic
def clip_create_from_replay(*, recording_id: int, actor, start, end, title: str = "") -> Clip:
    """Clip [start, end] seconds of a ready replay (at most 60 s; cut on 20 ms packet boundaries)."""
    _require_clipper(actor)
    recording = recording_get_for_listener(recording_id=recording_id, viewer=actor)
    if recording.status != Recording.Status.READY:
        raise ServiceError("not_ready", _("This replay is not ready yet."))
    _require_clips_on(recording)
    start_s, end_s = _seconds(start, "start"), _seconds(end, "end")
    length_ms = (end_s - start_s) * 1000
    if length_ms > MAX_CLIP_MS:
        raise ServiceError(
            "clip_too_long",
            _("A clip lasts at most %(max)s seconds; this one would last %(length)s s.")
            % {"max": MAX_CLIP_MS // 1000, "length": number_format(length_ms / 1000, 1)},
            field="end",
        )
    if length_ms < MIN_CLIP_MS:
        raise ServiceError(
            "clip_too_short",
            _("A clip lasts at least %(seconds)s second.") % {"seconds": MIN_CLIP_MS // 1000},
            field="end",
        )
    start_ms = _frame(start_s * 1000)
    end_ms = min(_frame(end_s * 1000), start_ms + MAX_CLIP_MS)
    if end_ms > recording.duration_ms:
        raise ServiceError(
            "outside_replay",
            _("The replay lasts %(length)s s: the clip must end before that.")
            % {"length": number_format(recording.duration_ms / 1000, 1)},
            field="end",
        )
    return _create(
        recording=recording,
        actor=actor,
        source=Clip.Source.REPLAY,
        start_ms=start_ms,
        end_ms=end_ms,
        title=_title(title, recording.room),
    )


@transaction.atomic
def clip_create_live(*, room_id: int, actor, seconds, title: str = "") -> Clip:
    """Clip the last `seconds` (1 to 60) of a recorded room that is live now; the task takes the
    stretch that ends at the latest audio captured when it runs (a second later at most)."""
    _require_clipper(actor)
    room = room_get_for_viewer(room_id=room_id, viewer=actor)
    recording = Recording.objects.exclude(status=Recording.Status.REMOVED).filter(room=room).first()
    if not room.is_recorded or recording is None:
        raise ServiceError("not_recorded", _("This room is not recorded, so it cannot be clipped."))
    recording = recording_get_for_listener(recording_id=recording.pk, viewer=actor)
    if not room.is_live or recording.status != Recording.Status.CAPTURING:
        raise ServiceError("not_live", _("This room is not live any more: clip its replay instead."))
    _require_clips_on(recording)
    try:
        wanted = int(str(seconds).strip())
    except ValueError:
        raise ServiceError(
            "bad_time", _("Say how many seconds to clip (up to 60)."), field="seconds"
        ) from None
    if wanted * 1000 > MAX_CLIP_MS:
        raise ServiceError(
            "clip_too_long",
            _("A clip lasts at most %(seconds)s seconds.") % {"seconds": MAX_CLIP_MS // 1000},
            field="seconds",
        )
    if wanted * 1000 < MIN_CLIP_MS:
        raise ServiceError(
            "clip_too_short",
            _("A clip lasts at least %(seconds)s second.") % {"seconds": MIN_CLIP_MS // 1000},
            field="seconds",
        )
    return _create(
        recording=recording,
        actor=actor,
        source=Clip.Source.LIVE,
        start_ms=0,
        end_ms=wanted * 1000,
        title=_title(title, room),
    )


def clip_dispatch(*, clip_id: int) -> None:
    """Hand the clip to a worker (without a broker it is cut here and now)."""
    # Called after the commit (clip_create_*): queued at once.
    dispatch("recordings.tasks.cut_clip", clip_id, after_commit=False)


# -- cutting (the task) ---------------------------------------------------------------------------------


def _speakers(turns, start_ms: int, end_ms: int) -> list[list]:
    """Who was heard in [start_ms, end_ms), in the order they were first heard there."""
    first_heard: dict[int, int] = {}
    for user_id, turn_start, turn_end in turns:
        if turn_end > start_ms and turn_start < end_ms:
            at = max(turn_start, start_ms)
            first_heard[user_id] = min(first_heard.get(user_id, at), at)
    ordered = sorted(first_heard, key=lambda user_id: first_heard[user_id])
    names = {user.pk: user.name for user in User.objects.filter(pk__in=ordered)}
    return [[user_id, names.get(user_id, "Someone")] for user_id in ordered]


def _replay_captions(recording: Recording, start_ms: int, end_ms: int) -> str:
    lines = TranscriptLine.objects.filter(
        transcript__recording=recording,
        transcript__status=Transcript.Status.READY,
        end_ms__gt=start_ms,
        start_ms__lt=end_ms,
    ).order_by("start_ms", "pk")
    return "\n".join(f"{line.speaker_name or 'Someone'}: {line.text}" for line in lines)


def _live_captions(recording: Recording, capture: finalize.Capture, start_ms: int, end_ms: int) -> str:
    """Live caption lines are timed by the wall clock: place the stretch on it through the segments."""
    ranges = []
    offset = 0
    for segment in capture.segments:
        length = segment.packets * finalize.FRAME_MS
        lo, hi = max(start_ms, offset), min(end_ms, offset + length)
        if hi > lo and segment.started_ms:
            ranges.append((segment.started_ms + lo - offset, segment.started_ms + hi - offset))
        offset += length
    if not ranges:
        return ""
    lines = TranscriptLine.objects.filter(
        transcript__recording=recording,
        transcript__status=Transcript.Status.LIVE,
        wall_start_ms__isnull=False,
    ).order_by("wall_start_ms", "pk")
    picked = []
    for line in lines:
        line_start, line_end = line.wall_start_ms, line.wall_start_ms + (line.end_ms - line.start_ms)
        if any(line_end > lo and line_start < hi for lo, hi in ranges):
            picked.append(f"{line.speaker_name or 'Someone'}: {line.text}")
    return "\n".join(picked)


def _fail(clip: Clip, reason: str) -> Clip:
    logger.warning("clip %s cannot be cut: %s", clip.pk, reason)
    clip.status = Clip.Status.FAILED
    clip.failure_reason = reason[:300]
    clip.save(update_fields=["status", "failure_reason"])
    return clip


@transaction.atomic
def clip_cut(*, clip_id: int) -> Clip | None:
    """Cut a pending clip and make it ready. Safe to run twice: a clip that is no longer pending is
    left alone, and the files are written under temporary names and renamed."""
    clip = (
        Clip.objects.select_for_update(of=("self",))
        .select_related("recording__room")
        .filter(pk=clip_id)
        .first()
    )
    if clip is None or clip.status != Clip.Status.PENDING:
        return clip
    recording = clip.recording
    if recording.status == Recording.Status.REMOVED:
        return _fail(clip, "The recording was removed.")
    files = RecordingFiles(recording.room_id)
    target = ClipFiles(clip.pk)
    # In the bucket: the source is downloaded to a temporary directory and the clip written in
    # another, then uploaded; both are removed whatever happens (spaces_project/media.py).
    with media.workspace(target.prefix) as out:
        capture = None
        if clip.source == Clip.Source.LIVE:
            try:
                with media.fetched_tree(files.capture_prefix) as directory:
                    capture = finalize.read_capture(directory)
            except finalize.FinalizeError as error:
                return _fail(clip, str(error))
            packets, pre_skip, turns = capture.packets, capture.pre_skip, capture.turns
            total_ms = len(packets) * finalize.FRAME_MS
            length = clip.end_ms - clip.start_ms
            # End one packet before the newest audio: the encoder's delay means the very last packet
            # cannot be played to its end, and the clip should last exactly what was asked.
            end_ms = total_ms - finalize.FRAME_MS if total_ms - finalize.FRAME_MS >= length else total_ms
            start_ms = max(0, end_ms - length)
        else:
            try:
                with media.fetched(files.original_name) as original:
                    packets, pre_skip = clips.read_packets(original)
            except FileNotFoundError:
                return _fail(clip, "The replay's audio is missing.")
            turns = recording.turns
            start_ms, end_ms = clip.start_ms, clip.end_ms
        room = recording.room
        audio = out / CLIP_AUDIO_NAME
        try:
            result = clips.cut_opus(
                packets,
                pre_skip=pre_skip,
                start_ms=start_ms,
                end_ms=end_ms,
                out_path=audio,
                comments=[f"TITLE={clip.title}", f"ARTIST={room.host.name}", f"ALBUM={room.title}"],
            )
        except clips.ClipError as error:
            return _fail(clip, str(error))
        pcm, rate = clips.decode_ogg(audio)
        decoded_ms = len(pcm) * 1000 // rate
        if abs(decoded_ms - result.duration_ms) > DURATION_TOLERANCE_MS:
            return _fail(clip, f"The clip decodes to {decoded_ms} ms, not {result.duration_ms} ms.")
        media.store(out, target.prefix, [CLIP_AUDIO_NAME])
    peaks = clips.peaks_of(pcm)
    media.save_bytes(target.waveform_name, artwork.render_waveform(peaks))
    clip.start_ms, clip.end_ms = result.start_ms, result.end_ms
    clip.duration_ms = result.duration_ms
    clip.size_bytes = result.size_bytes
    clip.peaks = peaks
    clip.speakers = _speakers(turns, result.start_ms, result.end_ms)
    clip.caption_text = (
        _live_captions(recording, capture, result.start_ms, result.end_ms)
        if capture is not None
        else _replay_captions(recording, result.start_ms, result.end_ms)
    )
    clip.status = Clip.Status.READY
    clip.ready_at = timezone.now()
    clip.save()
    return clip


def clip_fail(*, clip_id: int, reason: str) -> None:
    """The task gave up: say so on the clip's page instead of "being cut" for ever."""
    Clip.objects.filter(pk=clip_id, status=Clip.Status.PENDING).update(
        status=Clip.Status.FAILED, failure_reason=reason[:300]
    )


# -- deleting --------------------------------------------------------------------------------------------


def _discard(clip: Clip, status: str) -> Clip:
    clip.status = status
    clip.save(update_fields=["status"])
    prefix = ClipFiles(clip.pk).prefix
    transaction.on_commit(lambda: media.delete_tree(prefix))
    return clip


@transaction.atomic
def clip_delete(*, clip_id: int, actor) -> Clip:
    """The clipper deletes their clip, or the room's host deletes any clip of their room."""
    clip = clip_get_for_viewer(clip_id=clip_id, viewer=actor)  # NotFound for whoever may not see it
    clip = Clip.objects.select_for_update(of=("self",)).select_related("recording__room").get(pk=clip.pk)
    if clip.is_gone:
        raise NotFound(_("This clip does not exist."))
    is_clipper = actor.pk == clip.created_by_id
    is_host = actor.pk == clip.recording.room.host_id
    if not (is_clipper or is_host):
        raise ServiceError(
            "not_allowed", _("Only the person who made this clip, or the room's host, can delete it.")
        )
    return _discard(clip, Clip.Status.DELETED)


def clip_remove(*, clip: Clip) -> Clip:
    """Take a clip down on a moderator's decision. Call from moderation services only."""
    clip = Clip.objects.select_for_update().get(pk=clip.pk)
    return _discard(clip, Clip.Status.REMOVED)


def clips_remove_of_recording(*, recording: Recording) -> int:
    """The recording is gone (deleted by its host, removed by a moderator): so are its clips, files
    included once the transaction commits. Call inside `transaction.atomic`."""
    clip_ids = list(
        Clip.objects.filter(recording=recording)
        .exclude(status__in=[Clip.Status.DELETED, Clip.Status.REMOVED])
        .values_list("pk", flat=True)
    )
    Clip.objects.filter(pk__in=clip_ids).update(status=Clip.Status.REMOVED)
    prefixes = [ClipFiles(clip_id).prefix for clip_id in clip_ids]
    transaction.on_commit(lambda: [media.delete_tree(prefix) for prefix in prefixes])
    return len(clip_ids)


# -- the host's switch ------------------------------------------------------------------------------------


@transaction.atomic
def recording_set_clipping(*, recording_id: int, actor, enabled: bool) -> Recording:
    """The host turns clipping of their room on or off (clips already made stay until deleted)."""
    recording = locked_for_host(recording_id, actor, _("Only the host can turn clipping on or off."))
    recording.clips_enabled = bool(enabled)
    recording.save(update_fields=["clips_enabled"])
    return recording


def seconds_label(ms: int) -> str:
    """60000 -> "60 s"; 1500 -> "1.5 s"."""
    seconds = ms / 1000
    return f"{seconds:.0f} s" if math.isclose(seconds, round(seconds)) else f"{seconds:.1f} s"
