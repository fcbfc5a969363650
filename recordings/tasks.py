"""The finalizing chain: finalize -> transcribe -> artwork -> publish (dispatched by services.recording_process).

Every task takes the recording's id, re-reads its state and calls a service that does nothing when its
step is already done, so all of them are safe to run twice: hence ``acks_late`` with
``reject_on_worker_lost``: a worker killed half-way leaves the message to be delivered again and the
next worker finishes the job. Database and disk hiccups are retried with backoff; when retries run
out the recording is marked failed.
"""

from celery import Task, shared_task
from django.db import DatabaseError

from . import services


class RecordingTask(Task):
    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True
    autoretry_for = (DatabaseError, OSError)
    retry_backoff = 5
    retry_backoff_max = 300
    max_retries = 5

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        if args:
            services.recording_fail(recording_id=args[0], reason=f"{self.name.rsplit('.', 1)[-1]}: {exc}")


@shared_task(base=RecordingTask)
def finalize_recording(recording_id: int) -> None:
    services.recording_finalize(recording_id=recording_id)


@shared_task(base=RecordingTask)
def transcribe_recording(recording_id: int) -> None:
    services.recording_transcribe(recording_id=recording_id)


@shared_task(base=RecordingTask)
def make_recording_artwork(recording_id: int) -> None:
    services.recording_make_artwork(recording_id=recording_id)


@shared_task(base=RecordingTask)
def publish_recording(recording_id: int) -> None:
    services.recording_publish(recording_id=recording_id)
