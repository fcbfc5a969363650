"""Room tasks. Each takes ids (or nothing), re-reads the state and calls a service that is safe to
run twice, hence ``acks_late`` with ``reject_on_worker_lost``: a worker killed half-way leaves the
message to be delivered again."""

from celery import shared_task
from django.db import DatabaseError

from . import services


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=5,
    max_retries=5,
)
def notify_room_live(room_id: int) -> None:
    services.room_live_notify(room_id=room_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_due_notices() -> int:
    """The periodic task (CELERY_BEAT_SCHEDULE): send the reminders and host notices now due."""
    return services.notices_send_due()
