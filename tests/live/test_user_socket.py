"""The per-person socket /ws/me/ through the real ASGI application: the unread count and new
notifications reach every open page of the person, and nobody else's.

In CI these run on PostgreSQL and the Redis channel layer.
"""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from accounts.models import Notification, NotificationPreference
from accounts.services import (
    follow_create,
    notifications_mark_read,
    notifications_mark_seen,
    notify,
    user_delete_account,
    user_password_changed,
    user_sign_out_everywhere,
    user_suspend,
)
from rooms.services import reminder_set
from spaces_project import protocol
from tests.factories import PASSWORD, RoomFactory, UserFactory

from .wsclient import UserSocket, open_user_socket

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


@pytest.fixture
async def sockets():
    """Open per-person sockets (every frame held to the protocol); all closed at the end."""
    opened: list[UserSocket] = []

    async def open_for(user=None) -> UserSocket:
        socket = await open_user_socket(user)
        opened.append(socket)
        return socket

    yield open_for
    for socket in opened:
        await socket.close()


async def test_a_visitor_who_is_not_signed_in_is_turned_away(sockets):
    socket = await sockets()
    assert await socket.wait_closed() == protocol.CLOSE_SIGN_IN_REQUIRED


async def test_the_unread_count_comes_on_connect(sockets):
    person = await db(UserFactory)()
    await db(notify)(recipients=[person.pk], kind=Notification.Kind.REMINDER, text="One")
    await db(notify)(recipients=[person.pk], kind=Notification.Kind.REMINDER, text="Two")
    socket = await sockets(person)
    assert await socket.wait_for("user.snapshot") == {
        "type": "user.snapshot",
        "unread_count": 2,
        "reminder_counts": [],
    }


async def test_a_host_page_learns_its_reminder_counts_on_connect(sockets):
    room = await db(RoomFactory)(scheduled=True)
    other = await db(RoomFactory)(scheduled=True, host=room.host)
    await db(reminder_set)(room_id=room.pk, user=await db(UserFactory)())
    snapshot = await (await sockets(room.host)).wait_for("user.snapshot")
    assert snapshot["reminder_counts"] == [
        {"room_id": room.pk, "count": 1},
        {"room_id": other.pk, "count": 0},
    ]


async def test_a_new_notification_reaches_every_page_of_its_recipient_and_nobody_else(sockets):
    person, other, follower = await db(UserFactory)(), await db(UserFactory)(), await db(UserFactory)()
    tab1, tab2, elsewhere = await sockets(person), await sockets(person), await sockets(other)
    for socket in (tab1, tab2, elsewhere):
        await socket.wait_for("user.snapshot")

    await db(follow_create)(follower=follower, followee=person)

    for tab in (tab1, tab2):
        event = await tab.wait_for("user.notification")
        assert event["unread_count"] == 1
        note = event["notification"]
        assert note["kind"] == "new_follower" and note["url"] == f"/@{follower.handle}/"
        assert note["actor"]["handle"] == follower.handle and f"@{follower.handle}" in note["text"]
        assert set(note) == set(protocol.NotificationInfo.__annotations__)
    await elsewhere.expect_nothing("user.notification", within=0.5)


async def test_reading_on_one_page_clears_the_badge_on_the_others(sockets):
    person = await db(UserFactory)()
    await db(notify)(recipients=[person.pk], kind=Notification.Kind.REMINDER, text="Hello")
    tab = await sockets(person)
    assert (await tab.wait_for("user.snapshot"))["unread_count"] == 1
    await db(notifications_mark_read)(user=person)
    assert (await tab.wait_for("user.unread"))["unread_count"] == 0


async def test_opening_the_list_on_one_page_clears_the_badge_on_the_others(sockets):
    person = await db(UserFactory)()
    shown = await db(notify)(recipients=[person.pk], kind=Notification.Kind.REMINDER, text="Hello")
    tab = await sockets(person)
    assert (await tab.wait_for("user.snapshot"))["unread_count"] == 1
    # What the list view calls with the notifications it shows (accounts.views.notifications).
    await db(notifications_mark_seen)(user=person, notification_ids=shown)
    assert (await tab.wait_for("user.unread"))["unread_count"] == 0
    # Seeing them again changes nothing, and sends nothing.
    await db(notifications_mark_seen)(user=person, notification_ids=shown)
    await tab.expect_nothing("user.unread", within=0.5)


async def test_a_kind_switched_off_in_the_app_does_not_light_the_badge(sockets):
    person = await db(UserFactory)()
    await db(NotificationPreference.objects.create)(
        user=person, kind=Notification.Kind.REMINDER, in_app=False, email=True
    )
    tab = await sockets(person)
    await tab.wait_for("user.snapshot")
    await db(notify)(recipients=[person.pk], kind=Notification.Kind.REMINDER, text="By email only")
    await tab.expect_nothing("user.notification", within=0.5)


async def test_the_host_sees_the_reminder_count_rise(sockets):
    room = await db(RoomFactory)(scheduled=True)
    listener = await db(UserFactory)()
    host_page = await sockets(room.host)
    await host_page.wait_for("user.snapshot")
    await db(reminder_set)(room_id=room.pk, user=listener)
    event = await host_page.wait_for("user.reminder_count")
    assert event == {"type": "user.reminder_count", "room_id": room.pk, "count": 1}


async def test_a_page_idle_for_eight_seconds_still_hears_the_next_notification(sockets):
    # PITFALLS: redis-py 8's 5 s socket timeout closes consumers blocked on the channel layer.
    person = await db(UserFactory)()
    tab = await sockets(person)
    await tab.wait_for("user.snapshot")
    await asyncio.sleep(8.5)
    await db(notify)(recipients=[person.pk], kind=Notification.Kind.REMINDER, text="Still here?")
    assert (await tab.wait_for("user.notification"))["notification"]["text"] == "Still here?"


def _sign_out_everywhere(person) -> None:
    user_sign_out_everywhere(user=person)


def _change_password(person) -> None:
    person.set_password("a new and long passphrase")
    person.save(update_fields=["password"])
    user_password_changed(user=person)


def _suspend(person) -> None:
    user_suspend(user=person, reason="Harassment")


def _delete_account(person) -> None:
    user_delete_account(user=person, password=PASSWORD)


@pytest.mark.parametrize(
    ("end_sessions", "close_code"),
    [
        (_sign_out_everywhere, protocol.CLOSE_SIGNED_OUT),
        (_change_password, protocol.CLOSE_SIGNED_OUT),
        (_suspend, protocol.CLOSE_SUSPENDED),
        (_delete_account, protocol.CLOSE_SIGNED_OUT),
    ],
    ids=["signed_out_everywhere", "password_changed", "suspended", "deleted"],
)
async def test_every_page_socket_closes_when_the_persons_sessions_end(sockets, end_sessions, close_code):
    person, other = await db(UserFactory)(), await db(UserFactory)()
    tab1, tab2, elsewhere = await sockets(person), await sockets(person), await sockets(other)
    for socket in (tab1, tab2, elsewhere):
        await socket.wait_for("user.snapshot")

    await db(end_sessions)(person)

    assert await tab1.wait_closed(timeout=2) == close_code
    assert await tab2.wait_closed(timeout=2) == close_code
    # Someone else's page stays connected and still hears its events.
    await db(notify)(recipients=[other.pk], kind=Notification.Kind.REMINDER, text="Still here")
    assert (await elsewhere.wait_for("user.notification"))["unread_count"] == 1


async def test_after_the_layer_lost_redis_the_page_gets_its_state_again(sockets):
    """spaces_project/channel_layer.py: a layer that read again after losing Redis tells its consumers,
    and the per-person socket sends the state (events meanwhile were lost), still in its group."""
    person = await db(UserFactory)()
    socket = await sockets(person)
    assert (await socket.wait_for("user.snapshot"))["unread_count"] == 0
    # Written while the layer was away: no event reached the page.
    await db(Notification.objects.create)(recipient=person, kind=Notification.Kind.REMINDER, text="Missed")
    layer = get_channel_layer()
    await layer.group_send(protocol.user_group(person.pk), protocol.layer_reconnected_envelope())
    assert (await socket.wait_for("user.snapshot"))["unread_count"] == 1
    await db(notify)(recipients=[person.pk], kind=Notification.Kind.REMINDER, text="Next")
    assert (await socket.wait_for("user.notification", timeout=10))["unread_count"] == 2
