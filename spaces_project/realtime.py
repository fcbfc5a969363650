"""Send events to the pages: one way, for room, user and moderation events alike.

A service sends after its transaction commits (Zulip's ``send_event_on_commit``)::

    realtime.send_on_commit(protocol.Ended(room_id=room.pk), room_id=room.pk, close=protocol.CLOSE_ENDED)
    realtime.send_on_commit(protocol.RequestDeclined(to_user_id=5), room_id=room.pk, to=5)
    realtime.send_on_commit(protocol.UserUnread(unread_count=0), user_id=user.pk)
    realtime.send_on_commit(None, user_id=user.pk, close=protocol.CLOSE_SIGNED_OUT)

``room_id`` sends on the room's socket, to everyone in it or only to person ``to``; ``user_id`` sends on
that person's ``/ws/me/`` sockets. ``close`` closes the receiving sockets after the event (for a
person's channel, the event may be None: then the sockets only close). The event and its target are
checked at once, in the service (an undeclared event raises TypeError there); only the delivery waits
for the commit. Outside a transaction it happens at once.

The hook is registered ``robust``: one failing hook would make Django skip every hook after it (a
publish that raises because Redis blinked must not cancel the hook that starts finalizing a recording,
PITFALLS). The change is committed either way; a room's sockets that missed an event re-read the room
when the bus is back (``room.resync``), a person's page re-reads its state on reconnect.

Code that already runs after the commit uses the same path without the wait: ``send`` from a thread
(an on_commit hook that reads what it sends, such as a host's reminder count; a Celery task; the
captioner's worker thread with each caption line), and ``send_async`` on an event loop (the room
socket's audience counts; the speaking levels of a room's mixer, embedded in the web process or in a
``run_mixer`` process). Those never go through ``transaction.on_commit``: there is no transaction to
wait for, and Django's is unsafe on an event loop (it asks the database connection whether it is in
autocommit, which raises SynchronousOnlyOperation there).

There is no other way out for an event, and no exception: no module but this one wraps an event for
the bus or a person's channel (tests/test_realtime.py checks). The busiest sender, a mixer's levels
(up to twice a second per room), pays under a microsecond per event for the checks and the bus
lookup, beside the Redis round trip it always had. What travels past this module is audio, not
events: the uplink frames and the mixers' bundles (rooms/live/mixing.py, rooms/live/bus.py).

The two ways out
    A room's events go on the room bus (rooms/live/bus.py): with Redis, pub/sub, once to each web process,
    which writes them to its own sockets; without Redis, in-process, to the event loop that holds the
    sockets. This module sits under every app and cannot import rooms, so the bus registers itself
    at app start (``RoomsConfig.ready`` calls ``set_room_bus``; management commands run it too, so a
    ``run_mixer`` process has the bus). Sharing only the bus's wire format (its Redis channel
    names) would not do: without Redis there is no channel to publish on, only the bus object that
    holds the loops of the sockets, and with Redis the bus owns the connections (one publisher per
    process, one per event loop for async code). A room event sent in a process where rooms is not
    installed raises RuntimeError.

    A person's events go through the channel layer group ``user.<id>`` (``protocol.user_group``),
    which every ``/ws/me/`` socket joins (rooms/user_socket.py): they are few and small, so the
    layer's per-socket ``group_send`` suits them, unlike room traffic. A delivery problem there is
    logged, never raised: a live update is a courtesy, the page shows the state on its next read. The
    in-memory layer (no Redis) lives in the web process's event loop and is not thread-safe: other
    threads hand it their messages through that loop, which the consumers note on connect
    (``note_consumer_loop``).
"""

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

from . import protocol

logger = logging.getLogger(__name__)


class RoomBus(Protocol):
    """What the room bus (rooms/live/bus.py) offers this module: publish one ``protocol.envelope``."""

    def publish(self, room_id: int, message: str) -> None: ...

    async def publish_async(self, room_id: int, message: str) -> None: ...


_room_bus: Callable[[], RoomBus] | None = None
_room_sockets: Callable[[], int] | None = None


def set_room_bus(get_bus: Callable[[], RoomBus], *, attached_count: Callable[[], int]) -> None:
    """Name the room bus: `get_bus` is called at each send (the bus is made on first use, and tests
    may replace it); `attached_count` says how many sockets this process has attached to it, without
    making it. Called once, at app start, by rooms."""
    global _room_bus, _room_sockets
    _room_bus = get_bus
    _room_sockets = attached_count


def room_sockets_attached() -> int:
    """How many room sockets this process holds (/healthz shows it): 0 before the first one, or in a
    process where rooms is not installed."""
    return _room_sockets() if _room_sockets is not None else 0


def _bus() -> RoomBus:
    if _room_bus is None:
        raise RuntimeError("no room bus: rooms registers it at app start (RoomsConfig.ready)")
    return _room_bus()


Delivery = Callable[[], None]


def send_on_commit(
    event: protocol.ServerEvent | None,
    *,
    room_id: int | None = None,
    user_id: int | None = None,
    to: int | None = None,
    close: int | None = None,
) -> None:
    """Send `event` to a room (`room_id`, optionally only to person `to`) or to one person's pages
    (`user_id`) once the current transaction commits, at once outside one; then close the receiving
    sockets with `close`, if given. Raise TypeError or ValueError at once for an event or a target
    the protocol does not allow."""
    transaction.on_commit(_delivery(event, room_id=room_id, user_id=user_id, to=to, close=close), robust=True)


def send(
    event: protocol.ServerEvent | None,
    *,
    room_id: int | None = None,
    user_id: int | None = None,
    to: int | None = None,
    close: int | None = None,
) -> None:
    """`send_on_commit` without waiting, for code that runs after the commit already (not on an event
    loop: there, ``send_async``). Safe from any thread. A room bus that cannot publish raises; a
    person's delivery problem is logged."""
    _delivery(event, room_id=room_id, user_id=user_id, to=to, close=close)()


async def send_async(
    event: protocol.ServerEvent | None,
    *,
    room_id: int | None = None,
    user_id: int | None = None,
    to: int | None = None,
    close: int | None = None,
) -> None:
    """`send`, from code on an event loop: never blocks it (the room bus publishes on the loop's own
    connection; a person's events go through the channel layer's async API)."""
    if room_id is not None:
        await _bus().publish_async(room_id, _room_message(event, room_id, user_id, to, close))
        return
    group, messages = _user_messages(event, user_id, to, close)
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        for message in messages:
            await layer.group_send(group, message)
    except Exception:
        logger.warning("could not send %s to user %s", _what(event, close), user_id, exc_info=True)


def _delivery(
    event: protocol.ServerEvent | None,
    *,
    room_id: int | None,
    user_id: int | None,
    to: int | None,
    close: int | None,
) -> Delivery:
    """Check the event and its target now; return what delivers it."""
    if room_id is not None:
        message = _room_message(event, room_id, user_id, to, close)
        return lambda: _bus().publish(room_id, message)
    group, messages = _user_messages(event, user_id, to, close)
    what = _what(event, close)
    return lambda: _group_send(group, messages, user_id, what)


def _room_message(
    event: protocol.ServerEvent | None, room_id: int, user_id: int | None, to: int | None, close: int | None
) -> str:
    if user_id is not None:
        raise ValueError("an event goes to a room (room_id, to) or to a person (user_id), not both")
    return protocol.envelope(event, to=to, close=close)


def _user_messages(
    event: protocol.ServerEvent | None, user_id: int | None, to: int | None, close: int | None
) -> tuple[str, list[dict[str, Any]]]:
    if user_id is None:
        raise ValueError("an event needs a room_id or a user_id")
    if to is not None:
        raise ValueError("`to` picks one person in a room; a person's own channel is user_id")
    if event is None and close is None:
        raise ValueError("nothing to send: no event and no close")
    messages = [] if event is None else [protocol.user_envelope(event)]
    if close is not None:
        messages.append(protocol.user_close_envelope(close))
    return protocol.user_group(user_id), messages


def _what(event: protocol.ServerEvent | None, close: int | None) -> str:
    return " and ".join(([event.TYPE] if event is not None else []) + ([f"close {close}"] if close else []))


# The in-memory layer's event loop: the last one a /ws/me/ socket connected on.
_memory_layer_loop: asyncio.AbstractEventLoop | None = None


def note_consumer_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Tell this module the event loop a ``/ws/me/`` socket runs on (rooms/user_socket.py, on
    connect): the in-memory channel layer is reached through it from other threads."""
    global _memory_layer_loop
    _memory_layer_loop = loop


def _group_send(group: str, messages: list[dict[str, Any]], user_id: int, what: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        if isinstance(layer, InMemoryChannelLayer):
            loop = _memory_layer_loop
            if loop is None or loop.is_closed():
                return  # no socket ever connected to this process: nobody to tell
            for message in messages:
                future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
                future.add_done_callback(_log_failure)
        else:
            for message in messages:
                async_to_sync(layer.group_send)(group, message)
    except Exception:
        # A live update is a courtesy: the notification is saved, and the next page shows it.
        logger.warning("could not send %s to user %s", what, user_id, exc_info=True)


def _log_failure(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.warning("could not deliver a user event", exc_info=future.exception())
