"""Notification emails and pushes. Each email is sent at most once, whatever happens to the worker;
each push goes to each device once, in a task of its own (accounts/services/push.py)."""

from smtplib import SMTPException

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError

from spaces_project.tasks import IdempotentTask

from . import selectors, services

BATCH = 500


class NotificationEmailTask(IdempotentTask):
    # A mail server or database hiccup: try again later. What went out is marked, one email at a
    # time, so a retry or a redelivery only sends the rest.
    autoretry_for = (DatabaseError, OSError, SMTPException)
    retry_backoff = 10
    retry_backoff_max = 600
    max_retries = 6
    soft_time_limit = 240
    time_limit = 300

    def give_up(self, args, reason: str) -> None:
        if args:
            services.notification_emails_give_up(notification_ids=list(args[0]), reason=reason)


@shared_task(base=NotificationEmailTask)
def send_notification_emails(notification_ids: list[int]) -> int:
    """Email the given notifications that still want it, each once (safe to run twice)."""
    return services.notification_emails_send(notification_ids=notification_ids)


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=60)
def redispatch_pending_emails() -> int:
    """Beat: queue again the emails whose task was lost (the broker was down when they were made)."""
    ids = selectors.notification_emails_stuck(older_than_s=settings.NOTIFICATION_EMAIL_STUCK_AFTER_S)
    for start in range(0, len(ids), BATCH):
        send_notification_emails.delay(ids[start : start + BATCH])
    return len(ids)


class DataExportTask(IdempotentTask):
    soft_time_limit = 600
    time_limit = 660

    def give_up(self, args, reason: str) -> None:
        if args:
            services.data_export_give_up(export_id=args[0], reason=reason)


@shared_task(base=DataExportTask)
def build_data_export(export_id: int) -> None:
    """Build one person's data archive (idempotent: see accounts.services.data_export_build)."""
    services.data_export_build(export_id=export_id)


@shared_task(ignore_result=True)
def purge_expired_data_exports() -> int:
    return services.data_export_purge_expired()


@shared_task(ignore_result=True)
def lift_expired_suspensions() -> int:
    """Lift suspensions whose end date has passed (beat; sign-in also lifts them on the spot)."""
    return services.users_lift_expired_suspensions()


@shared_task(base=IdempotentTask, autoretry_for=(DatabaseError,), retry_backoff=5, max_retries=5)
def send_push_notifications(notification_ids: list[int]) -> int:
    """Queue one push per device for the given notifications (safe to run twice)."""
    return services.push_deliveries_queue(notification_ids=notification_ids)


class PushTask(IdempotentTask):
    # A push service that did not answer in time, or answered 429 or 5xx: try again later, up to the
    # service's own limit of attempts (push.PUSH_MAX_ATTEMPTS) or until the notice is worth nothing.
    autoretry_for = (services.PushRetry, DatabaseError)
    retry_backoff = 5
    retry_backoff_max = 300
    retry_jitter = True
    max_retries = 6
    # The push itself is bounded by PUSH_TIMEOUT_S; these bound anything else that could hang.
    soft_time_limit = 60
    time_limit = 90

    def give_up(self, args, reason: str) -> None:
        if args:
            services.push_delivery_give_up(delivery_id=args[0], reason=reason)


@shared_task(base=PushTask)
def send_push(delivery_id: int) -> str:
    """Push one notification to one device, once (accounts.services.push_delivery_send)."""
    return services.push_delivery_send(delivery_id=delivery_id)


@shared_task(ignore_result=True)
def purge_push_deliveries() -> int:
    """Beat: forget the pushes finished a week ago."""
    return services.push_deliveries_purge()
