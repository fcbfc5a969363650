"""The finalizing chain: finalize -> transcribe -> artwork -> publish (dispatched by services.recording_process).

Every task takes the recording's id, re-reads its state and calls a service that does nothing when its
step is already done, so all of them are safe to run twice: they are IdempotentTasks, delivered again
when a worker is killed half-way (the next worker finishes the job), and given up, with the recording
marked failed, when every delivery kills its worker. Database and disk hiccups are retried with
backoff; when retries run out the recording is marked failed.

Every task's name is given, not derived from this module's path: queued messages and the beat
schedule (CELERY_BEAT_SCHEDULE) name tasks by these strings, so the code may move but they may not.
"""

from celery import shared_task
from django.db import DatabaseError

from spaces_project.tasks import IdempotentTask

from . import services


class RecordingTask(IdempotentTask):
    autoretry_for = (DatabaseError, OSError)
    retry_backoff = 5
    retry_backoff_max = 300
    max_retries = 5
    # Finalizing an hour of audio takes ~11 s here (bench/finalize.py); ten hours fit with room to spare.
    soft_time_limit = 900
    time_limit = 960

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        self.give_up(args, f"{self.name.rsplit('.', 1)[-1]}: {exc}")

    def give_up(self, args, reason: str) -> None:
        if args:
            services.recording_fail(recording_id=args[0], reason=reason)


@shared_task(base=RecordingTask, name="recordings.tasks.finalize_recording")
def finalize_recording(recording_id: int) -> None:
    services.recording_finalize(recording_id=recording_id)


@shared_task(base=RecordingTask, name="recordings.tasks.transcribe_recording")
def transcribe_recording(recording_id: int) -> None:
    services.recording_transcribe(recording_id=recording_id)


@shared_task(base=RecordingTask, name="recordings.tasks.make_recording_artwork")
def make_recording_artwork(recording_id: int) -> None:
    services.recording_make_artwork(recording_id=recording_id)


@shared_task(base=RecordingTask, name="recordings.tasks.publish_recording")
def publish_recording(recording_id: int) -> None:
    services.recording_publish(recording_id=recording_id)


@shared_task(
    name="recordings.tasks.redispatch_stuck_recordings", ignore_result=True, soft_time_limit=50, time_limit=60
)
def redispatch_stuck_recordings() -> int:
    """Beat: dispatch again the chains of recordings stuck in "processing" (a lost dispatch)."""
    return len(services.recordings_redispatch_stuck())


class ClipTask(IdempotentTask):
    autoretry_for = (DatabaseError, OSError)
    retry_backoff = 2
    retry_backoff_max = 30
    max_retries = 3
    # Reading an hour's original and cutting a minute takes well under a second (docs/clips-and-podcast.md).
    soft_time_limit = 60
    time_limit = 90

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        self.give_up(args, f"{self.name.rsplit('.', 1)[-1]}: {exc}")

    def give_up(self, args, reason: str) -> None:
        if args:
            services.clip_fail(clip_id=args[0], reason=reason)


@shared_task(base=ClipTask, name="recordings.tasks.cut_clip")
def cut_clip(clip_id: int) -> None:
    """Cut a clip from its room's Opus packets (copied, not re-encoded): services.clip_cut."""
    services.clip_cut(clip_id=clip_id)
