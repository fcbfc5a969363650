"""Snapshots read once for many sockets (rooms/live/snapshots.py) are never older than the room's events."""

import pytest
from channels.db import database_sync_to_async

from tests.factories import RoomFactory, UserFactory

from .wsclient import join

pytestmark = pytest.mark.django_db(transaction=True)


async def test_many_sockets_asking_at_once_all_get_the_room_and_their_own_place():
    room = await database_sync_to_async(RoomFactory)()
    people = [await database_sync_to_async(UserFactory)() for _ in range(6)]
    sockets = [await join(room.pk, person) for person in people]
    anonymous = await join(room.pk)
    try:
        everyone = [*sockets, anonymous]
        for socket in everyone:
            await socket.send({"type": "snapshot.request"})
        snapshots = [await socket.wait_for("room.snapshot", 5) for socket in everyone]
        assert [s["you"]["user_id"] for s in snapshots[:-1]] == [p.pk for p in people]
        assert snapshots[-1]["you"] is None
        assert {s["room"]["id"] for s in snapshots} == {room.pk}
        assert len({(len(s["stage"]), s["stage"][0]["user_id"]) for s in snapshots}) == 1
    finally:
        for socket in [*sockets, anonymous]:
            await socket.close()


async def test_a_snapshot_asked_after_an_event_shows_the_change():
    room = await database_sync_to_async(RoomFactory)()
    listener, watcher = (
        await database_sync_to_async(UserFactory)(),
        await database_sync_to_async(UserFactory)(),
    )
    a, b = await join(room.pk, listener), await join(room.pk, watcher)
    try:
        await b.send({"type": "snapshot.request"})
        before = await b.wait_for("room.snapshot")
        assert before["hands"] == []
        await a.send({"type": "hand.raise"})
        await b.wait_for("room.participant_updated", user_id=listener.pk, hand_raised=True)
        await b.send({"type": "snapshot.request"})
        after = await b.wait_for("room.snapshot")
        assert after["hands"] == [listener.pk]
    finally:
        await a.close()
        await b.close()


async def test_someone_who_joins_after_a_shared_read_gets_their_own_place():
    room = await database_sync_to_async(RoomFactory)()
    first = await join(room.pk, await database_sync_to_async(UserFactory)())
    newcomer = await database_sync_to_async(UserFactory)()
    try:
        await first.send({"type": "snapshot.request"})
        await first.wait_for("room.snapshot")
        late = await join(room.pk, newcomer)  # within the shared read's lifetime
        assert late.snapshot["you"]["user_id"] == newcomer.pk
        await late.close()
    finally:
        await first.close()
