"""Reads about people and the social graph."""

from datetime import timedelta
from typing import NamedTuple

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from spaces_project import protocol  # the realtime contract: no Django, no models
from spaces_project.errors import NotFound

from .models import Block, DataExport, Follow, Notification, NotificationPreference, PushSubscription, User
from .timezones import zone_named


def user_get_by_handle(*, handle: str) -> User | None:
    return User.objects.filter(handle__iexact=handle, is_active=True).first()


def profile_get_for_viewer(*, handle: str, viewer) -> User:
    """Return the profile `viewer` asked for; raise NotFound if it does not exist or its owner blocked them.

    The person who blocked still sees the other's profile, so that they can unblock.
    """
    user = user_get_by_handle(handle=handle)
    if user is None or has_blocked(blocker=user, blocked=viewer):
        raise NotFound(_("This account does not exist."))
    return user


def blocked_user_ids(*, user) -> set[int]:
    """Ids of users who blocked `user` or whom `user` blocked (visibility is mutual)."""
    if not getattr(user, "is_authenticated", False):
        return set()
    ids = set()
    for blocker_id, blocked_id in Block.objects.filter(Q(blocker=user) | Q(blocked=user)).values_list(
        "blocker_id", "blocked_id"
    ):
        ids.add(blocked_id if blocker_id == user.pk else blocker_id)
    return ids


def blocked_user_ids_of_request(request) -> set[int]:
    """`blocked_user_ids` for the person making `request`, read once however many parts of its page
    ask (the page itself, the header's live row). Not kept beyond the request: a block made by
    this very request is read again by the next one."""
    ids = getattr(request, "_blocked_user_ids", None)
    if ids is None:
        ids = request._blocked_user_ids = blocked_user_ids(user=getattr(request, "user", None))
    return ids


def is_blocked_between(*, a, b) -> bool:
    if not getattr(a, "is_authenticated", False) or not getattr(b, "is_authenticated", False):
        return False
    return b.pk in blocked_among(user=a, user_ids=[b.pk])


def blocked_among(*, user, user_ids) -> set[int]:
    """Which of `user_ids` blocked `user` or were blocked by them (is_blocked_between for many at
    once, in one query)."""
    wanted = set(user_ids)
    if not wanted or not getattr(user, "is_authenticated", False):
        return set()
    found = set()
    for blocker_id, blocked_id in Block.objects.filter(
        Q(blocker=user, blocked_id__in=wanted) | Q(blocked=user, blocker_id__in=wanted)
    ).values_list("blocker_id", "blocked_id"):
        found.add(blocked_id if blocker_id == user.pk else blocker_id)
    return found


def has_blocked(*, blocker, blocked) -> bool:
    if not getattr(blocker, "is_authenticated", False) or not getattr(blocked, "is_authenticated", False):
        return False
    return Block.objects.filter(blocker=blocker, blocked=blocked).exists()


def is_following(*, follower, followee) -> bool:
    if not getattr(follower, "is_authenticated", False):
        return False
    return Follow.objects.filter(follower=follower, followee=followee).exists()


def follower_count(*, user: User) -> int:
    return Follow.objects.filter(followee=user).count()


def following_count(*, user: User) -> int:
    return Follow.objects.filter(follower=user).count()


def followed_among(*, user, ids: list[int]) -> set[int]:
    """Which of the users `ids` `user` follows (for follow buttons on a list of people)."""
    if not getattr(user, "is_authenticated", False) or not ids:
        return set()
    return set(
        Follow.objects.filter(follower=user, followee_id__in=ids).values_list("followee_id", flat=True)
    )


def _people_visible_to(people: QuerySet[User], viewer) -> QuerySet[User]:
    people = people.filter(is_active=True)
    hidden = blocked_user_ids(user=viewer) if viewer is not None else set()
    return people.exclude(pk__in=hidden) if hidden else people


def followers_of(*, user: User, viewer=None) -> QuerySet[User]:
    """Newest followers first; with `viewer`, without people blocked either way."""
    people = User.objects.filter(following_links__followee=user).order_by(
        "-following_links__created_at", "-pk"
    )
    return _people_visible_to(people, viewer)


def following_of(*, user: User, viewer=None) -> QuerySet[User]:
    """Newest follows first; with `viewer`, without people blocked either way."""
    people = User.objects.filter(follower_links__follower=user).order_by("-follower_links__created_at", "-pk")
    return _people_visible_to(people, viewer)


def unread_notification_count(*, user) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(recipient=user, in_app=True, read_at__isnull=True).count()


def notifications_for(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user, in_app=True).select_related("actor", "room")


def latest_data_export(*, user) -> DataExport | None:
    return DataExport.objects.filter(user=user).first()


def data_export_get_for_owner(*, export_id: int, user) -> DataExport:
    """An archive, for the person it belongs to only; NotFound for everyone else."""
    if not getattr(user, "is_authenticated", False):
        raise NotFound(_("This archive does not exist."))
    export = DataExport.objects.filter(pk=export_id, user=user).first()
    if export is None:
        raise NotFound(_("This archive does not exist."))
    return export


def data_export_expired(*, export: DataExport) -> bool:
    return export.expires_at is not None and export.expires_at <= timezone.now()


def suspension_message(*, user: User) -> str:
    """What a suspended person is told when they try to sign in."""
    if user.suspended_until:
        until = user.suspended_until.astimezone(zone_named(user.time_zone))  # in the person's own zone
        text = _("Your account is suspended until %(until)s.") % {"until": date_format(until, "d F Y, H:i T")}
    else:
        text = _("Your account is suspended.")
    if user.suspension_reason:
        text += " " + _("Reason: %(reason)s") % {"reason": user.suspension_reason}
    return text


# -- notifications ------------------------------------------------------------------------------


class NotificationChoice(NamedTuple):
    in_app: bool
    email: bool


# What a person gets before choosing: everything in the app; by email what brings them to a room
# (PRODUCT: going live, reminders, invitations), not followers or published recordings.
DEFAULT_CHOICES: dict[str, NotificationChoice] = {
    Notification.Kind.REMINDER: NotificationChoice(True, True),
    Notification.Kind.HOST_LIVE: NotificationChoice(True, True),
    Notification.Kind.ROOM_INVITE: NotificationChoice(True, True),
    Notification.Kind.SPEAK_INVITE: NotificationChoice(True, True),
    Notification.Kind.RECORDING_READY: NotificationChoice(True, False),
    Notification.Kind.NEW_FOLLOWER: NotificationChoice(True, False),
    # Money and a changed time: people who paid must hear of it.
    Notification.Kind.TICKET: NotificationChoice(True, True),
    # A host's sales: in the bell; by email only for a host who asks (one email per sale is a lot).
    Notification.Kind.TICKET_SALE: NotificationChoice(True, False),
}


def notification_choices_for(*, user_ids: list[int], kind: str) -> dict[int, NotificationChoice]:
    """How each active user of `user_ids` wants `kind` delivered (inactive accounts are left out)."""
    default = DEFAULT_CHOICES[kind]
    choices = {
        pk: default
        for pk in User.objects.filter(pk__in=user_ids, is_active=True).values_list("pk", flat=True)
    }
    for user_id, in_app, email in NotificationPreference.objects.filter(
        user_id__in=list(choices), kind=kind
    ).values_list("user_id", "in_app", "email"):
        choices[user_id] = NotificationChoice(in_app, email)
    return choices


def notification_preferences(*, user: User) -> list[tuple[str, str, NotificationChoice]]:
    """(kind, label, choice) for every kind, in the order the settings page lists them."""
    chosen = {
        kind: NotificationChoice(in_app, email)
        for kind, in_app, email in NotificationPreference.objects.filter(user=user).values_list(
            "kind", "in_app", "email"
        )
    }
    return [
        (kind, label, chosen.get(kind, DEFAULT_CHOICES[kind])) for kind, label in Notification.Kind.choices
    ]


def unread_counts(*, user_ids) -> dict[int, int]:
    return dict(
        Notification.objects.filter(recipient_id__in=list(user_ids), in_app=True, read_at__isnull=True)
        .values("recipient_id")
        .annotate(count=Count("pk"))
        .values_list("recipient_id", "count")
    )


def notification_payload(notification: Notification) -> protocol.NotificationInfo:
    """A notification as the page shows it (spaces_project/protocol `user.notification`)."""
    actor = notification.actor
    return protocol.NotificationInfo(
        id=notification.pk,
        kind=notification.kind,
        text=notification.text,
        url=notification.url,
        created_at=notification.created_at.isoformat(),
        actor=None
        if actor is None
        else protocol.NotificationActor(
            handle=actor.handle, name=actor.name, avatar=actor.avatar_128.url if actor.avatar_128 else ""
        ),
    )


def notification_emails_stuck(*, older_than_s: float, limit: int = 5000) -> list[int]:
    """Notifications whose email is still to be sent `older_than_s` after they were made (the task
    that sends it was never queued: the broker was down)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    return list(
        Notification.objects.filter(email_wanted=True, emailed_at__isnull=True, created_at__lt=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )


# -- push ----------------------------------------------------------------------------------------


def push_recipients(*, user_ids: list[int], kind: str) -> set[int]:
    """Those of `user_ids` with a device that wants `kind` pushed."""
    return {
        user_id
        for user_id, kinds in PushSubscription.objects.filter(user_id__in=user_ids).values_list(
            "user_id", "kinds"
        )
        if kind in kinds
    }
