"""Reads about people and the social graph."""

from django.db.models import Q, QuerySet

from .models import Block, Follow, Notification, User


def user_get_by_handle(*, handle: str) -> User | None:
    return User.objects.filter(handle__iexact=handle, is_active=True).first()


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


def is_blocked_between(*, a, b) -> bool:
    if not getattr(a, "is_authenticated", False) or not getattr(b, "is_authenticated", False):
        return False
    return Block.objects.filter(Q(blocker=a, blocked=b) | Q(blocker=b, blocked=a)).exists()


def has_blocked(*, blocker, blocked) -> bool:
    if not getattr(blocker, "is_authenticated", False) or not getattr(blocked, "is_authenticated", False):
        return False
    return Block.objects.filter(blocker=blocker, blocked=blocked).exists()


def is_following(*, follower, followee) -> bool:
    if not getattr(follower, "is_authenticated", False):
        return False
    return Follow.objects.filter(follower=follower, followee=followee).exists()


def followed_ids(*, user) -> QuerySet:
    return Follow.objects.filter(follower=user).values("followee_id")


def follower_count(*, user: User) -> int:
    return Follow.objects.filter(followee=user).count()


def followers_of(*, user: User) -> QuerySet[User]:
    return User.objects.filter(following_links__followee=user).order_by("-following_links__created_at")


def following_of(*, user: User) -> QuerySet[User]:
    return User.objects.filter(follower_links__follower=user).order_by("-follower_links__created_at")


def unread_notification_count(*, user) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def notifications_for(*, user: User) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user).select_related("actor", "room")
