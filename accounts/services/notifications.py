"""Notifications: one way in (`notify`), the person's choices per kind, and live delivery to their
open pages (the `user.<id>` channel). Their emails: emails.py; their pushes to devices: push.py."""

from collections.abc import Callable, Iterable
from datetime import tzinfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from spaces_project import protocol, realtime
from spaces_project.errors import ServiceError
from spaces_project.tasks import dispatch

from ..models import PUSH_KINDS, Notification, NotificationPreference, User
from ..selectors import notification_choices_for, notification_payload, push_recipients, unread_counts
from ..timezones import zone_named
from ..validators import one_line
from .push import push_available

# A person is told about at most this many people at once per query (large follower fan-outs).
NOTIFY_CHUNK = 1000
EMAILS_PER_TASK = 200
PUSHES_PER_TASK = 200


def notify(
    *,
    recipients: Iterable[int],
    kind: str,
    text: str | Callable[[tzinfo], str],
    url: str = "",
    actor: User | None = None,
    room=None,
    key: str | None = None,
    push: bool = False,
) -> list[int]:
    """Notify the users `recipients` (ids) as each one's choices for `kind` allow; return the ids
    of the notifications made.

    With `key`, a person gets at most one notification for that key, ever: the database refuses a
    second one, whichever process tries. After commit, the new notifications appear live on the
    recipients' open pages and their emails are queued; with `push`, so are pushes to the devices
    that want `kind` (a notice that calls a person to a room now: docs/push.md).

    A notice that names a time passes `text` as a function of the reader's zone (``lambda zone:
    f"… {format_moment(when, zone)}"``): each person reads it in their own (User.time_zone). A
    function is also called in each reader's language (User.language; settings.LANGUAGE_CODE when
    they chose none), so a notice whose words are marked (``lambda zone: _("…") % {…}``) is written
    in the recipient's language when it is made, and shown, emailed and pushed so (docs/i18n.md).
    """
    text_for = _texts_by_reader(text)
    made: list[tuple[int, bool, bool, bool]] = []  # (notification id, in app, email, push)
    push = push and kind in PUSH_KINDS and push_available()
    people = list(dict.fromkeys(int(pk) for pk in recipients))
    for start in range(0, len(people), NOTIFY_CHUNK):
        chunk = people[start : start + NOTIFY_CHUNK]
        choices = notification_choices_for(user_ids=chunk, kind=kind)
        pushed = push_recipients(user_ids=list(choices), kind=kind) if push else set()
        wanted = {
            pk: choice for pk, choice in choices.items() if choice.in_app or choice.email or pk in pushed
        }
        if key and wanted:
            already = Notification.objects.filter(dedupe_key=key, recipient_id__in=list(wanted))
            for pk in already.values_list("recipient_id", flat=True):
                wanted.pop(pk, None)
        if not wanted:
            continue
        readers = _readers_of(list(wanted)) if callable(text) else {}
        rows = [
            Notification(
                recipient_id=pk,
                kind=kind,
                actor=actor,
                room=room,
                text=text_for(readers.get(pk)),
                url=url,
                dedupe_key=key,
                in_app=choice.in_app,
                email_wanted=choice.email,
                push_wanted=pk in pushed,
            )
            for pk, choice in wanted.items()
        ]
        if key:
            # Another process may be notifying the same people for the same key right now: the
            # unique constraint keeps one row each, and the rows are read back to learn their ids.
            Notification.objects.bulk_create(rows, ignore_conflicts=True)
            made += Notification.objects.filter(dedupe_key=key, recipient_id__in=list(wanted)).values_list(
                "pk", "in_app", "email_wanted", "push_wanted"
            )
        else:
            made += [
                (row.pk, row.in_app, row.email_wanted, row.push_wanted)
                for row in Notification.objects.bulk_create(rows)
            ]
    shown = [pk for pk, in_app, _, _ in made if in_app]
    emailed = [pk for pk, _, email, _ in made if email]
    pushed_ids = [pk for pk, _, _, wants_push in made if wants_push]
    if shown:
        transaction.on_commit(lambda: notifications_push(notification_ids=shown), robust=True)
    for start in range(0, len(emailed), EMAILS_PER_TASK):
        dispatch("accounts.tasks.send_notification_emails", emailed[start : start + EMAILS_PER_TASK])
    # A task of its own: a push service that is slow or down never holds up an email or the bell.
    for start in range(0, len(pushed_ids), PUSHES_PER_TASK):
        dispatch("accounts.tasks.send_push_notifications", pushed_ids[start : start + PUSHES_PER_TASK])
    return [pk for pk, _, _, _ in made]


def _texts_by_reader(text: str | Callable[[tzinfo], str]) -> Callable[[tuple[str, str] | None], str]:
    """A notice's text for a reader with the (zone name, language) given (each pair's text written
    once, in that language)."""
    if not callable(text):
        fixed = one_line(text)[:200]
        return lambda _reader: fixed
    written: dict[tuple[str, str] | None, str] = {}

    def text_for(reader: tuple[str, str] | None) -> str:
        if reader not in written:
            zone_name, language = reader or (None, "")
            with translation.override(language or settings.LANGUAGE_CODE):
                written[reader] = one_line(str(text(zone_named(zone_name))))[:200]
        return written[reader]

    return text_for


def _readers_of(user_ids: list[int]) -> dict[int, tuple[str, str]]:
    """Each person's time zone and language, as their notices are written."""
    return {
        pk: (zone, language)
        for pk, zone, language in User.objects.filter(pk__in=user_ids).values_list(
            "pk", "time_zone", "language"
        )
    }


def notifications_push(*, notification_ids: list[int]) -> None:
    """Show new notifications on their recipients' open pages, with their new unread counts. Runs after
    the commit (``notify`` registers it): it reads the saved rows, and sends at once."""
    for start in range(0, len(notification_ids), NOTIFY_CHUNK):
        rows = list(
            Notification.objects.filter(pk__in=notification_ids[start : start + NOTIFY_CHUNK], in_app=True)
            .select_related("actor")
            .order_by("pk")
        )
        counts = unread_counts(user_ids={row.recipient_id for row in rows})
        for row in rows:
            realtime.send(
                protocol.UserNotification(
                    notification=notification_payload(row), unread_count=counts.get(row.recipient_id, 0)
                ),
                user_id=row.recipient_id,
            )


def notifications_mark_read(*, user: User) -> int:
    count = Notification.objects.filter(recipient=user, read_at__isnull=True).update(read_at=timezone.now())
    if count:
        # Every other open page of theirs clears its badge too.
        realtime.send_on_commit(protocol.UserUnread(unread_count=0), user_id=user.pk)
    return count


def notifications_mark_seen(*, user: User, notification_ids: list[int]) -> int:
    """`user` saw the notifications `notification_ids` (the list showed them): mark those read.
    Return how many are still unread; when that changed, every open page of theirs shows the new
    count (`user.unread`), so the badge clears everywhere at once."""
    seen = Notification.objects.filter(
        recipient=user, in_app=True, read_at__isnull=True, pk__in=notification_ids
    ).update(read_at=timezone.now())
    unread = unread_counts(user_ids=[user.pk]).get(user.pk, 0)
    if seen:
        realtime.send_on_commit(protocol.UserUnread(unread_count=unread), user_id=user.pk)
    return unread


def notification_preferences_set(*, user: User, choices: dict[str, tuple[bool, bool]]) -> None:
    """Save `user`'s choice of (in app, email) for each kind in `choices`."""
    for kind, (in_app, email) in choices.items():
        if kind not in Notification.Kind.values:
            raise ServiceError("bad_kind", _("That kind of notification does not exist."))
        NotificationPreference.objects.update_or_create(
            user=user, kind=kind, defaults={"in_app": bool(in_app), "email": bool(email)}
        )
