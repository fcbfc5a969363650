"""The per-person channel (``/ws/me/``): its events, and the channel layer messages that carry them.
No Django here."""

from __future__ import annotations

from typing import Any, TypedDict

from .closes import CLOSE_SIGNED_OUT, CLOSE_SUSPENDED
from .events import USER_EVENTS, ServerEvent, user_event

USER_SOCKET_PATH = "/ws/me/"


class NotificationActor(TypedDict):
    """Who caused a notification."""

    handle: str
    name: str
    avatar: str  # a URL, or "" when they have no avatar


class NotificationInfo(TypedDict):
    """One notification as the page lists it."""

    id: int
    kind: str  # reminder, host_live, room_invite, speak_invite, recording_ready, new_follower
    text: str
    url: str  # a path on this site, or ""
    created_at: str  # ISO 8601
    actor: NotificationActor | None


class ReminderCount(TypedDict):
    """How many people set a reminder for one of the host's scheduled rooms."""

    room_id: int
    count: int


@user_event("user.snapshot")
class UserSnapshot(ServerEvent):
    """The person's state, sent on connect (and so after every reconnect, when events may have been
    missed)."""

    unread_count: int
    reminder_counts: list[ReminderCount]  # the person's own scheduled rooms


@user_event("user.notification")
class UserNotification(ServerEvent):
    """A new notification, shown in the app."""

    notification: NotificationInfo
    unread_count: int


@user_event("user.unread")
class UserUnread(ServerEvent):
    """The unread count changed without a new notification (read on another page)."""

    unread_count: int


@user_event("user.reminder_count")
class UserReminderCount(ServerEvent):
    """To a host: someone set or took back a reminder for their room."""

    room_id: int
    count: int


# The channel layer message that carries a user event to the consumer (its `user_event` handler).
USER_GROUP_MESSAGE = "user.event"


def user_group(user_id: int) -> str:
    """The channel layer group of one person's open pages."""
    return f"user.{user_id}"


def user_envelope(event: ServerEvent) -> dict[str, Any]:
    """The channel layer message for a per-person event; only declared user events travel."""
    if not isinstance(event, ServerEvent) or event.TYPE not in USER_EVENTS:
        raise TypeError(f"only events declared with @user_event go to a person's channel, not {event!r}")
    return {"type": USER_GROUP_MESSAGE, "event": event.payload()}


# The channel layer message that closes every open page socket of a person (its `user_close` handler).
# Sent when the account's sessions end (signed out everywhere, password changed, suspended, deleted):
# the socket was authenticated by a session that is no longer valid. The page reconnects after
# ``CLOSE_SIGNED_OUT`` and is then refused with ``CLOSE_SIGN_IN_REQUIRED`` unless it is signed in again.
USER_CLOSE_MESSAGE = "user.close"
USER_CLOSE_CODES = frozenset({CLOSE_SIGNED_OUT, CLOSE_SUSPENDED})


def user_close_envelope(code: int) -> dict[str, Any]:
    """The channel layer message that closes a person's ``/ws/me/`` sockets with `code`."""
    if code not in USER_CLOSE_CODES:
        raise ValueError(f"a person's channel closes with one of {sorted(USER_CLOSE_CODES)}, not {code}")
    return {"type": USER_CLOSE_MESSAGE, "code": code}


# The channel layer message every consumer waiting on the layer gets once Redis answers again after
# an outage or failover (spaces_project/channel_layer.py): what was sent meanwhile is lost, so the
# consumer re-joins its groups and sends its page the state again (its `channel_layer_reconnected`
# handler).
LAYER_RECONNECTED_MESSAGE = "channel_layer.reconnected"


def layer_reconnected_envelope() -> dict[str, Any]:
    """The channel layer message that tells a consumer the layer lost messages and is back."""
    return {"type": LAYER_RECONNECTED_MESSAGE}
