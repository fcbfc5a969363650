from celery import shared_task
from django.core.mail import send_mass_mail

from .models import Notification


@shared_task(ignore_result=True)
def send_notification_emails(notification_ids: list[int]) -> int:
    """Email the given notifications to their recipients (unread ones only)."""
    messages = []
    for notification in Notification.objects.filter(
        pk__in=notification_ids, read_at__isnull=True
    ).select_related("recipient"):
        if notification.recipient.email:
            messages.append(
                (
                    f"Spaces: {notification.text[:80]}",
                    f"{notification.text}\n\n{notification.url}",
                    None,
                    [notification.recipient.email],
                )
            )
    if not messages:
        return 0
    return send_mass_mail(messages, fail_silently=True)


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
