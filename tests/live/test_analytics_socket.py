"""The room socket notes each connection's session for the host's analytics, off the live path: the
join once its route is known, with where the visitor came from, and the leave; written by the flush."""

import asyncio
import time

import pytest
import redis
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings

from rooms.analytics import collect
from rooms.analytics.services import analytics_flush
from rooms.live.keeper import RoomKeeper
from rooms.live.presence import get_presence
from rooms.models import ListenerSession
from spaces_project.asgi import application
from tests.factories import RoomFactory, UserFactory

from .wsclient import OPEN_SOCKETS, ORIGIN, RoomSocket, _session_for

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


@pytest.fixture(autouse=True)
def empty_analytics_queue():
    collect.get_buffer().take()
    if settings.REDIS_URL:
        redis.Redis.from_url(settings.REDIS_URL).delete(collect.LIST_KEY, "spaces:lock:analytics-flush")
    yield
    collect.get_buffer().take()


async def connect(room_id: int, user=None, query: str = "") -> RoomSocket:
    headers = [(b"origin", ORIGIN.encode()), (b"host", b"127.0.0.1:8000")]
    if user is not None:
        session_key = await db(_session_for)(user)
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()))
    communicator = WebsocketCommunicator(application, f"/ws/rooms/{room_id}/{query}", headers=headers)
    socket = RoomSocket(communicator)
    OPEN_SOCKETS.append(socket)
    connected, _ = await communicator.connect(timeout=30)
    assert connected
    await socket.wait_for("room.snapshot")
    return socket


async def flushed() -> list[ListenerSession]:
    # With Redis, the buffer is pushed half a second after the last event.
    await asyncio.sleep(collect.PUSH_DELAY_S + 0.3)
    await db(analytics_flush)()
    return await db(lambda: list(ListenerSession.objects.order_by("joined_at")))()


async def test_a_sockets_session_is_counted_with_its_source_route_and_leave():
    room = await db(RoomFactory)()
    listener = await db(UserFactory)()
    host = await connect(room.pk, room.host)
    person = await connect(room.pk, listener, "?src=search")
    visitor = await connect(room.pk, None, "?src=not-ours")
    assert await db(ListenerSession.objects.count)() == 0  # nothing written on the join itself
    await person.close()
    sessions = await flushed()
    assert len(sessions) == 3
    by_user = {s.user_id: s for s in sessions}
    assert by_user[room.host_id].on_stage is True
    mine = by_user[listener.pk]
    assert (mine.on_stage, mine.route, mine.source) == (False, "websocket", "search")
    assert mine.joined_at is not None and mine.left_at is not None and mine.left_at >= mine.joined_at
    anonymous = by_user[None]
    assert (anonymous.source, anonymous.left_at) == ("direct", None)
    await visitor.close()
    await host.close()
    sessions = await flushed()
    assert all(s.left_at is not None for s in sessions)


async def test_the_sweep_ends_the_session_of_a_dead_processs_socket():
    room = await db(RoomFactory)()
    store = get_presence()
    long_ago = time.time() - 100
    # A socket of a web process that died: on the roster, beating no more, its leave never sent.
    await store.add(room.pk, "dead-conn", "~203.0.113.9", now=long_ago)
    collect.session_started(
        room_id=room.pk,
        session="dead-conn",
        user_id=None,
        on_stage=False,
        route="hls",
        source="home",
        at=long_ago,
    )
    await RoomKeeper(room.pk).sweep(store, interval=10)
    (session,) = await flushed()
    assert session.key == "dead-conn" and session.left_at is not None
