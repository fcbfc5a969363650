"""Who may be in a ticketed room, on the socket: the same rule as the page (rooms.services)."""

import asyncio

import pytest
from channels.db import database_sync_to_async

from accounts.services import block_create
from rooms import services, tickets
from spaces_project import protocol
from tests.factories import RoomFactory, UserFactory

from .wsclient import join, open_socket

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


def live_ticketed_room():
    room = RoomFactory(scheduled=True)
    tickets.ticket_sales_set(room_id=room.pk, actor=room.host, price="5", capacity=5)
    holder = UserFactory()
    tickets.ticket_purchase(room_id=room.pk, buyer=holder)
    return services.room_start(room=room, actor=room.host), holder


async def test_a_non_holder_is_refused_and_a_holder_gets_in():
    room, holder = await db(live_ticketed_room)()
    stranger = await db(UserFactory)()
    connected, refused = await open_socket(room.pk, stranger)
    assert await refused.wait_closed() == protocol.CLOSE_TICKET_REQUIRED
    connected, anonymous = await open_socket(room.pk)
    assert await anonymous.wait_closed() == protocol.CLOSE_SIGN_IN_REQUIRED
    inside = await join(room.pk, holder)
    host = await join(room.pk, room.host)
    assert inside.snapshot["you"]["user_id"] == holder.pk
    await asyncio.gather(inside.close(), host.close())


async def test_a_holder_the_host_blocks_is_put_out_refunded_and_refused():
    room, holder = await db(live_ticketed_room)()
    inside = await join(room.pk, holder)
    await db(block_create)(blocker=room.host, blocked=holder)
    assert await inside.wait_closed() == protocol.CLOSE_NOT_FOUND
    connected, again = await open_socket(room.pk, holder)
    assert await again.wait_closed() == protocol.CLOSE_NOT_FOUND
    status = await db(lambda: holder.tickets.get().status)()
    assert status == "refunded"
