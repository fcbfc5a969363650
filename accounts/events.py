"""Deliver events to one person's open pages: the channel layer group ``user.<id>``.

Every signed-in page keeps one socket to ``/ws/me/`` (accounts/consumers.py) in that group. The
events are few and small (a notification, an unread count), so the channel layer's per-socket
``group_send`` suits them, unlike room traffic (rooms/bus.py). They are declared in rooms/protocol.py
(``@user_event``) and built with its constructors.

Services send after commit, from whatever thread they run on: a request, a Celery worker, the
embedded beat thread of a server without Redis (spaces_project/embedded_beat.py).
"""

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

from spaces_project import protocol

logger = logging.getLogger(__name__)

# The in-memory layer (no Redis) lives in the web process's event loop and is not thread-safe:
# other threads hand it their events through that loop, which the consumers note on connect.
_memory_layer_loop: asyncio.AbstractEventLoop | None = None


def note_consumer_loop(loop: asyncio.AbstractEventLoop) -> None:
    global _memory_layer_loop
    _memory_layer_loop = loop


def send_to_user(user_id: int, event: protocol.ServerEvent) -> None:
    """Send `event` (a per-person event) to every open page of `user_id` now. Safe from any thread;
    never raises for a delivery problem."""
    _group_send(user_id, protocol.user_envelope(event), event.TYPE)


def close_user_sockets(user_id: int, code: int) -> None:
    """Close every open ``/ws/me/`` socket of `user_id` now, with `code`. Safe from any thread."""
    _group_send(user_id, protocol.user_close_envelope(code), f"close {code}")


def _group_send(user_id: int, message: dict, what: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    group = protocol.user_group(user_id)
    try:
        if isinstance(layer, InMemoryChannelLayer):
            loop = _memory_layer_loop
            if loop is None or loop.is_closed():
                return  # no socket ever connected to this process: nobody to tell
            future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
            future.add_done_callback(_log_failure)
        else:
            async_to_sync(layer.group_send)(group, message)
    except Exception:
        # A live update is a courtesy: the notification is saved, and the next page shows it.
        logger.warning("could not send %s to user %s", what, user_id, exc_info=True)


def _log_failure(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.warning("could not deliver a user event", exc_info=future.exception())


def send_to_user_on_commit(user_id: int, event: protocol.ServerEvent) -> None:
    """Send `event` to `user_id`'s pages once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: send_to_user(user_id, event), robust=True)


def close_user_sockets_on_commit(user_id: int, code: int) -> None:
    """Close `user_id`'s ``/ws/me/`` sockets once the current transaction commits."""
    transaction.on_commit(lambda: close_user_sockets(user_id, code), robust=True)
