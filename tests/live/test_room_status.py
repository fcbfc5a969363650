"""Every status change of a room reaches every open page of it (issue 28, item 1), through the real ASGI
application: the pages in the room, and the pages of a scheduled room, whose sockets watch it (room.status
at once, then only room.status; no presence, no roster) until it opens and they join."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from accounts.services import block_create
from rooms import services
from spaces_project import protocol
from tests.factories import RoomFactory, UserFactory

from .test_audio import embedded  # noqa: F401 (a fixture)
from .wsclient import join, open_socket

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async


@db
def scheduled_room(minutes: float = 10):
    return RoomFactory(scheduled=True, scheduled_for=timezone.now() + timedelta(minutes=minutes))


async def watch(room_id: int, user=None):
    connected, socket = await open_socket(room_id, user)
    assert connected, "handshake refused"
    first = await socket.receive()
    assert first == {"type": "room.status", "status": "scheduled"}
    return socket


async def test_a_page_of_a_scheduled_room_watches_then_joins_and_follows_it_to_the_end(embedded):  # noqa: F811 (the fixture imported above)
    room = await scheduled_room()
    listener = await db(UserFactory)()
    watcher = await watch(room.pk, listener)
    # Only watching: no snapshot, no roster, and what it sends is not acted on.
    await watcher.send({"type": "hand.raise"})
    await watcher.expect_nothing("room.snapshot", within=0.3)

    await db(services.room_open_backstage)(room=room, actor=room.host)
    assert (await watcher.receive()) == {"type": "room.status", "status": "backstage"}
    host = await join(room.pk, room.host)
    # The watching page is in nobody's audience.
    assert host.snapshot["listener_count"] == 0 and host.snapshot["room"]["backstage"] is True
    await watcher.close()  # the page reconnects to join
    page = await join(room.pk, listener)
    assert page.snapshot["room"]["backstage"] is True

    await db(services.room_start)(room=room, actor=room.host)
    went_live = await page.wait_for("room.went_live")
    status = await page.wait_for("room.status")
    assert status == {"type": "room.status", "status": "live", "started_at": went_live["started_at"]}
    await host.wait_for("room.status", status="live")

    await db(services.room_end)(room=room, actor=room.host)
    # The status first, then room.ended and the close that says reconnecting cannot help.
    assert (await page.wait_for("room.status")) == {"type": "room.status", "status": "ended"}
    assert (await page.receive())["type"] == "room.ended"
    assert await page.wait_closed() == protocol.CLOSE_ENDED


async def test_start_now_and_cancel_reach_the_watching_pages_anonymous_ones_too(embedded):  # noqa: F811
    room = await scheduled_room(minutes=60 * 24)
    anonymous = await watch(room.pk)
    await db(services.room_start)(room=room, actor=room.host)
    status = await anonymous.receive()
    assert status["status"] == "live" and status["started_at"]

    other = await scheduled_room()
    watcher = await watch(other.pk, await db(UserFactory)())
    await db(services.room_cancel)(room=other, actor=other.host)
    assert (await watcher.receive()) == {"type": "room.status", "status": "cancelled"}


async def test_a_page_opened_on_a_room_that_is_over_is_told_its_status_then_closed(embedded):  # noqa: F811
    cancelled = await scheduled_room()
    await db(services.room_cancel)(room=cancelled, actor=cancelled.host)
    connected, socket = await open_socket(cancelled.pk, await db(UserFactory)())
    assert connected
    assert (await socket.receive()) == {"type": "room.status", "status": "cancelled"}
    assert await socket.wait_closed() == protocol.CLOSE_NOT_LIVE

    ended = await db(RoomFactory)()
    await db(services.room_end)(room=ended, actor=ended.host)
    connected, socket = await open_socket(ended.pk)
    assert (await socket.receive()) == {"type": "room.status", "status": "ended"}
    assert await socket.wait_closed() == protocol.CLOSE_ENDED


async def test_someone_the_host_blocked_learns_nothing_of_a_scheduled_room(embedded):  # noqa: F811
    room = await scheduled_room()
    blocked = await db(UserFactory)()
    await db(block_create)(blocker=room.host, blocked=blocked)
    connected, socket = await open_socket(room.pk, blocked)
    assert connected
    assert await socket.wait_closed() == protocol.CLOSE_NOT_FOUND
    assert socket.seen == []


async def test_a_backstage_moved_away_sends_its_pages_back_to_the_schedule(embedded):  # noqa: F811
    room = await scheduled_room(minutes=5)
    await db(services.room_open_backstage)(room=room, actor=room.host)
    host = await join(room.pk, room.host)
    later = timezone.now() + timedelta(days=1)
    await db(services.room_update)(
        room=room,
        actor=room.host,
        title=room.title,
        description="",
        topics=[],
        speaker_policy=room.speaker_policy,
        allow_anonymous=True,
        scheduled_for=later,
    )
    assert (await host.wait_for("room.status")) == {"type": "room.status", "status": "scheduled"}
    assert await host.wait_closed() == protocol.CLOSE_NOT_LIVE
    # Its page reconnects and watches again.
    await watch(room.pk, room.host)


async def test_a_page_that_missed_the_room_going_live_learns_when_from_its_snapshot(embedded):  # noqa: F811
    """A page that reconnects after the room went live never saw room.status with its started_at: the
    snapshot carries it, so "Live since …" is not left blank."""
    room = await scheduled_room()
    await db(services.room_open_backstage)(room=room, actor=room.host)
    host = await join(room.pk, room.host)
    assert host.snapshot["room"]["started_at"] is None
    await host.close()
    await db(services.room_start)(room=room, actor=room.host)
    await db(room.refresh_from_db)()
    page = await join(room.pk, await db(UserFactory)())
    assert page.snapshot["room"]["state"] == "live"
    assert page.snapshot["room"]["started_at"] == room.started_at.isoformat()
