"""Notification emails. Each email is sent at most once, whatever happens to the worker."""

from celery import shared_task
from django.conf import settings
from django.core.mail import get_connection
from django.db import DatabaseError

from spaces_project.tasks import IdempotentTask

from . import selectors, services

BATCH = 500


class NotificationEmailTask(IdempotentTask):
    # A mail server or database hiccup: try again later. What was sent is marked, so a retry or a
    # redelivery only sends the rest.
    autoretry_for = (OSError, DatabaseError)
    retry_backoff = 30
    retry_backoff_max = 600
    max_retries = 5
    soft_time_limit = 240
    time_limit = 300

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        if args:
            services.notification_emails_fail(notification_ids=list(args[0]))

    def give_up(self, args, reason: str) -> None:
        if args:
            services.notification_emails_fail(notification_ids=list(args[0]))


@shared_task(base=NotificationEmailTask)
def send_notification_emails(notification_ids: list[int]) -> int:
    """Email the given notifications that are still pending (unread ones only); return how many went out."""
    sent = 0
    with get_connection() as connection:
        for notification_id in notification_ids:
            sent += services.notification_email_send(notification_id=notification_id, connection=connection)
    return sent


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=60)
def redispatch_pending_emails() -> int:
    """Beat: queue again the emails whose dispatch was lost (the broker was down when they were made)."""
    ids = selectors.notification_emails_stuck(older_than_s=settings.NOTIFICATION_EMAIL_STUCK_AFTER_S)
    for start in range(0, len(ids), BATCH):
        send_notification_emails.delay(ids[start : start + BATCH])
    return len(ids)
