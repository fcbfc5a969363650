"""Notification emails: each sent at most once, whatever happens to the worker, with a one-click
unsubscribe link (RFC 8058) that needs no sign-in."""

import logging

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from spaces_project.errors import ServiceError

from ..models import Notification, NotificationPreference, User
from ..selectors import notification_choices_for
from ..validators import one_line

logger = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "accounts.notifications.unsubscribe"


def unsubscribe_token(*, user_id: int, kind: str) -> str:
    """The signed part of a one-click unsubscribe link: it needs no sign-in and cannot be forged."""
    return signing.dumps([user_id, kind], salt=UNSUBSCRIBE_SALT)


def unsubscribe_check(*, token: str) -> tuple[User, str]:
    """The person and kind a link unsubscribes from; ServiceError for a forged or broken link."""
    try:
        user_id, kind = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        raise ServiceError("bad_link", _("This unsubscribe link is not valid.")) from None
    user = User.objects.filter(pk=user_id, is_active=True).first() if isinstance(user_id, int) else None
    if user is None or kind not in Notification.Kind.values:
        raise ServiceError("bad_link", _("This unsubscribe link is not valid."))
    return user, kind


@transaction.atomic
def notification_unsubscribe(*, token: str) -> tuple[User, str]:
    """Switch off the email of the kind the link names (one click, from the email)."""
    user, kind = unsubscribe_check(token=token)
    choice = notification_choices_for(user_ids=[user.pk], kind=kind)[user.pk]
    NotificationPreference.objects.update_or_create(
        user=user, kind=kind, defaults={"in_app": choice.in_app, "email": False}
    )
    return user, kind


def _site_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _notification_email(notification: Notification, connection) -> EmailMessage:
    """The email of a notice, in its recipient's language (its text was written in it: notify)."""
    with translation.override(notification.recipient.language or settings.LANGUAGE_CODE):
        return _notification_email_in_language(notification, connection)


def _notification_email_in_language(notification: Notification, connection) -> EmailMessage:
    kind = Notification.Kind(notification.kind)
    unsubscribe = _site_url(
        reverse(
            "accounts:unsubscribe",
            args=[unsubscribe_token(user_id=notification.recipient_id, kind=notification.kind)],
        )
    )
    link = _site_url(notification.url) if notification.url.startswith("/") else ""
    if link and notification.url.startswith("/rooms/") and "?" not in link:
        link += "?src=notification"  # where the room's listeners came from, for its host's report
    body = "\n\n".join(
        part
        for part in (
            notification.text,
            link,
            "--",
            _(
                "You get this email because email is on for: %(kind)s.\n"
                "Stop these emails (one click): %(unsubscribe)s\n"
                "Choose which notifications you get: %(settings)s"
            )
            % {
                "kind": str(kind.label).lower(),
                "unsubscribe": unsubscribe,
                "settings": _site_url(reverse("accounts:notification_settings")),
            },
        )
        if part
    )
    return EmailMessage(
        subject=one_line(_("Spaces: %(text)s") % {"text": notification.text})[:150],
        body=body,
        to=[notification.recipient.email],
        connection=connection,
        headers={
            # RFC 2369 and RFC 8058: mail programs show an unsubscribe button that POSTs here.
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    )


def notification_emails_send(*, notification_ids: list[int]) -> int:
    """Email the given notifications that still want it, each once; return how many were sent.

    One email at a time: its row is locked while the email goes out and marked in the same
    transaction, which commits before the next email. A second worker (or the task delivered again
    after its worker was killed half-way) skips the rows already marked, or being sent right now, and
    sends only the rest. If sending fails, that row is not marked and the task retries.
    """
    sent = 0
    with get_connection() as connection:
        for notification_id in sorted(notification_ids):
            with transaction.atomic():
                row = (
                    Notification.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("recipient")
                    .filter(pk=notification_id, email_wanted=True, emailed_at__isnull=True)
                    .first()
                )
                if row is None:
                    continue
                choice = notification_choices_for(user_ids=[row.recipient_id], kind=row.kind).get(
                    row.recipient_id
                )
                # The person may have switched this kind off, or read it already, since it was made.
                if choice and choice.email and row.read_at is None and row.recipient.email:
                    connection.send_messages([_notification_email(row, connection)])
                    sent += 1
                # Marked also when nothing went out: the decision about this row's email is made.
                row.emailed_at = timezone.now()
                row.save(update_fields=["emailed_at"])
    return sent


def notification_emails_give_up(*, notification_ids: list[int], reason: str) -> int:
    """The task sending these emails was given up (it killed its worker every time): decide, for the
    ones not sent yet, that they will not be, so that nothing queues them again."""
    logger.error("giving up on the emails of notifications %s: %s", notification_ids, reason)
    return Notification.objects.filter(
        pk__in=notification_ids, email_wanted=True, emailed_at__isnull=True
    ).update(emailed_at=timezone.now())
