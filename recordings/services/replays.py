"""Every write about replays: capture bookkeeping, the finalizing chain's steps, plays, removal.

The chain (recordings/tasks.py) is finalize -> transcribe (services.transcripts) -> artwork -> publish.
Each step locks the recording's row, checks the state it expects and records that it is done, so any
step, or the whole chain, can run again (a retry, a redelivery after a worker was killed) without doing
anything twice.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from celery import chain
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Follow, Notification, User
from accounts.services import notify
from rooms.audio import ogg
from rooms.audio.capture import SEGMENT_PATTERN
from rooms.models import Room
from rooms.ratelimit import get_rate_limiter
from spaces_project import media
from spaces_project.errors import NotFound, ServiceError
from spaces_project.tasks import registered_task

from .. import artwork, finalize
from ..files import RecordingFiles
from ..models import Recording, Transcript
from ..selectors import recording_get_for_listener
from .analytics import replay_play_started
from .clips import clips_remove_of_recording

logger = logging.getLogger(__name__)

SESSION_PLAYED_KEY = "recordings_played"
SESSION_VIEWED_KEY = "recordings_viewed"
# Plays counted from one client address for one recording per hour (a household, an office).
PLAYS_PER_ADDRESS_PER_HOUR = 10


# The finalizing chain's tasks (recordings/tasks.py), in order.
FINALIZING_CHAIN = (
    "recordings.tasks.finalize_recording",
    "recordings.tasks.transcribe_recording",
    "recordings.tasks.make_recording_artwork",
    "recordings.tasks.publish_recording",
)


# -- the room's life -------------------------------------------------------------------------------------


def recording_start_capture(*, room: Room) -> Recording | None:
    """Open the recording of a recorded room that just went live. Call inside `transaction.atomic`."""
    if not room.is_recorded:
        return None
    recording, _ignored = Recording.objects.get_or_create(room=room)
    # Live captions make the transcript only if they were on from the start (and stay on).
    Transcript.objects.get_or_create(recording=recording, defaults={"live_complete": room.captions_enabled})
    return recording


def recording_end_capture(*, room: Room) -> Recording | None:
    """The recorded room ended: mark its recording as processing and, once this transaction commits,
    start the finalizing chain. Call inside `transaction.atomic`, after the room is ended."""
    if not room.is_recorded:
        return None
    recording, _ignored = Recording.objects.get_or_create(room=room)
    recording = Recording.objects.select_for_update().get(pk=recording.pk)
    if recording.status != Recording.Status.CAPTURING:
        return recording
    recording.status = Recording.Status.PROCESSING
    recording.processing_started_at = timezone.now()
    recording.save(update_fields=["status", "processing_started_at"])
    recording_id = recording.pk
    # robust: a broker that is down (or, without Redis, a failure in the in-process chain) must not
    # turn the host's "End room" into an error; the recording stays "processing" and can be rerun.
    transaction.on_commit(lambda: recording_process(recording_id=recording_id), robust=True)
    return recording


def recording_process(*, recording_id: int) -> None:
    """Dispatch the finalizing chain (run it again to resume one that stopped; every step is idempotent).

    Without a broker (no REDIS_URL) the chain runs here and now, synchronously. Raises when the
    broker is down: the recording's dispatch time is then left as it was, and
    `recordings_redispatch_stuck` dispatches it again later.
    """
    # By name: recordings.tasks runs these services, so they do not import it (spaces_project/tasks.py).
    chain(*(registered_task(name).si(recording_id) for name in FINALIZING_CHAIN)).apply_async()
    Recording.objects.filter(pk=recording_id).update(dispatched_at=timezone.now())


def recordings_redispatch_stuck() -> list[int]:
    """Dispatch again every recording still processing `RECORDINGS_STUCK_AFTER_S` after its chain
    was last dispatched, or never dispatched at all (the broker was down when the room ended).

    Called by a periodic task; a recording whose chain was only slow is not harmed, since every step
    locks the recording and does nothing twice.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.RECORDINGS_STUCK_AFTER_S)
    stuck = list(
        Recording.objects.filter(status=Recording.Status.PROCESSING, processing_started_at__lt=cutoff)
        .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=cutoff))
        .values_list("pk", flat=True)
    )
    for recording_id in stuck:
        logger.warning("recording %s is stuck in processing; dispatching its chain again", recording_id)
        recording_process(recording_id=recording_id)
    return stuck


# -- the chain's steps ------------------------------------------------------------------------------------


def _tags_for(recording: Recording) -> finalize.ReplayTags:
    room = recording.room
    topics = [rt.tag.name for rt in room.room_topics.select_related("tag")]
    day = (room.started_at or recording.created_at).date().isoformat()
    return finalize.ReplayTags(
        title=room.title,
        artist=room.host.name,
        date=day,
        topics=topics,
        comment=f"Recorded live on Spaces, hosted by {room.host.name} (@{room.host.handle}).",
    )


def _cover_for(tags: finalize.ReplayTags) -> bytes:
    return artwork.render_cover(title=tags.title, host=tags.artist, topics=tags.topics)


def _stored_capture_is_closed(prefix: str, *, quiet_s: float) -> bool:
    """finalize.capture_is_closed for a capture in the bucket (MEDIA_STORAGE=s3), where the mixer
    may run on another machine: the newest segment object ended its stream, or has not changed for
    ``quiet_s`` by the store's own clock (rooms/live/capture.py's StoredCapture uploads an open
    segment every RECORDINGS_CAPTURE_UPLOAD_S; the store keeps whole seconds, hence the margin)."""
    segments = [item for item in media.objects(prefix) if SEGMENT_PATTERN.match(item.name.rsplit("/", 1)[-1])]
    if not segments:
        return True
    last = max(segments, key=lambda item: int(SEGMENT_PATTERN.match(item.name.rsplit("/", 1)[-1]).group(1)))
    quiet_s = max(quiet_s, settings.RECORDINGS_CAPTURE_UPLOAD_S + 2)
    if media.age_s(last.name) >= quiet_s:
        return True
    return ogg.ends_stream(media.read_tail(last.name, finalize.TAIL_BYTES))


def _capture_is_closed(files: RecordingFiles, *, quiet_s: float) -> bool:
    if media.is_local():
        return finalize.capture_is_closed(files.capture, quiet_s=quiet_s)
    return _stored_capture_is_closed(files.capture_prefix, quiet_s=quiet_s)


def _wait_for_capture_to_close(files: RecordingFiles) -> None:
    """The mixer closes the capture when it hears the room ended, a moment after the commit that
    dispatched us; a mixer that died never will, and a quiet period says so."""
    quiet_s = settings.RECORDINGS_CAPTURE_QUIET_S
    if not media.is_local():
        quiet_s = max(quiet_s, settings.RECORDINGS_CAPTURE_UPLOAD_S + 2)
    deadline = time.monotonic() + quiet_s + 2
    while not _capture_is_closed(files, quiet_s=quiet_s) and time.monotonic() < deadline:
        time.sleep(0.2)


def recording_finalize(*, recording_id: int) -> Recording | None:
    """Step 1: check the capture and write the original (Ogg Opus) and the replay (M4A), both tagged.

    Holds the recording's row lock while it works, so a second run (a duplicate delivery) waits and
    then finds the work done.
    """
    with transaction.atomic():
        recording = Recording.objects.select_for_update().filter(pk=recording_id).first()
        if recording is None or recording.status != Recording.Status.PROCESSING or recording.finalized_at:
            return recording
        recording.finalize_attempts = F("finalize_attempts") + 1
        recording.save(update_fields=["finalize_attempts"])
    files = RecordingFiles(recording.room_id)
    _wait_for_capture_to_close(files)
    with transaction.atomic():
        recording = (
            Recording.objects.select_for_update().select_related("room__host").filter(pk=recording_id).first()
        )
        if recording is None or recording.status != Recording.Status.PROCESSING or recording.finalized_at:
            return recording
        tags = _tags_for(recording)
        tags.cover_jpeg = _cover_for(tags)
        try:
            # In the bucket: the capture is downloaded to a temporary directory, the replay written
            # in another and uploaded; both are removed whatever happens (spaces_project/media.py).
            with media.fetched_tree(files.capture_prefix) as capture, media.workspace(files.prefix) as out:
                result = finalize.finalize_capture(capture, out, tags=tags)
                media.store(out, files.prefix, [finalize.ORIGINAL_NAME, finalize.REPLAY_NAME])
        except finalize.FinalizeError as error:
            logger.warning("recording %s cannot be finalized: %s", recording_id, error)
            recording.status = Recording.Status.FAILED
            recording.failure_reason = str(error)[:300]
            recording.save(update_fields=["status", "failure_reason"])
            return recording
        recording.duration_ms = result.duration_ms
        recording.size_bytes = result.replay_bytes
        recording.segment_count = len(result.segments)
        recording.capture_notes = "\n".join(result.problems)
        recording.peaks = result.peaks
        recording.turns = [list(turn) for turn in result.turns]
        offset = 0
        recording.segment_times = []
        for segment in result.segments:
            recording.segment_times.append([segment.started_ms, offset, segment.packets * finalize.FRAME_MS])
            offset += segment.packets * finalize.FRAME_MS
        recording.finalized_at = timezone.now()
        logger.info(
            "recording %s finalized: %d ms in %d segment(s)%s",
            recording_id,
            result.duration_ms,
            len(result.segments),
            f" ({'; '.join(result.problems)})" if result.problems else "",
        )
        recording.save(
            update_fields=[
                "duration_ms",
                "size_bytes",
                "segment_count",
                "capture_notes",
                "peaks",
                "turns",
                "segment_times",
                "finalized_at",
            ]
        )
        return recording


@transaction.atomic
def recording_make_artwork(*, recording_id: int) -> Recording | None:
    """Step 3: the cover image and the waveform image for the replay page."""
    recording = (
        Recording.objects.select_for_update().select_related("room__host").filter(pk=recording_id).first()
    )
    if recording is None or recording.status != Recording.Status.PROCESSING or not recording.finalized_at:
        return recording
    files = RecordingFiles(recording.room_id)
    if recording.artwork_at and media.exists(files.cover_name) and media.exists(files.waveform_name):
        return recording
    media.save_bytes(files.cover_name, _cover_for(_tags_for(recording)))
    media.save_bytes(files.waveform_name, artwork.render_waveform(recording.peaks))
    recording.artwork_at = timezone.now()
    recording.save(update_fields=["artwork_at"])
    return recording


@transaction.atomic
def recording_publish(*, recording_id: int) -> Recording | None:
    """Step 4: make the replay visible and tell the host's followers, once."""
    recording = (
        Recording.objects.select_for_update().select_related("room__host").filter(pk=recording_id).first()
    )
    if (
        recording is None
        or recording.status != Recording.Status.PROCESSING
        or not recording.finalized_at
        or not recording.transcribed_at
        or not recording.artwork_at
    ):
        return recording
    recording.status = Recording.Status.READY
    recording.published_at = timezone.now()
    recording.save(update_fields=["status", "published_at"])
    room = recording.room
    host = room.host
    notify(
        recipients=Follow.objects.filter(followee=host).values_list("follower_id", flat=True),
        kind=Notification.Kind.RECORDING_READY,
        actor=host,
        room=room,
        text=lambda _zone: (
            _("Replay of %(host)s's room is ready: %(title)s") % {"host": host.name, "title": room.title}
        ),
        url=f"/recordings/{recording.pk}/",
        key=f"recording:{recording.pk}",
    )
    return recording


@transaction.atomic
def recording_retry(*, recording_id: int) -> Recording:
    """Run the chain again for a recording that failed or got stuck (from the admin)."""
    recording = Recording.objects.select_for_update().get(pk=recording_id)
    if recording.status not in (Recording.Status.FAILED, Recording.Status.PROCESSING):
        if recording.status == Recording.Status.READY:
            refusal = _("The recording of %(room)s is ready: there is nothing to retry.")
        elif recording.status == Recording.Status.REMOVED:
            refusal = _("The recording of %(room)s was removed: there is nothing to retry.")
        else:
            refusal = _("The recording of %(room)s is still being captured: there is nothing to retry yet.")
        raise ServiceError("bad_state", refusal % {"room": recording.room})
    recording.status = Recording.Status.PROCESSING
    recording.failure_reason = ""
    recording.save(update_fields=["status", "failure_reason"])
    transaction.on_commit(lambda: recording_process(recording_id=recording_id), robust=True)
    return recording


def recording_fail(*, recording_id: int, reason: str) -> None:
    """The chain gave up (retries exhausted): say so instead of showing 'processing' for ever."""
    Recording.objects.filter(pk=recording_id, status=Recording.Status.PROCESSING).update(
        status=Recording.Status.FAILED, failure_reason=reason[:300]
    )


# -- listeners and the host ----------------------------------------------------------------------------------


def recording_note_view(*, recording: Recording, session) -> None:
    """Remember that this session opened the replay page: only such a session's play counts."""
    viewed = list(session.get(SESSION_VIEWED_KEY, []))
    if recording.pk not in viewed:
        session[SESSION_VIEWED_KEY] = (viewed + [recording.pk])[-500:]


def recording_count_play(*, recording: Recording, session, address: str = "") -> bool:
    """Count a play once per viewer session (signed in or not); return whether this one counted.

    A play counts only from a session that opened the replay page first (a bare POST has no
    session, so it never counts), and at most PLAYS_PER_ADDRESS_PER_HOUR times an hour from one
    client address, so a script that opens fresh sessions cannot inflate the count either.
    """
    if recording.status != Recording.Status.READY:
        raise ServiceError("not_ready", _("This replay is not ready yet."))
    played = list(session.get(SESSION_PLAYED_KEY, []))
    if recording.pk in played or recording.pk not in session.get(SESSION_VIEWED_KEY, []):
        return False
    if address and not get_rate_limiter().allow(
        f"plays:{recording.pk}:{address}",
        per_second=PLAYS_PER_ADDRESS_PER_HOUR / 3600,
        burst=PLAYS_PER_ADDRESS_PER_HOUR,
    ):
        return False
    Recording.objects.filter(pk=recording.pk).update(play_count=F("play_count") + 1)
    session[SESSION_PLAYED_KEY] = (played + [recording.pk])[-500:]
    replay_play_started(recording=recording, session=session)
    return True


def recording_remove(*, recording: Recording) -> Recording:
    """Take a recording down for everyone and delete its files once the transaction commits.

    Call inside `transaction.atomic` with the row locked (select_for_update): a finalizing step that
    holds the lock finishes first, and the ones after it see "removed" and stop.
    """
    recording.status = Recording.Status.REMOVED
    recording.save(update_fields=["status"])
    prefix = RecordingFiles(recording.room_id).prefix
    transaction.on_commit(lambda: media.delete_tree(prefix))
    # Its clips go with it (issue 15): they are cut from this audio.
    clips_remove_of_recording(recording=recording)
    return recording


@transaction.atomic
def recording_delete(*, recording_id: int, actor: User) -> Recording:
    """The host deletes their recording: gone for everyone, files removed."""
    recording = Recording.objects.select_for_update().select_related("room").filter(pk=recording_id).first()
    if recording is None or recording.status == Recording.Status.REMOVED:
        raise NotFound(_("This recording does not exist."))
    # Whoever may not see it (blocked either way) learns nothing: NotFound, not "not allowed".
    recording_get_for_listener(recording_id=recording.pk, viewer=actor)
    if not getattr(actor, "is_authenticated", False) or actor.pk != recording.room.host_id:
        raise ServiceError("not_allowed", _("Only the host can delete this recording."))
    return recording_remove(recording=recording)
