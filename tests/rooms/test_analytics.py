"""Hosts' analytics: collection, the batched idempotent flush, a room's figures and rollups, the purge.

The scripted room: it runs 40 minutes. Ann (signed in) listens from minute 0 to 10; Ben (signed in)
from 2 to 4 and again from 6 to 20; an anonymous visitor from 3 to 33; the host is on stage all along
(not part of the audience).
"""

import json
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from rooms.analytics import collect, selectors
from rooms.analytics.services import analytics_flush, analytics_purge, analytics_room_ended
from rooms.models import ListenerMinute, ListenerSession, Room, RoomFigures, RoomTally
from rooms.services import room_end
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_analytics_queue():
    """Nothing left over from another test, in this process's buffer or in Redis."""
    collect.get_buffer().take()
    if settings.REDIS_URL:
        redis.Redis.from_url(settings.REDIS_URL).delete(collect.LIST_KEY, "spaces:lock:analytics-flush")
    yield
    collect.get_buffer().take()


def redeliver(events: list[dict]) -> None:
    """Deliver these events again, exactly as they were (a retry after a flush died half-way)."""
    if settings.REDIS_URL:
        redis.Redis.from_url(settings.REDIS_URL).rpush(collect.LIST_KEY, *[json.dumps(e) for e in events])
    else:
        collect.get_buffer().put_back(events)


def taken_events() -> list[dict]:
    """What is waiting to be flushed, without flushing it (and put back as it was)."""
    if settings.REDIS_URL:
        collect.get_buffer().push_sync()
        client = redis.Redis.from_url(settings.REDIS_URL)
        return [json.loads(e) for e in client.lrange(collect.LIST_KEY, 0, -1)]
    events = collect.get_buffer().take()
    collect.get_buffer().put_back(events)
    return events


@pytest.fixture
def scripted(db):
    start = (timezone.now() - timedelta(hours=3)).replace(second=0, microsecond=0)
    room = RoomFactory(started_at=start)
    ann, ben = UserFactory(handle="ann"), UserFactory(handle="ben")
    t0 = start.timestamp()

    def at(minutes: float) -> float:
        return t0 + minutes * 60

    def listen(key, user, joined, left, src="home", route="websocket", stage=False):
        collect.session_started(
            room_id=room.pk, session=key, user_id=user, on_stage=stage, route=route, source=src, at=at(joined)
        )
        collect.session_ended(room_id=room.pk, session=key, at=at(left))

    listen("host-1", room.host_id, -5, 45, src="direct", stage=True)
    listen("ann-1", ann.pk, 0, 10)
    listen("ben-1", ben.pk, 2, 4, src="profile")
    listen("ben-2", ben.pk, 6, 20, src="profile", route="hls")
    listen("anon-1", None, 3, 33, src="share")
    collect.tally(room_id=room.pk, kind="reaction", count=4, at=at(3.5))
    collect.tally(room_id=room.pk, kind="hand", at=at(7))
    collect.tally(room_id=room.pk, kind="talk_ms", count=90_000, user_id=room.host_id, at=at(1))
    Room.objects.filter(pk=room.pk).update(state=Room.State.ENDED, ended_at=start + timedelta(minutes=40))
    room.refresh_from_db()
    return room, at


def test_a_scripted_room_gives_exact_figures(scripted):
    room, at = scripted
    analytics_room_ended(room_id=room.pk)
    figures = selectors.room_report(room=room).figures
    assert figures["peak"] == 3
    assert figures["peak_at"] == at(3)
    assert (figures["unique"], figures["signed_in"], figures["anonymous"]) == (3, 2, 1)
    # 10 + (2 + 14) + 30 listener-minutes; the host on stage is not the audience.
    assert figures["listener_seconds"] == 56 * 60
    assert figures["median_seconds"] == 16 * 60
    assert figures["retention"] == {"1": 3, "5": 3, "15": 2, "30": 1}
    assert figures["sources"] == {"home": 1, "profile": 1, "share": 1}
    assert figures["routes"] == {"websocket": 3}
    assert (figures["reactions"], figures["hands"]) == (4, 1)
    assert figures["talk_ms"] == {str(room.host_id): 90_000}
    report = selectors.room_report(room=room)
    assert report.talk == [(room.host.name, 90_000)]
    assert [(m, n) for m, n, _ in report.retention] == [(1, 3), (5, 3), (15, 2), (30, 1)]


def test_minutes_are_rolled_up(scripted):
    room, at = scripted
    analytics_room_ended(room_id=room.pk)
    minutes = list(ListenerMinute.objects.filter(room=room).order_by("minute"))
    assert len(minutes) == 40
    by_minute = {int((m.minute.timestamp() - at(0)) // 60): m for m in minutes}
    assert [by_minute[i].listeners for i in range(6)] == [1, 1, 2, 3, 2, 2]
    assert by_minute[3].joins == 1 and by_minute[3].reactions == 4
    assert by_minute[4].leaves == 1
    assert by_minute[7].hands == 1
    assert by_minute[39].listeners == 0
    assert sum(m.joins for m in minutes) == 4 and sum(m.leaves for m in minutes) == 4


def test_a_replayed_or_out_of_order_event_changes_no_figure(scripted):
    room, _ = scripted
    waiting = taken_events()
    analytics_room_ended(room_id=room.pk)
    before = RoomFigures.objects.get(room=room).figures
    rollup = list(
        ListenerMinute.objects.filter(room=room).values_list(
            "minute", "listeners", "joins", "leaves", "reactions"
        )
    )
    # Every event again, the leaves before their joins; then the flush of a room that has ended.
    redeliver([e for e in waiting if e["t"] == "leave"] + [e for e in waiting if e["t"] != "leave"])
    assert analytics_flush() == len(waiting)
    assert RoomFigures.objects.get(room=room).figures == before
    assert (
        list(
            ListenerMinute.objects.filter(room=room).values_list(
                "minute", "listeners", "joins", "leaves", "reactions"
            )
        )
        == rollup
    )
    assert ListenerSession.objects.filter(room=room).count() == 5
    assert RoomTally.objects.filter(room=room).count() == 3


def test_a_leave_heard_before_its_join_makes_the_same_session(db):
    room = RoomFactory()
    joined = timezone.now() - timedelta(minutes=5)
    collect.session_ended(room_id=room.pk, session="k1", at=joined.timestamp() + 120)
    analytics_flush()
    collect.session_started(
        room_id=room.pk,
        session="k1",
        user_id=None,
        on_stage=False,
        route="hls",
        source="search",
        at=joined.timestamp(),
    )
    analytics_flush()
    session = ListenerSession.objects.get(key="k1")
    assert (session.joined_at.timestamp(), session.left_at.timestamp()) == (
        joined.timestamp(),
        joined.timestamp() + 120,
    )
    assert (session.route, session.source) == ("hls", "search")


def test_ending_a_room_writes_its_figures_and_closes_open_sessions(db, django_capture_on_commit_callbacks):
    room = RoomFactory(started_at=timezone.now() - timedelta(minutes=10))
    listener = UserFactory()
    collect.session_started(
        room_id=room.pk,
        session="still-here",
        user_id=listener.pk,
        on_stage=False,
        route="websocket",
        source="home",
        at=(timezone.now() - timedelta(minutes=4)).timestamp(),
    )
    with django_capture_on_commit_callbacks(execute=True):
        room_end(room=room, actor=room.host)
    figures = RoomFigures.objects.get(room=room).figures
    assert figures["unique"] == 1 and figures["peak"] == 1
    # Still connected when the room ended: listened until its end.
    assert figures["listener_seconds"] == pytest.approx(4 * 60, abs=2)


def test_nothing_is_written_per_join_until_the_flush(db):
    room = RoomFactory()
    for n in range(50):
        collect.session_started(
            room_id=room.pk, session=f"s{n}", user_id=None, on_stage=False, route="websocket", source="home"
        )
    assert ListenerSession.objects.count() == 0
    assert analytics_flush() == 50
    assert ListenerSession.objects.filter(room=room).count() == 50


def test_raw_sessions_are_purged_after_the_retention_period_and_figures_stay(scripted, settings):
    room, _ = scripted
    analytics_room_ended(room_id=room.pk)
    settings.ANALYTICS_RAW_DAYS = 90
    assert analytics_purge(now=timezone.now() + timedelta(days=89)) == 0
    assert analytics_purge(now=timezone.now() + timedelta(days=91)) == 5
    assert not ListenerSession.objects.filter(room=room).exists()
    assert not RoomTally.objects.filter(room=room).exists()
    report = selectors.room_report(room=room)
    assert report.figures["peak"] == 3 and report.figures["listener_seconds"] == 56 * 60
    assert report.figures["talk_ms"] == {str(room.host_id): 90_000}
    assert len(report.minutes) == 40


def test_events_of_a_deleted_account_or_room_are_dropped(db):
    room, gone_room = RoomFactory(), RoomFactory()
    person = UserFactory()
    collect.session_started(
        room_id=room.pk, session="a", user_id=person.pk, on_stage=False, route="", source=""
    )
    collect.session_started(
        room_id=gone_room.pk, session="b", user_id=None, on_stage=False, route="", source=""
    )
    person.delete()
    gone_room.delete()
    analytics_flush()
    assert ListenerSession.objects.count() == 0
