"""Ending a person's sessions: signing out everywhere, a changed password, suspension."""

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from spaces_project import protocol, realtime
from spaces_project.errors import ServiceError

from .. import hooks
from ..models import User
from .push import push_subscriptions_delete_all


def close_sockets(*, user: User, code: str, message: str) -> None:
    """Close every socket `user` has open, once the transaction commits: those of the apps above
    (hooks.on_sessions_end: their room sockets, told why first) and the per-person sockets of their
    pages. Call whenever their sessions end."""
    for on_sessions_end in hooks.on_sessions_end:
        on_sessions_end(user=user, code=code, message=message)
    close = protocol.CLOSE_SUSPENDED if code == "suspended" else protocol.CLOSE_SIGNED_OUT
    realtime.send_on_commit(None, user_id=user.pk, close=close)


@dataclass
class Suspension:
    user: User
    ended_rooms: list = field(default_factory=list)  # the live rooms it hosted, now ended


@transaction.atomic
def user_suspend(*, user: User, reason: str = "", until: datetime | None = None) -> Suspension:
    """Suspend an account, with all that follows, at once: it can no longer sign in (accounts/adapter.py
    reads the flag and tells the reason and end date) nor host or join a room, every session ends, its
    devices take no more pushes, its open room sockets close, and the live rooms it hosts end
    (hooks.on_suspension). Every path that suspends someone (the moderation services behind admin
    actions) calls this. `until` None: until lifted."""
    if User.objects.select_for_update().get(pk=user.pk).is_suspended:
        raise ServiceError("already_suspended", _("%(user)s is already suspended.") % {"user": user})
    reason = " ".join(reason.split())
    if len(reason) > 300:
        raise ServiceError("reason_too_long", _("A reason has at most 300 characters."), field="reason")
    if until is not None and until <= timezone.now():
        raise ServiceError(
            "until_in_past", _("The end of a suspension must be in the future."), field="until"
        )
    user.is_suspended = True
    user.suspended_at = timezone.now()
    user.suspension_reason = reason
    user.suspended_until = until
    user.session_generation += 1  # every session ends: the person is signed out everywhere
    user.save(
        update_fields=[
            "is_suspended",
            "suspended_at",
            "suspension_reason",
            "suspended_until",
            "session_generation",
        ]
    )
    # Nothing reaches a suspended person's devices any more (turning push on again needs sign-in).
    push_subscriptions_delete_all(user=user)
    # Sockets first: in a room they host, they hear why they are leaving before the room ends.
    close_sockets(user=user, code="suspended", message="Your account is suspended.")
    ended = [thing for on_suspension in hooks.on_suspension for thing in on_suspension(user=user)]
    return Suspension(user=user, ended_rooms=ended)


def user_unsuspend(*, user: User) -> User:
    user.is_suspended = False
    user.suspended_at = None
    user.suspension_reason = ""
    user.suspended_until = None
    user.save(update_fields=["is_suspended", "suspended_at", "suspension_reason", "suspended_until"])
    return user


def user_lift_suspension_if_over(*, user: User) -> bool:
    """Lift a suspension whose end date has passed (at sign-in, and by the periodic task)."""
    if user.is_suspended and user.suspended_until is not None and user.suspended_until <= timezone.now():
        user_unsuspend(user=user)
        return True
    return False


def users_lift_expired_suspensions() -> int:
    lifted = 0
    for user in User.objects.filter(is_suspended=True, suspended_until__lte=timezone.now()):
        lifted += user_lift_suspension_if_over(user=user)
    return lifted


@transaction.atomic
def user_sign_out_everywhere(*, user: User) -> User:
    """End every session of `user` (every browser, this one too), close their open sockets and
    forget their push devices: a phone they lost or left signed in gets none of their notices."""
    User.objects.filter(pk=user.pk).update(session_generation=F("session_generation") + 1)
    push_subscriptions_delete_all(user=user)
    user.refresh_from_db(fields=["session_generation"])
    close_sockets(user=user, code="signed_out", message="You were signed out.")
    return user


@transaction.atomic
def user_password_changed(*, user: User) -> None:
    """After a password change or reset: other sessions are already invalid (the auth hash
    changed); close the sockets they opened. The page that changed it reconnects on its own."""
    close_sockets(
        user=user, code="signed_out", message="Your password changed; sign in again on other devices."
    )
