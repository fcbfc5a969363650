"""Room tasks. Each takes ids (or nothing), re-reads the state and calls a service that is safe to
run twice: IdempotentTasks, delivered again when a worker is killed half-way (spaces_project/tasks.py)."""

from celery import shared_task
from django.db import DatabaseError

from spaces_project.tasks import IdempotentTask

from . import services
from .analytics import services as analytics_services
from .live import hls
from .payments import PaymentError


@shared_task(base=IdempotentTask, autoretry_for=(DatabaseError,), retry_backoff=5, max_retries=5)
def notify_room_live(room_id: int) -> None:
    services.room_live_notify(room_id=room_id)


@shared_task(base=IdempotentTask)
def send_due_notices() -> int:
    """The periodic task (CELERY_BEAT_SCHEDULE): send the reminders and host notices now due."""
    return services.notices_send_due()


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=60)
def end_abandoned_rooms() -> int:
    """Beat: end the live rooms whose host and co-hosts have all been gone for ROOM_ABANDONED_MINUTES."""
    return len(services.rooms_end_abandoned())


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=60)
def remove_ended_hls() -> int:
    """Beat: remove the HLS files of rooms that ended (their mixer removes them too, unless it died)."""
    return len(hls.remove_ended())


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=60)
def announce_missed_rooms() -> int:
    """Beat: announce the live rooms whose going-live announcement was lost."""
    return len(services.rooms_announce_missed())


@shared_task(
    base=IdempotentTask,
    autoretry_for=(DatabaseError, PaymentError),
    retry_backoff=10,
    retry_backoff_max=600,
    max_retries=10,
)
def refund_ticket(ticket_id: int) -> None:
    """Give a ticket's money back through its provider (idempotency key: never twice)."""
    services.ticket_refund(ticket_id=ticket_id)


@shared_task(base=IdempotentTask, autoretry_for=(DatabaseError,), retry_backoff=5, max_retries=5)
def ticket_host_notify(ticket_id: int, what: str) -> None:
    """Tell a ticket's host of its sale or refund (each notice carries its ticket's key: once)."""
    services.ticket_host_notify(ticket_id=ticket_id, what=what)


@shared_task(base=IdempotentTask, soft_time_limit=50, time_limit=60)
def release_expired_ticket_holds() -> int:
    """Beat: pending tickets whose hold lapsed give their seat back; lost refunds are queued again."""
    return services.tickets_release_expired_holds()


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=60)
def flush_analytics() -> int:
    """Beat: write the joins, leaves and tallies waiting in Redis to the database (idempotent)."""
    return analytics_services.analytics_flush()


@shared_task(base=IdempotentTask, autoretry_for=(DatabaseError,), retry_backoff=5, max_retries=5)
def analytics_room_ended(room_id: int) -> None:
    """A room ended: write what is waiting and keep its figures."""
    analytics_services.analytics_room_ended(room_id=room_id)


@shared_task(ignore_result=True, soft_time_limit=300, time_limit=330)
def purge_analytics() -> int:
    """Beat: raw listening sessions older than ANALYTICS_RAW_DAYS go; figures and rollups stay."""
    return analytics_services.analytics_purge()
