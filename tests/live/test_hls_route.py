"""Who hears the room how (rooms/live/hls.py): the stage and the first AUDIO_WEBSOCKET_LISTENERS listeners
over the websocket, later listeners over HLS; a listener invited to speak moves back to the websocket
before taking the stage. Through the real ASGI application (Redis presence in CI)."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.test import Client, override_settings

from rooms import hls_views, services, tickets
from rooms.models import Ticket
from spaces_project import protocol
from tests.factories import RoomFactory, UserFactory

from .room_setup import make_room, make_user
from .wsclient import join, open_socket

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


async def route_of(socket) -> dict:
    return await socket.wait_for("room.audio_route")


@override_settings(AUDIO_WEBSOCKET_LISTENERS=1)
async def test_listeners_past_the_limit_get_hls_and_an_invited_one_moves_back_before_the_stage():
    room = await make_room()
    first, second = await make_user(), await make_user()
    host = await join(room.pk, room.host)
    assert (await route_of(host))["mode"] == "websocket"
    one = await join(room.pk, first)
    assert (await route_of(one))["mode"] == "websocket"
    two = await join(room.pk, second)
    route = await route_of(two)
    assert route == {"type": "room.audio_route", "mode": "hls", "playlist": f"/hls/{room.pk}/index.m3u8"}
    anonymous = await join(room.pk)
    assert (await route_of(anonymous))["mode"] == "hls"

    await host.send({"type": "speaker.invite", "user_id": second.pk})
    # Invited: websocket audio first, then the invitation (and only then the stage).
    await two.wait_for("room.audio_route", mode="websocket")
    await two.wait_for("room.speak_invited")
    await two.send({"type": "invite.accept"})
    await two.wait_for("room.participant_updated", user_id=second.pk, role="speaker")
    # A fresh snapshot keeps the websocket: the route is not decided again.
    await two.send({"type": "snapshot.request"})
    await two.wait_for("room.snapshot")
    assert (await route_of(two))["mode"] == "websocket"


@override_settings(AUDIO_WEBSOCKET_LISTENERS=2000)
async def test_a_room_marked_for_a_large_audience_sends_every_listener_to_hls_but_not_the_stage():
    room = await make_room(large_audience=True)
    host = await join(room.pk, room.host)
    assert (await route_of(host))["mode"] == "websocket"
    listener = await join(room.pk, await make_user())
    assert (await route_of(listener))["mode"] == "hls"


async def test_a_private_room_gets_a_signed_url_that_works_and_anonymous_visitors_get_none(
    settings, tmp_path
):
    settings.HLS_ROOT = tmp_path
    room = await make_room(large_audience=True, allow_anonymous=False)
    listener_user = await make_user()
    listener = await join(room.pk, listener_user)
    playlist = (await route_of(listener))["playlist"]
    assert playlist.startswith("/hls/s/") and playlist.endswith(f"/{room.pk}/index.m3u8")
    # Signed for this socket: another tab of the same person gets URLs of its own.
    other_tab = await join(room.pk, listener_user)
    assert (await route_of(other_tab))["playlist"].split("/")[5] != playlist.split("/")[5]
    private = tmp_path / "private" / str(room.pk)
    private.mkdir(parents=True)
    (private / "index.m3u8").write_text("#EXTM3U\n")
    client = Client()
    response = await db(client.get)(playlist)
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, max-age=1"
    # The public path of the same room serves nothing of it (its files are not there): a playlist
    # with no segments, as for any room not written yet.
    plain = await db(client.get)(f"/hls/{room.pk}/index.m3u8")
    assert plain.status_code == 200 and plain.content == hls_views.NOT_YET.encode()
    # An anonymous visitor is refused at the door and never told a playlist.
    connected, visitor = await open_socket(room.pk)
    assert connected
    assert await visitor.wait_closed() is not None
    assert not [event for event in visitor.seen if event["type"] == "room.audio_route"]


@db
def ticketed_room(holders: int):
    room = RoomFactory(scheduled=True, large_audience=True)
    tickets.ticket_sales_set(room_id=room.pk, actor=room.host, price="5.00", capacity=10)
    people = [UserFactory() for _ in range(holders)]
    for person in people:
        tickets.ticket_purchase(room_id=room.pk, buyer=person)
    return services.room_start(room=room, actor=room.host), people


async def test_a_listener_invited_to_the_stage_is_no_longer_renewed(settings):
    settings.HLS_SIGNED_URL_SECONDS = 3  # renewed every second
    room, (guest,) = await ticketed_room(1)
    host = await join(room.pk, room.host)
    listener = await join(room.pk, guest)
    assert (await route_of(listener))["mode"] == "hls"
    await listener.wait_for("room.hls_url")
    await host.send({"type": "speaker.invite", "user_id": guest.pk})
    await listener.wait_for("room.audio_route", mode="websocket")
    # On the websocket now: nothing to renew (and the host's socket never had anything to).
    await listener.expect_nothing("room.hls_url", within=2)
    assert not [event for event in host.seen if event["type"] == "room.hls_url"]


async def test_a_page_asking_for_a_fresh_url_long_after_its_last_check_is_checked_again(settings):
    """A page whose URL expired (it slept, its socket was away) asks for a snapshot: the door's rule
    is asked again before a URL goes out, and someone refunded meanwhile gets none."""
    room, (holder,) = await ticketed_room(1)
    listener = await join(room.pk, holder)
    await route_of(listener)
    await db(Ticket.objects.filter(room=room, buyer=holder).update)(status=Ticket.Status.REFUNDED)
    # Within a renewal period of the check at the door (30 s): the socket's URL goes on.
    await listener.send({"type": "snapshot.request"})
    assert (await route_of(listener))["mode"] == "hls"
    # Later than that: checked again, refused, closed as a new connection would be.
    settings.HLS_SIGNED_URL_SECONDS = 6
    await asyncio.sleep(2.1)
    seen = len(listener.seen)
    await listener.send({"type": "snapshot.request"})
    assert await listener.wait_closed() == protocol.CLOSE_TICKET_REQUIRED
    assert not [e for e in listener.seen[seen:] if e["type"] in ("room.audio_route", "room.hls_url")]


@override_settings(AUDIO_WEBSOCKET_LISTENERS=2000)
async def test_a_listener_in_the_background_hears_hls_until_back_in_front_and_the_stage_stays():
    room = await make_room()
    host = await join(room.pk, room.host)
    assert (await route_of(host))["mode"] == "websocket"
    listener = await join(room.pk, await make_user())
    assert (await route_of(listener))["mode"] == "websocket"

    # The phone locked and suspended the page's Web Audio: the room's HLS, through its media element.
    await listener.send({"type": "audio.background", "on": True})
    route = await listener.wait_for("room.audio_route", mode="hls")
    assert route["playlist"] == f"/hls/{room.pk}/index.m3u8"
    # Back in front: websocket audio again, on the same socket.
    await listener.send({"type": "audio.background", "on": False})
    await listener.wait_for("room.audio_route", mode="websocket")

    # The stage is heard live whatever its page does; a second "off" changes nothing either.
    await host.send({"type": "audio.background", "on": True})
    await host.expect_nothing("room.audio_route", within=1)
    await listener.send({"type": "audio.background", "on": False})
    await listener.expect_nothing("room.audio_route", within=1)
