"""The room websocket through the real ASGI application: presence (tabs, leaving, reconnecting,
heartbeats, dead processes), the audience list, bursts of sockets and batched delivery.

In CI these run on PostgreSQL and the Redis bus, presence and rate limiter.
"""

import asyncio
import json
import time

import pytest

from rooms.live.bus import _LoopFanout
from rooms.live.presence import get_presence
from rooms.models import Participant
from spaces_project import protocol

from .room_setup import db, make_room, make_user, set_role
from .wsclient import join, open_socket

pytestmark = pytest.mark.django_db(transaction=True)


# -- presence ------------------------------------------------------------------------------------------------


async def test_same_person_in_two_tabs_is_one_listener():
    room = await make_room()
    fan = await make_user()
    host = await join(room.pk, room.host)
    tab1 = await join(room.pk, fan)
    tab2 = await join(room.pk, fan)
    assert tab2.snapshot["listener_count"] == 1
    event = await host.wait_for("room.listeners", listener_count=1)
    assert [p["user_id"] for p in event["listeners"]] == [fan.pk]
    await tab1.close()
    assert fan.pk in (await get_presence().snapshot(room.pk)).user_ids
    await tab2.close()
    await host.wait_for("room.listeners", listener_count=0)
    assert fan.pk not in (await get_presence().snapshot(room.pk)).user_ids


async def test_a_speaker_who_closes_one_of_two_tabs_is_still_there_and_closing_both_leaves():
    # Only a stage member's going is announced (listeners leave through room.listeners).
    room = await make_room()
    speaker = await make_user()
    await set_role(room, speaker, Participant.Role.SPEAKER)
    host = await join(room.pk, room.host)
    tab1, tab2 = await join(room.pk, speaker), await join(room.pk, speaker)
    await tab1.close()
    await host.expect_nothing("room.participant_left", within=0.8)
    await tab2.close()
    await host.wait_for("room.participant_left", user_id=speaker.pk)


async def test_leave_quietly_announces_nothing_but_a_normal_leave_does():
    room = await make_room()
    quiet, loud = await make_user(), await make_user()
    host, q, lo = await join(room.pk, room.host), await join(room.pk, quiet), await join(room.pk, loud)
    await q.send({"type": "leave", "quiet": True})
    await q.wait_closed()
    await host.expect_nothing("room.participant_left", within=0.8)
    await lo.send({"type": "leave", "quiet": False})
    await host.wait_for("room.participant_left", user_id=loud.pk)


async def test_reconnecting_restores_place_and_role():
    room = await make_room()
    speaker = await make_user()
    await set_role(room, speaker, Participant.Role.SPEAKER, muted=False)
    s = await join(room.pk, speaker)
    assert s.snapshot["you"]["role"] == "speaker"
    await s.close()  # the connection drops; no "leave" was sent
    again = await join(room.pk, speaker)
    assert again.snapshot["you"]["role"] == "speaker"
    assert speaker.pk in [p["user_id"] for p in again.snapshot["stage"]]


async def test_socket_idle_for_eight_seconds_still_receives_the_next_event():
    # docs/architecture.md, "Pitfalls": redis-py 8's 5 s socket timeout closes idle consumers with 1011.
    room = await make_room()
    idle, actor = await make_user(), await make_user()
    i, a = await join(room.pk, idle), await join(room.pk, actor)
    await i.wait_for("room.listeners", listener_count=2)
    await asyncio.sleep(8.5)
    await a.send({"type": "reaction.send", "emoji": "👋"})
    event = await i.wait_for("room.reaction")
    assert event["user_id"] == actor.pk


async def test_client_that_stops_beating_is_closed_and_leaves_the_roster(settings):
    settings.ROOM_HEARTBEAT_SECONDS = 0.4
    room = await make_room()
    ghost, watcher = await make_user(), await make_user()
    w = await join(room.pk, watcher)
    g = await join(room.pk, ghost)
    await w.wait_for("room.listeners", listener_count=2)
    started = time.monotonic()
    beating = asyncio.create_task(_beat(w, 0.3))
    try:
        assert await g.wait_closed(timeout=3) == protocol.CLOSE_HEARTBEAT_TIMEOUT
        await w.wait_for("room.listeners", listener_count=1, timeout=3)
    finally:
        beating.cancel()
    assert time.monotonic() - started < 2 * 0.4 + 1.5


async def test_connection_of_a_dead_web_process_is_swept_from_the_roster(settings):
    # A process that dies never closes its sockets: their presence entries simply stop beating.
    settings.ROOM_HEARTBEAT_SECONDS = 0.4
    room = await make_room()
    orphan, watcher = await make_user(), await make_user()
    await db(Participant.objects.create)(room=room, user=orphan)
    await get_presence().add(room.pk, "dead-process-conn", orphan.pk, now=time.time() - 60)
    w = await join(room.pk, watcher)
    assert w.snapshot["listener_count"] == 2
    beating = asyncio.create_task(_beat(w, 0.3))
    try:
        await w.wait_for("room.listeners", listener_count=1, timeout=3)
    finally:
        beating.cancel()
    assert orphan.pk not in (await get_presence().snapshot(room.pk)).user_ids


async def _beat(socket, every: float) -> None:
    while True:
        await socket.send({"type": "heartbeat"})
        await asyncio.sleep(every)


# -- the audience list, bursts and batches -------------------------------------------------------------------


async def test_approving_a_listener_updates_the_audience_list():
    room = await make_room()
    guest = await make_user()
    host, g = await join(room.pk, room.host), await join(room.pk, guest)
    await host.wait_for("room.listeners", listener_count=1)
    await g.send({"type": "hand.raise"})
    await host.wait_for("room.participant_updated", user_id=guest.pk, hand_raised=True)
    await host.send({"type": "request.approve", "user_id": guest.pk})
    event = await host.wait_for("room.listeners", listener_count=0)
    assert event["listeners"] == []


async def test_five_hundred_sockets_connecting_at_once_all_succeed():
    # docs/architecture.md, "Pitfalls": redis-py 8's async pool allows 100 connections; a burst fails.
    room = await make_room()
    results = await asyncio.gather(*(open_socket(room.pk) for _ in range(500)))
    sockets = [socket for _, socket in results]
    try:
        assert all(connected for connected, _ in results)
        snapshots = await asyncio.gather(*(s.wait_for("room.snapshot", timeout=30) for s in sockets))
        assert len(snapshots) == 500
    finally:
        await asyncio.gather(*(s.close() for s in sockets))


async def test_events_queued_behind_a_slow_delivery_arrive_in_order_in_one_batch():
    class Member:
        user_id = None
        audio_receiver = 0

        def __init__(self):
            self.frames = []

        async def send_event(self, text, event):
            self.frames.append(json.loads(text))

        async def close_from_bus(self, code):
            pass

    fanout = _LoopFanout(asyncio.get_running_loop())
    member = Member()
    fanout.rooms[7].add(member)
    for n in range(3):  # queued while the worker is busy elsewhere: no await in between
        fanout.queue.put_nowait((7, protocol.envelope(protocol.Reaction(user_id=n, emoji="👍"))))
    fanout.queue.put_nowait((7, protocol.envelope(protocol.Error(code="x", message="For 5 only."), to=5)))
    await asyncio.sleep(0.05)
    assert member.frames == [
        {
            "type": "room.batch",
            "events": [{"type": "room.reaction", "user_id": n, "emoji": "👍"} for n in range(3)],
        }
    ]
    fanout.queue.put_nowait((7, protocol.envelope(protocol.Reaction(user_id=9, emoji="👋"))))
    await asyncio.sleep(0.05)
    assert member.frames[-1] == {"type": "room.reaction", "user_id": 9, "emoji": "👋"}
    fanout.worker.cancel()
