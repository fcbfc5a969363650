from smtplib import SMTPException

from celery import shared_task
from django.db import DatabaseError

from . import services


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(DatabaseError, OSError, SMTPException),
    retry_backoff=10,
    retry_backoff_max=600,
    max_retries=6,
)
def send_notification_emails(notification_ids: list[int]) -> int:
    """Email the given notifications that still want it, each once (safe to run twice)."""
    return services.notification_emails_send(notification_ids=notification_ids)


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def build_data_export(export_id: int) -> None:
    """Build one person's data archive (idempotent: see accounts.services.data_export_build)."""
    from .services import data_export_build

    data_export_build(export_id=export_id)


@shared_task(ignore_result=True)
def purge_expired_data_exports() -> int:
    from .services import data_export_purge_expired

    return data_export_purge_expired()


@shared_task(ignore_result=True)
def lift_expired_suspensions() -> int:
    """Lift suspensions whose end date has passed (beat; sign-in also lifts them on the spot)."""
    from .services import users_lift_expired_suspensions

    return users_lift_expired_suspensions()
