"""Every write about recordings: capture bookkeeping, the finalizing chain's steps, plays, removal.

The chain (recordings/tasks.py) is finalize -> transcribe -> artwork -> publish. Each step locks the recording's row,
checks the state it expects and records that it is done, so any step, or the whole chain, can run
again (a retry, a redelivery after a worker was killed) without doing anything twice.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Follow, Notification, User
from rooms.models import Room
from spaces_project.errors import NotFound, ServiceError

from . import artwork, finalize, transcripts
from .models import Recording, Transcript, TranscriptLine
from .selectors import recording_get_for_listener

logger = logging.getLogger(__name__)

SESSION_PLAYED_KEY = "recordings_played"
SESSION_VIEWED_KEY = "recordings_viewed"
# Plays counted from one client address for one recording per hour (a household, an office).
PLAYS_PER_ADDRESS_PER_HOUR = 10


# -- where the files are -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordingFiles:
    """A room's recording files: one fixed name each, so every run of a task writes the same files."""

    room_id: int

    @property
    def directory(self) -> Path:
        return Path(settings.MEDIA_ROOT) / "recordings" / str(self.room_id)

    @property
    def capture(self) -> Path:
        return self.directory / "capture"

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


def capture_directory(room_id: int) -> Path:
    """Where the mixer writes a room's capture segments (recordings.capture.CaptureWriter)."""
    return RecordingFiles(room_id).capture


def room_is_recorded(room_id: int) -> bool:
    """Whether a mixer running the room now should capture its program mix."""
    return Room.objects.filter(pk=room_id, is_recorded=True, state=Room.State.LIVE).exists()


def _write_atomic(path: Path, data: bytes) -> None:
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


# -- the room's life -------------------------------------------------------------------------------------


def recording_start_capture(*, room: Room) -> Recording | None:
    """Open the recording of a recorded room that just went live. Call inside `transaction.atomic`."""
    if not room.is_recorded:
        return None
    recording, _ = Recording.objects.get_or_create(room=room)
    # Live captions make the transcript only if they were on from the start (and stay on).
    Transcript.objects.get_or_create(recording=recording, defaults={"live_complete": room.captions_enabled})
    return recording


def recording_end_capture(*, room: Room) -> Recording | None:
    """The recorded room ended: mark its recording as processing and, once this transaction commits,
    start the finalizing chain. Call inside `transaction.atomic`, after the room is ended."""
    if not room.is_recorded:
        return None
    recording, _ = Recording.objects.get_or_create(room=room)
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
    from celery import chain

    from .tasks import finalize_recording, make_recording_artwork, publish_recording, transcribe_recording

    chain(
        finalize_recording.si(recording_id),
        transcribe_recording.si(recording_id),
        make_recording_artwork.si(recording_id),
        publish_recording.si(recording_id),
    ).apply_async()
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


def _wait_for_capture_to_close(directory: Path) -> None:
    """The mixer closes the capture when it hears the room ended, a moment after the commit that
    dispatched us; a mixer that died never will, and a quiet period says so."""
    quiet_s = settings.RECORDINGS_CAPTURE_QUIET_S
    deadline = time.monotonic() + quiet_s + 2
    while not finalize.capture_is_closed(directory, quiet_s=quiet_s) and time.monotonic() < deadline:
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
    _wait_for_capture_to_close(files.capture)
    with transaction.atomic():
        recording = (
            Recording.objects.select_for_update().select_related("room__host").filter(pk=recording_id).first()
        )
        if recording is None or recording.status != Recording.Status.PROCESSING or recording.finalized_at:
            return recording
        tags = _tags_for(recording)
        tags.cover_jpeg = _cover_for(tags)
        try:
            result = finalize.finalize_capture(files.capture, files.directory, tags=tags)
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


# -- transcripts ---------------------------------------------------------------------------------------


def _live_transcript(room_id: int) -> Transcript | None:
    return (
        Transcript.objects.filter(
            recording__room_id=room_id,
            # A last line may arrive just after the room ended, before the transcript is made.
            recording__status__in=[Recording.Status.CAPTURING, Recording.Status.PROCESSING],
            recording__transcribed_at=None,
            status=Transcript.Status.LIVE,
        )
        .select_related("recording")
        .first()
    )


def transcript_add_live_line(
    *, room_id: int, user_id: int, speaker_name: str, text: str, wall_start_ms: float, wall_end_ms: float
) -> TranscriptLine | None:
    """Keep a final live caption of a recorded room with its recording (nothing for other rooms)."""
    transcript = _live_transcript(room_id)
    if transcript is None or not text.strip():
        return None
    return TranscriptLine.objects.create(
        transcript=transcript,
        speaker_id=user_id,
        speaker_name=speaker_name[:100],
        wall_start_ms=int(wall_start_ms),
        start_ms=0,
        end_ms=max(0, int(wall_end_ms - wall_start_ms)),
        text=text.strip()[:2000],
    )


def transcript_note_gap(*, room_id: int) -> None:
    """The live captions of a recorded room missed something (turned off, or skipped under load):
    finalizing will recognize the whole recording instead."""
    Transcript.objects.filter(recording__room_id=room_id, status=Transcript.Status.LIVE).update(
        live_complete=False
    )


def transcript_note_captions_off(*, room: Room) -> None:
    if room.is_recorded:
        transcript_note_gap(room_id=room.pk)


def _transcribe_progress_key(recording_id: int) -> str:
    return f"recordings:transcribe-progress:{recording_id}"


def recording_transcribe_progress(*, recording_id: int) -> int | None:
    """How far recognizing the recording has come, in percent (None: not running)."""
    from django.core.cache import cache

    try:
        return cache.get(_transcribe_progress_key(recording_id))
    except Exception:  # a cache that is down must not break the progress page
        return None


def _recognize_recording(recording: Recording) -> tuple[list[transcripts.Line], str]:
    """Recognize the recording's audio, line by line (outside any transaction: it takes a while)."""
    from django.core.cache import cache

    from rooms.audio.speech import shared_engine

    files = RecordingFiles(recording.room_id)
    audio = transcripts.decode_16k(files.original)
    key = _transcribe_progress_key(recording.pk)

    def progress(done: int, total: int) -> None:
        try:
            cache.set(key, int(100 * done / max(1, total)), 3600)
        except Exception:
            pass

    if not transcripts.speech_stretches(audio):
        return [], ""
    engine = shared_engine(settings.CAPTIONS_ENGINE, model_dir=settings.CAPTIONS_MODEL_DIR or None)
    return transcripts.recognize(audio, engine, recording.turns, progress), engine.label


def recording_transcribe(*, recording_id: int) -> Recording | None:
    """Step 2: the transcript. Live captions that covered the whole room are placed in the replay's
    time; otherwise the recording is recognized (progress is shown on the replay page)."""
    recording = Recording.objects.select_related("room").filter(pk=recording_id).first()
    if recording is None or recording.status != Recording.Status.PROCESSING or not recording.finalized_at:
        return recording
    if recording.transcribed_at:
        return recording
    transcript, _ = Transcript.objects.get_or_create(recording=recording, defaults={"live_complete": False})
    recognized = None
    if not transcript.is_gone and not (transcript.live_complete and recording.room.captions_enabled):
        recognized = _recognize_recording(recording)
    with transaction.atomic():
        recording = Recording.objects.select_for_update().get(pk=recording_id)
        if recording.status != Recording.Status.PROCESSING or recording.transcribed_at:
            return recording
        transcript = Transcript.objects.select_for_update().get(recording=recording)
        if not transcript.is_gone:
            if recognized is None:
                for line in transcript.lines.exclude(wall_start_ms=None):
                    start, end = transcripts.place_live_line(
                        line.wall_start_ms,
                        line.wall_start_ms + line.end_ms - line.start_ms,
                        recording.segment_times,
                        recording.duration_ms,
                    )
                    line.start_ms, line.end_ms, line.wall_start_ms = start, end, None
                    line.save(update_fields=["start_ms", "end_ms", "wall_start_ms"])
                transcript.source = Transcript.Source.LIVE_CAPTIONS
                transcript.engine = settings.CAPTIONS_ENGINE
            else:
                lines, label = recognized
                names = {u.pk: u.name for u in User.objects.filter(pk__in={ln.speaker_id for ln in lines})}
                transcript.lines.all().delete()
                TranscriptLine.objects.bulk_create(
                    TranscriptLine(
                        transcript=transcript,
                        speaker_id=line.speaker_id if line.speaker_id in names else None,
                        speaker_name=names.get(line.speaker_id, "")[:100],
                        start_ms=line.start_ms,
                        end_ms=line.end_ms,
                        text=line.text[:2000],
                    )
                    for line in lines
                )
                transcript.source = Transcript.Source.RECOGNIZED
                transcript.engine = label or settings.CAPTIONS_ENGINE
            transcript.status = Transcript.Status.READY
            transcript.ready_at = timezone.now()
            transcript.save(update_fields=["status", "source", "engine", "ready_at"])
        recording.transcribed_at = timezone.now()
        recording.save(update_fields=["transcribed_at"])
        return recording


@transaction.atomic
def _refuse_who_is_not_the_host(recording_id: int, actor: User, message: str):
    """Whoever may not even see the replay (blocked either way) learns nothing: NotFound. Everyone
    else who is not the host is simply not allowed, whatever else is true of them."""
    try:
        recording_get_for_listener(recording_id=recording_id, viewer=actor)
    except NotFound:
        raise
    except ServiceError:
        pass
    raise ServiceError("not_allowed", message)


def transcript_line_correct(*, recording_id: int, line_id: int, actor: User, text: str) -> TranscriptLine:
    """The host corrects what a line of their replay's transcript says."""
    line = (
        TranscriptLine.objects.select_for_update(of=("self",))
        .select_related("transcript__recording__room")
        .filter(pk=line_id, transcript__recording_id=recording_id)
        .first()
    )
    if line is None or line.transcript.is_gone:
        raise NotFound("This line does not exist.")
    if not getattr(actor, "is_authenticated", False) or actor.pk != line.transcript.recording.room.host_id:
        _refuse_who_is_not_the_host(recording_id, actor, "Only the host can correct the transcript.")
    text = " ".join(text.split())
    if not text:
        raise ServiceError("text_required", "A line needs some text; delete the transcript to remove it all.")
    if len(text) > 2000:
        raise ServiceError("text_too_long", "A line has at most 2,000 characters.")
    line.text = text
    line.edited_at = timezone.now()
    line.save(update_fields=["text", "edited_at"])
    return line


def _discard_transcript(transcript: Transcript, status: str) -> Transcript:
    transcript.lines.all().delete()
    transcript.status = status
    transcript.save(update_fields=["status"])
    return transcript


@transaction.atomic
def transcript_delete(*, recording_id: int, actor: User) -> Transcript:
    """The host deletes their replay's transcript (for good: finalizing again does not bring it back)."""
    transcript = (
        Transcript.objects.select_for_update(of=("self",))
        .select_related("recording__room")
        .filter(recording_id=recording_id)
        .first()
    )
    if transcript is None or transcript.is_gone:
        raise NotFound("This transcript does not exist.")
    if not getattr(actor, "is_authenticated", False) or actor.pk != transcript.recording.room.host_id:
        _refuse_who_is_not_the_host(recording_id, actor, "Only the host can delete the transcript.")
    return _discard_transcript(transcript, Transcript.Status.DELETED)


def transcript_remove(*, transcript: Transcript) -> Transcript:
    """Take a transcript down on a moderator's decision. Call from moderation services only."""
    transcript = Transcript.objects.select_for_update().get(pk=transcript.pk)
    return _discard_transcript(transcript, Transcript.Status.REMOVED)


@transaction.atomic
def recording_make_artwork(*, recording_id: int) -> Recording | None:
    """Step 2: the cover image and the waveform image for the replay page."""
    recording = (
        Recording.objects.select_for_update().select_related("room__host").filter(pk=recording_id).first()
    )
    if recording is None or recording.status != Recording.Status.PROCESSING or not recording.finalized_at:
        return recording
    files = RecordingFiles(recording.room_id)
    if recording.artwork_at and files.cover.exists() and files.waveform.exists():
        return recording
    _write_atomic(files.cover, _cover_for(_tags_for(recording)))
    _write_atomic(files.waveform, artwork.render_waveform(recording.peaks))
    recording.artwork_at = timezone.now()
    recording.save(update_fields=["artwork_at"])
    return recording


@transaction.atomic
def recording_publish(*, recording_id: int) -> Recording | None:
    """Step 3: make the replay visible and tell the host's followers, once."""
    from accounts.services import notify

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
        text=f"Replay of {host.name}'s room is ready: {room.title}",
        url=f"/recordings/{recording.pk}/",
        key=f"recording:{recording.pk}",
    )
    return recording


@transaction.atomic
def recording_retry(*, recording_id: int) -> Recording:
    """Run the chain again for a recording that failed or got stuck (from the admin)."""
    recording = Recording.objects.select_for_update().get(pk=recording_id)
    if recording.status not in (Recording.Status.FAILED, Recording.Status.PROCESSING):
        raise ServiceError("bad_state", f"The {recording} is {recording.get_status_display().lower()}.")
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
    from rooms.ratelimit import get_rate_limiter

    if recording.status != Recording.Status.READY:
        raise ServiceError("not_ready", "This replay is not ready yet.")
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
    return True


def recording_remove(*, recording: Recording) -> Recording:
    """Take a recording down for everyone and delete its files once the transaction commits.

    Call inside `transaction.atomic` with the row locked (select_for_update): a finalizing step that
    holds the lock finishes first, and the ones after it see "removed" and stop.
    """
    recording.status = Recording.Status.REMOVED
    recording.save(update_fields=["status"])
    directory = RecordingFiles(recording.room_id).directory
    transaction.on_commit(lambda: shutil.rmtree(directory, ignore_errors=True))
    # Its clips go with it (issue 15): they are cut from this audio.
    from .clip_services import clips_remove_of_recording

    clips_remove_of_recording(recording=recording)
    return recording


@transaction.atomic
def recording_delete(*, recording_id: int, actor: User) -> Recording:
    """The host deletes their recording: gone for everyone, files removed."""
    recording = Recording.objects.select_for_update().select_related("room").filter(pk=recording_id).first()
    if recording is None or recording.status == Recording.Status.REMOVED:
        raise NotFound("This recording does not exist.")
    # Whoever may not see it (blocked either way) learns nothing: NotFound, not "not allowed".
    recording_get_for_listener(recording_id=recording.pk, viewer=actor)
    if not getattr(actor, "is_authenticated", False) or actor.pk != recording.room.host_id:
        raise ServiceError("not_allowed", "Only the host can delete this recording.")
    return recording_remove(recording=recording)
