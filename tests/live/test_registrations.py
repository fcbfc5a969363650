"""Whatever way a room socket goes, it leaves the room bus and the roster (the count /healthz shows)."""

import asyncio

import pytest
from channels.db import database_sync_to_async

from rooms import services
from rooms.live import presence
from rooms.live.bus import attached_count
from rooms.live.presence import RedisPresence, get_presence
from tests.factories import RoomFactory, UserFactory

from .wsclient import join, open_socket

pytestmark = pytest.mark.django_db(transaction=True)


async def wait_attached(count: int, timeout: float = 3) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while attached_count() != count:
        assert loop.time() < deadline, f"{attached_count()} sockets attached, expected {count}"
        await asyncio.sleep(0.02)


async def test_a_socket_that_leaves_is_detached_and_off_the_roster():
    room = await database_sync_to_async(RoomFactory)()
    listener = await database_sync_to_async(UserFactory)()
    before = attached_count()
    socket = await join(room.pk, listener)
    await wait_attached(before + 1)
    await socket.close()
    await wait_attached(before)
    assert listener.pk not in (await get_presence().snapshot(room.pk)).user_ids


async def test_a_socket_whose_consumer_dies_from_an_exception_is_detached(monkeypatch, settings):
    """Redis answers the bus but not the roster: joining raises inside the consumer, which never
    gets to disconnect(); what it registered is undone all the same."""
    room = await database_sync_to_async(RoomFactory)()
    listener = await database_sync_to_async(UserFactory)()
    if not settings.REDIS_URL:
        pytest.skip("without Redis the roster lives in memory and cannot fail")
    monkeypatch.setattr(presence, "_presence", RedisPresence("redis://127.0.0.1:9/0"))  # nothing listens
    before = attached_count()
    connected, socket = await open_socket(room.pk, listener)
    assert connected  # accepted first, so that a refusal can be explained
    with pytest.raises(Exception, match="connect|refused|roster"):
        await socket.receive(5)
    await wait_attached(before)


async def test_a_host_whose_new_page_joined_before_the_old_one_left_is_announced_again():
    """A reload: the old page's leave can reach the others after the new page's join. Whoever is
    still connected when a stage member's leave has gone out is announced on stage again, after it;
    an audience member is not."""
    room = await database_sync_to_async(RoomFactory)()
    host = await database_sync_to_async(lambda: room.host)()
    fan = await database_sync_to_async(UserFactory)()
    await join(room.pk, host)
    listener = await join(room.pk, fan)
    assert await get_presence().is_present(room.pk, host.pk)
    assert await get_presence().is_present(room.pk, fan.pk)
    assert not await get_presence().is_present(room.pk, fan.pk + 1_000)

    await database_sync_to_async(services.participant_reannounce)(room_id=room.pk, user_id=host.pk)
    again = await listener.wait_for("room.participant_updated", user_id=host.pk)
    assert again["participant"]["role"] == "host"
    await database_sync_to_async(services.participant_reannounce)(room_id=room.pk, user_id=fan.pk)
    await listener.expect_nothing("room.participant_updated")

    await listener.close()
    assert not await get_presence().is_present(room.pk, fan.pk)
