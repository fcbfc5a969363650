"""Who follows and who blocks whom."""

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from spaces_project.errors import ServiceError

from .. import hooks
from ..models import Block, Follow, Notification, User
from .notifications import notify
from .profile import require_not_suspended


def follow_create(*, follower: User, followee: User) -> Follow:
    """Follow `followee`; following twice is the same as following once."""
    require_not_suspended(follower)
    if follower.pk == followee.pk:
        raise ServiceError("self_follow", _("You cannot follow yourself."))
    if Block.objects.filter(
        Q(blocker=follower, blocked=followee) | Q(blocker=followee, blocked=follower)
    ).exists():
        raise ServiceError("blocked", _("You cannot follow this account."))
    try:
        with transaction.atomic():
            follow, created = Follow.objects.get_or_create(follower=follower, followee=followee)
    except IntegrityError:
        return Follow.objects.get(follower=follower, followee=followee)
    if created:
        # Following, unfollowing and following again all day long tells them once (a day).
        notify(
            recipients=[followee.pk],
            kind=Notification.Kind.NEW_FOLLOWER,
            actor=follower,
            text=lambda _zone: (
                _("%(name)s (@%(handle)s) followed you") % {"name": follower.name, "handle": follower.handle}
            ),
            url=f"/@{follower.handle}/",
            key=f"follow:{follower.pk}:{timezone.now().date().isoformat()}",
        )
    return follow


def follow_delete(*, follower: User, followee: User) -> None:
    Follow.objects.filter(follower=follower, followee=followee).delete()


@transaction.atomic
def block_create(*, blocker: User, blocked: User) -> Block:
    """Block `blocked`: follows are removed both ways and neither sees the other's rooms (the apps
    above do their part: hooks.on_block)."""
    if blocker.pk == blocked.pk:
        raise ServiceError("self_block", _("You cannot block yourself."))
    block, _ignored = Block.objects.get_or_create(blocker=blocker, blocked=blocked)
    Follow.objects.filter(
        Q(follower=blocker, followee=blocked) | Q(follower=blocked, followee=blocker)
    ).delete()
    for on_block in hooks.on_block:
        on_block(blocker=blocker, blocked=blocked)
    return block


def block_delete(*, blocker: User, blocked: User) -> None:
    Block.objects.filter(blocker=blocker, blocked=blocked).delete()
