"""While the audience churns, `room.listeners` carries its count; the list follows once it settles.

A web process that dies sends its listeners to the others all at once. Each `room.listeners` with the
list (up to a hundred profiles) goes to every socket of the room, so the list is sent only when the
audience has been still for a broadcast interval, and at most every LISTENERS_LIST_SECONDS while it
is not (rooms/live/keeper.py). Through the real ASGI application,
PostgreSQL and (in CI) the Redis presence.
"""

import asyncio

import pytest
from channels.db import database_sync_to_async

from rooms.models import Participant
from tests.factories import RoomFactory, UserFactory

from .wsclient import join

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async
ARRIVING = 24
APART_S = 0.1  # between two arrivals: several arrive during every broadcast interval


async def _arrive(room_id: int, people: list, apart: float) -> list:
    """Open a socket for each person, one every `apart` seconds, without waiting for the earlier ones."""
    tasks = []
    for person in people:
        tasks.append(asyncio.ensure_future(join(room_id, person)))
        await asyncio.sleep(apart)
    return await asyncio.gather(*tasks)


async def _listeners_events(socket, *, until_count: int, timeout: float) -> list[dict]:
    """The `room.listeners` events `socket` receives until one with the list and `until_count`."""
    events = []
    while True:
        event = await socket.wait_for("room.listeners", timeout=timeout)
        events.append(event)
        if event["listener_count"] == until_count and "listeners" in event:
            return events


async def test_a_burst_of_arrivals_gets_counts_and_then_the_whole_list():
    room = await db(RoomFactory)()
    people = [await db(UserFactory)() for _ in range(ARRIVING)]
    host = await join(room.pk, room.host)
    first = await join(room.pk, people[0])
    await host.wait_for("room.listeners", listener_count=1)
    await first.wait_for("room.listeners", listener_count=1)
    # One more arrives every APART_S seconds: every broadcast interval brings changes.
    others = await _arrive(room.pk, people[1:], APART_S)

    for socket in (host, first):
        events = await _listeners_events(socket, until_count=ARRIVING, timeout=15)
        counts_only = [e for e in events if "listeners" not in e]
        assert counts_only, f"every broadcast carried the list: {[e['listener_count'] for e in events]}"
        # The count still moves with every broadcast, and only upwards: nobody left.
        counts = [e["listener_count"] for e in events]
        assert counts == sorted(counts) and counts[-1] == ARRIVING
        # The last one has everyone, in the order they joined.
        seated = await db(
            lambda: list(
                Participant.objects.filter(room=room, role=Participant.Role.LISTENER)
                .order_by("joined_at", "pk")
                .values_list("user_id", flat=True)
            )
        )()
        assert [p["user_id"] for p in events[-1]["listeners"]] == seated
        assert set(seated) == {p.pk for p in people}

    # Everyone leaves at once: the last event says so with the (empty) list, not only a count.
    for socket in [first, *others]:
        await socket.close()
        await asyncio.sleep(APART_S / 2)
    last = (await _listeners_events(host, until_count=0, timeout=15))[-1]
    assert last["listeners"] == []


async def test_once_the_audience_settles_a_snapshot_shows_what_the_last_broadcast_showed():
    """Count-only broadcasts leave the shared read of the room (rooms/live/snapshots.py) in place;
    the one with the list renews it, so a page that reconnects then sees the same audience."""
    room = await db(RoomFactory)()
    people = [await db(UserFactory)() for _ in range(8)]
    host = await join(room.pk, room.host)
    await _arrive(room.pk, people, APART_S)
    events = await _listeners_events(host, until_count=len(people), timeout=15)
    assert events[-1]["listener_count"] == len(people)
    await host.send({"type": "snapshot.request"})
    snapshot = await host.wait_for("room.snapshot")
    # After the list settled, a snapshot shows the same audience as the last broadcast.
    assert snapshot["listener_count"] == len(people)
    assert [p["user_id"] for p in snapshot["listeners"]] == [p["user_id"] for p in events[-1]["listeners"]]
