"""Whatever way a room socket goes, it leaves the room bus and the roster (the count /healthz shows)."""

import asyncio

import psycopg
import pytest
from channels.db import database_sync_to_async
from django.db import connection

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
    """A reload, through the real consumers: the old page's socket goes, its leave reaching the room's
    pages after the new page's join. Here the new page's join is held in the database (the participants
    table locked from another connection) while the old page's socket closes, so the old page finds the
    host gone from the roster, and its room.participant_left goes out behind the new page's
    announcement. The consumer then announces the host on stage again: a listener's page keeps them."""
    room = await database_sync_to_async(RoomFactory)()
    host = await database_sync_to_async(lambda: room.host)()
    fan = await database_sync_to_async(UserFactory)()
    old_page = await join(room.pk, host)
    listener = await join(room.pk, fan)
    locker = await asyncio.to_thread(_connect_to_the_test_database)
    try:
        await asyncio.to_thread(locker.execute, "LOCK TABLE rooms_participant IN ACCESS EXCLUSIVE MODE")
        connected, new_page = await open_socket(room.pk, host)  # accepted, then joining: held
        assert connected
        await _wait_until_a_query_waits_for(locker)
        await old_page.communicator.send_input({"type": "websocket.disconnect", "code": 1001})
        old_page.closed = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3
        while await get_presence().is_present(room.pk, host.pk):  # the old page is off the roster
            assert loop.time() < deadline, "the old page's socket stayed on the roster"
            await asyncio.sleep(0.02)
    finally:
        await asyncio.to_thread(locker.commit)
        await asyncio.to_thread(locker.close)

    await new_page.wait_for("room.snapshot")
    await listener.wait_for("room.participant_left", user_id=host.pk)
    again = await listener.wait_for("room.participant_updated", user_id=host.pk)
    assert again["participant"]["role"] == "host"
    await old_page.communicator.wait(3)
    assert await get_presence().is_present(room.pk, host.pk)


async def test_only_a_stage_member_still_connected_is_announced_again():
    """What the consumer calls after a leave: a stage member is announced again, an audience member not."""
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


def _connect_to_the_test_database() -> psycopg.Connection:
    """A connection of its own (not Django's), to hold a lock that the consumers' queries wait for."""
    settings = connection.settings_dict
    return psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
    )


async def _wait_until_a_query_waits_for(locker: psycopg.Connection, timeout: float = 5) -> None:
    """Until some other connection's query waits for the lock `locker` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    query = "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid()"
    while (await asyncio.to_thread(lambda: locker.execute(query).fetchone()[0])) == 0:
        assert loop.time() < deadline, "the new page's join never reached the database"
        await asyncio.sleep(0.02)
