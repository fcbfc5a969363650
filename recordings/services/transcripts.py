"""Every write about transcripts: live caption lines kept with a recorded room, the finalizing chain's
transcript step (live captions placed in the replay's time, or the recording recognized), and the
host's and moderators' changes."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from rooms.audio.speech import shared_engine
from rooms.models import Room
from spaces_project import media
from spaces_project.errors import NotFound, ServiceError

from .. import transcripts
from ..files import RecordingFiles
from ..models import Recording, Transcript, TranscriptLine
from ..selectors import transcribe_progress_key
from .access import refuse_who_is_not_the_host


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


def _recognize_recording(recording: Recording) -> tuple[list[transcripts.Line], str]:
    """Recognize the recording's audio, line by line (outside any transaction: it takes a while)."""
    files = RecordingFiles(recording.room_id)
    with media.fetched(files.original_name) as original:  # in the bucket: a temporary copy
        audio = transcripts.decode_16k(original)
    key = transcribe_progress_key(recording.pk)

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
    transcript, _ignored = Transcript.objects.get_or_create(
        recording=recording, defaults={"live_complete": False}
    )
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


def transcript_line_correct(*, recording_id: int, line_id: int, actor: User, text: str) -> TranscriptLine:
    """The host corrects what a line of their replay's transcript says."""
    line = (
        TranscriptLine.objects.select_for_update(of=("self",))
        .select_related("transcript__recording__room")
        .filter(pk=line_id, transcript__recording_id=recording_id)
        .first()
    )
    if line is None or line.transcript.is_gone:
        raise NotFound(_("This line does not exist."))
    if not getattr(actor, "is_authenticated", False) or actor.pk != line.transcript.recording.room.host_id:
        refuse_who_is_not_the_host(recording_id, actor, _("Only the host can correct the transcript."))
    text = " ".join(text.split())
    if not text:
        raise ServiceError(
            "text_required", _("A line needs some text; delete the transcript to remove it all.")
        )
    if len(text) > 2000:
        raise ServiceError("text_too_long", _("A line has at most 2,000 characters."))
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
        raise NotFound(_("This transcript does not exist."))
    if not getattr(actor, "is_authenticated", False) or actor.pk != transcript.recording.room.host_id:
        refuse_who_is_not_the_host(recording_id, actor, _("Only the host can delete the transcript."))
    return _discard_transcript(transcript, Transcript.Status.DELETED)


def transcript_remove(*, transcript: Transcript) -> Transcript:
    """Take a transcript down on a moderator's decision. Call from moderation services only."""
    transcript = Transcript.objects.select_for_update().get(pk=transcript.pk)
    return _discard_transcript(transcript, Transcript.Status.REMOVED)
