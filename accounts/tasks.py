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
