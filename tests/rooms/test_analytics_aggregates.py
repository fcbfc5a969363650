"""A room's figures and minutes as PostgreSQL computes them in one query (rooms/analytics/aggregates.py)
are those of rooms/analytics/figures.py, the reference, for rooms full of awkward cases: a person's
overlapping, touching and separate sessions, sessions before the room began or still open, arrivals
and departures on a minute's very first instant, the stage."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from rooms.analytics import aggregates
from rooms.analytics import figures as compute
from rooms.analytics.services import room_sessions, room_summary, room_window
from rooms.models import ListenerSession, Room
from tests.factories import RoomFactory, UserFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the set-based figures are PostgreSQL's"),
]


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def busy_room(seed: int, *, ended: bool) -> Room:
    rng = random.Random(seed)
    now = timezone.now().replace(microsecond=0)
    start = (now - timedelta(minutes=50)).replace(second=0) + timedelta(seconds=rng.choice([0, 17]))
    room = RoomFactory(started_at=start)
    if ended:
        Room.objects.filter(pk=room.pk).update(state=Room.State.ENDED, ended_at=now - timedelta(minutes=5))
        room.refresh_from_db()
    people = [UserFactory() for _ in range(12)]
    t0 = start.timestamp()
    rows = []
    for i in range(160):
        # Whole minutes often (edges on a minute's first instant), seconds otherwise.
        joined = t0 + (rng.randrange(-5, 50) * 60 if rng.random() < 0.4 else rng.uniform(-300, 3000))
        length = rng.choice([0, 30, 60, 61, 300, 900, rng.uniform(1, 2000)])
        left = None if rng.random() < 0.15 else joined + length
        user = rng.choice(people) if rng.random() < 0.6 else None
        rows.append(
            ListenerSession(
                room=room,
                key=f"s{seed}-{i}",
                user=user,
                on_stage=rng.random() < 0.05,
                route=rng.choice(["", "websocket", "hls"]),
                source=rng.choice(["", "home", "share", "clip"]),
                joined_at=_at(joined),
                left_at=None if left is None else _at(left),
            )
        )
    # A person's sessions that touch end to start, and one inside another.
    rows += [
        ListenerSession(
            room=room, key=f"t{seed}-1", user=people[0], joined_at=_at(t0 + 600), left_at=_at(t0 + 900)
        ),
        ListenerSession(
            room=room, key=f"t{seed}-2", user=people[0], joined_at=_at(t0 + 900), left_at=_at(t0 + 960)
        ),
        ListenerSession(
            room=room, key=f"t{seed}-3", user=people[0], joined_at=_at(t0 + 610), left_at=_at(t0 + 620)
        ),
        ListenerSession(room=room, key=f"t{seed}-4", user=None, joined_at=_at(t0 + 1200), left_at=None),
        ListenerSession(room=room, key=f"t{seed}-5", user=None, joined_at=None, left_at=_at(t0 + 1300)),
    ]
    ListenerSession.objects.bulk_create(rows)
    return room


def reference(room: Room, now: datetime, since: datetime | None = None) -> tuple[dict, list[compute.Minute]]:
    window = room_window(room, now)
    if since is not None:
        window = (since.timestamp(), window[1])
    sessions = room_sessions(room.pk, since)
    return compute.compute(sessions, *window).as_dict(), compute.minutes(sessions, *window)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("ended", [False, True])
def test_postgresql_computes_the_figures_and_minutes_of_the_reference(seed, ended):
    room = busy_room(seed, ended=ended)
    now = timezone.now()
    expected_figures, expected_minutes = reference(room, now)
    end = room.ended_at or now
    figures, minutes = aggregates.room_summary(room.pk, (room.started_at, end))
    assert minutes == expected_minutes
    assert figures.pop("sources") == expected_figures.pop("sources")
    assert figures.pop("routes") == expected_figures.pop("routes")
    assert figures.pop("listener_seconds") == pytest.approx(
        expected_figures.pop("listener_seconds"), abs=0.002
    )
    assert figures.pop("median_seconds") == pytest.approx(expected_figures.pop("median_seconds"), abs=0.002)
    assert figures == expected_figures
    assert expected_figures["unique"] > 20 and expected_figures["peak"] > 5  # the room is busy


@pytest.mark.parametrize("seed", [6, 7])
def test_the_sparklines_last_minutes_are_those_of_the_reference(seed):
    room = busy_room(seed, ended=False)
    now = timezone.now()
    since = _at((int(now.timestamp() // 60) - 9) * 60)
    _, expected = reference(room, now, since)
    minutes = room_summary(room, now, last=10, figures=False)[1]
    assert [(m["minute"], m["listeners"], m["joins"], m["leaves"]) for m in minutes] == [
        (m.start, m.listeners, m.joins, m.leaves) for m in expected
    ]
    assert len(minutes) == 10


def test_a_room_nobody_listened_to_has_empty_figures():
    room = RoomFactory(started_at=timezone.now() - timedelta(minutes=3))
    now = timezone.now()
    figures, minutes = aggregates.room_summary(room.pk, (room.started_at, now))
    assert figures == compute.compute([], room.started_at.timestamp(), now.timestamp()).as_dict()
    assert figures["peak"] == figures["unique"] == 0 and figures["retention"]["1"] == 0
    assert [m.listeners for m in minutes] == [0] * len(minutes) and len(minutes) in (3, 4)
