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
