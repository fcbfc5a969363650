"""What a web process does when another one's sockets all arrive at once (bench/reconnect_storm.py):
their presence goes to Redis in one script call, the room is read as plain rows, and that read does
not wait behind the sign-ins and seats on the process's one database thread."""

import asyncio
import threading

import pytest
from channels.db import database_sync_to_async
from django.conf import settings

from rooms.events import participant_payload
from rooms.live.presence import RedisPresence, get_presence
from rooms.live.snapshots import get_room_views
from rooms.models import Participant
from rooms.selectors import room_live_view
from spaces_project.redis_clients import sync_client
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async
needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="the Redis presence store needs REDIS_URL")


def _script_calls() -> int:
    stats = sync_client().info("commandstats")
    return sum(stats.get(name, {}).get("calls", 0) for name in ("cmdstat_evalsha", "cmdstat_eval"))


@needs_redis
async def test_presence_adds_that_arrive_together_are_one_script_call_with_the_counts_of_one_by_one():
    presence = get_presence()
    assert isinstance(presence, RedisPresence)
    room_id = 10_000_001
    await presence.redis.delete(*presence._keys(room_id))
    await presence.add(room_id, "warm-up", "~warm-up")  # the script loaded, the pool connected

    before = _script_calls()
    # 30 sockets of 20 people (ten of them with two tabs) and 5 anonymous addresses, all at once.
    arrivals = [(f"c{n}", n % 20 + 1) for n in range(30)] + [(f"a{n}", f"~10.0.0.{n}") for n in range(5)]
    changes = await asyncio.gather(*(presence.add(room_id, conn, who) for conn, who in arrivals))
    calls = _script_calls() - before

    assert calls == 1, f"{calls} script calls for {len(arrivals)} adds"
    by_person = {}
    for (_conn, who), change in zip(arrivals, changes, strict=True):
        by_person.setdefault(who, []).append(change)
    for who, seen in by_person.items():
        # In arrival order, as one add after another: the first arrives, the second is a second tab.
        assert [c.connections for c in seen] == list(range(1, len(seen) + 1)), (who, seen)
        assert [c.person_changed for c in seen] == [isinstance(who, int)] + [False] * (len(seen) - 1)
    assert {c.people for c in changes} == {1 + 20 + 5}  # the warm-up's address counts too
    assert await presence.people_count(room_id) == 26
    # An add of a connection already there is not counted twice.
    again = await presence.add(room_id, "c0", 1)
    assert (again.connections, again.person_changed, again.people) == (2, False, 26)
    await presence.redis.delete(*presence._keys(room_id))


def _seat_people(room, count: int) -> list:
    people = [UserFactory() for _ in range(count)]
    roles = ["speaker", "cohost", "speaker"] + ["listener"] * (count - 3)
    for n, (user, role) in enumerate(zip(people, roles, strict=True)):
        Participant.objects.create(
            room=room,
            user=user,
            role=role,
            is_muted=n % 2 == 0,
            hand_raised_at=None if n % 7 else room.created_at,
        )
    return people


def test_the_room_read_as_rows_is_the_room_read_as_models():
    room = RoomFactory()  # its host seated
    people = _seat_people(room, 130)
    present = {user.pk for user in people[::2]} | {people[1].pk}

    view = room_live_view(room_id=room.pk, present_user_ids=present, anonymous=3, heartbeat_seconds=15)

    rows = list(Participant.objects.filter(room=room).select_related("user").order_by("joined_at", "pk"))
    payloads = {p.user_id: participant_payload(p) for p in rows}
    assert view.people == payloads
    stage = [p for p in rows if p.on_stage and (p.user_id in present or p.role == "host")]
    assert [p["user_id"] for p in view.snapshot.stage] == [
        p.user_id for p in sorted(stage, key=lambda p: ["host", "cohost", "speaker"].index(p.role))
    ]
    audience = [p.user_id for p in rows if not p.on_stage and p.user_id in present]
    assert [p["user_id"] for p in view.snapshot.listeners] == audience[:100]
    assert view.snapshot.listener_count == len(audience) + 3
    assert view.snapshot.hands == [p.user_id for p in rows if p.hand_raised and p.user_id in present]


async def test_a_room_read_does_not_wait_behind_the_database_thread():
    """With PostgreSQL the shared read has a thread of its own: here the database thread is held
    until the read is done, which would never happen if the read queued behind it."""
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("SQLite keeps the one database thread")
    room = await db(RoomFactory)()
    release = threading.Event()
    held = asyncio.ensure_future(db(release.wait)(10))
    await asyncio.sleep(0.1)  # the database thread is in release.wait
    try:
        view = await asyncio.wait_for(get_room_views().view_for(room.pk, None, heartbeat_seconds=15), 5)
    finally:
        release.set()
        await held
    assert view.room.pk == room.pk
