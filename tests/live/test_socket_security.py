"""Security regressions on the room socket: the exact Origin, anonymous sockets from one address,
blocks against removals, floods and oversized frames."""

import asyncio
import json
from collections import Counter

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse

from accounts.services import block_create, block_delete, user_sign_out_everywhere
from rooms.models import Participant
from spaces_project import protocol
from tests.factories import PASSWORD, RoomFactory, UserFactory

from .wsclient import ConnectionClosed, join, open_socket

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:9000",  # same host, another port: AllowedHostsOriginValidator let it in
        "https://127.0.0.1:8000",  # another scheme
        "http://127.0.0.1",  # default port
        "http://localhost:8000",  # an allowed host, but not the one the socket reached
        "null",
    ],
)
async def test_origin_must_match_scheme_host_and_port_exactly(origin):
    room = await db(RoomFactory)()
    connected, socket = await open_socket(room.pk, room.host, origin=origin)
    assert connected is False
    connected, socket = await open_socket(room.pk, room.host, origin="http://127.0.0.1:8000")
    assert connected is True
    await socket.close()


async def test_configured_origins_are_the_only_ones(settings):
    settings.WEBSOCKET_ALLOWED_ORIGINS = ["https://spaces.example"]
    room = await db(RoomFactory)()
    assert (await open_socket(room.pk, origin="http://127.0.0.1:8000"))[0] is False
    connected, socket = await open_socket(room.pk, origin="https://spaces.example")
    assert connected is True
    await socket.close()


async def test_thirty_anonymous_sockets_from_one_address_count_once_and_are_capped(settings):
    room = await db(RoomFactory)()
    host = await join(room.pk, room.host)
    sockets, refused = [], []
    for _ in range(30):
        connected, socket = await open_socket(room.pk, client="203.0.113.9")
        assert connected
        try:
            await socket.wait_for("room.snapshot")
            sockets.append(socket)
        except ConnectionClosed as closed:
            refused.append(closed.code)
    assert len(sockets) == settings.ANONYMOUS_SOCKETS_PER_ADDRESS == 5
    assert set(refused) == {protocol.CLOSE_SIGN_IN_REQUIRED} and len(refused) == 30 - len(sockets)
    # The host sees one listener for that address; another address is another listener.
    neighbour = await join_anonymous(room.pk, "198.51.100.7")
    await host.wait_for("room.listeners", timeout=5, listener_count=2)
    counts = [event["listener_count"] for event in host.seen if event["type"] == "room.listeners"]
    assert max(counts) == 2, counts
    await asyncio.gather(*(s.close() for s in [*sockets, neighbour, host]))


async def join_anonymous(room_id: int, address: str):
    connected, socket = await open_socket(room_id, client=address)
    assert connected
    await socket.wait_for("room.snapshot")
    return socket


async def test_unblocking_lets_the_person_back_in_but_a_removal_stays():
    room = await db(RoomFactory)()
    guest, other = await db(UserFactory)(), await db(UserFactory)()
    guest_socket = await join(room.pk, guest)
    await db(block_create)(blocker=room.host, blocked=guest)
    assert await guest_socket.wait_closed() == protocol.CLOSE_NOT_FOUND
    connected, refused = await open_socket(room.pk, guest)
    assert await refused.wait_closed() == protocol.CLOSE_NOT_FOUND

    await db(block_delete)(blocker=room.host, blocked=guest)
    back = await join(room.pk, guest)
    assert back.snapshot["type"] == "room.snapshot"

    # A host's removal is something else: it lasts, block or no block.
    other_socket = await join(room.pk, other)
    host = await join(room.pk, room.host)
    await host.send({"type": "participant.remove", "user_id": other.pk})
    assert await other_socket.wait_closed() == protocol.CLOSE_REMOVED
    await db(block_create)(blocker=room.host, blocked=other)
    await db(block_delete)(blocker=room.host, blocked=other)
    connected, again = await open_socket(room.pk, other)
    assert await again.wait_closed() == protocol.CLOSE_REMOVED
    assert await db(lambda: Participant.objects.get(room=room, user=other).is_removed)()
    await asyncio.gather(back.close(), host.close())


async def test_a_flood_of_a_thousand_messages_is_refused_without_harm(settings):
    # Answering a thousand messages on a loaded machine can outlast two heartbeat intervals, and this
    # socket sends no heartbeats: keep the keeper from closing it for silence meanwhile.
    settings.ROOM_HEARTBEAT_SECONDS = 120
    room = await db(RoomFactory)()
    flooder = await db(UserFactory)()
    host = await join(room.pk, room.host)
    socket = await join(room.pk, flooder)
    # A listener may not mute anyone: every message that gets past the limiter is answered
    # "not_allowed", every other one "rate_limited", so each of the thousand gets one answer.
    frame = json.dumps({"type": "speaker.mute", "user_id": room.host_id})
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(1000):
        await socket.send_raw(frame)
    assert loop.time() - started < 1
    answers = Counter()
    while sum(answers.values()) < 1000:
        event = await socket.receive(timeout=10)
        if event["type"] == "error":
            answers[event["code"]] += 1
    assert set(answers) == {"rate_limited", "not_allowed"}
    assert answers["rate_limited"] > answers["not_allowed"], answers
    # Nothing reached anyone else, and the socket and the room still work.
    await host.expect_nothing("room.participant_updated", within=0.5)
    await socket.send({"type": "hand.raise"})
    await host.wait_for("room.participant_updated", hand_raised=True, timeout=5)
    await asyncio.gather(socket.close(), host.close())


async def test_frames_over_the_size_cap_are_refused_and_the_socket_lives_on():
    room = await db(RoomFactory)()
    socket = await join(room.pk, room.host)
    await socket.send_raw(
        json.dumps({"type": "link.pin", "title": "x", "url": "https://a.b/" + "y" * 70_000})
    )
    error = await socket.wait_for("error")
    assert error["code"] == "too_large"
    await socket.send({"type": "link.pin", "title": "Docs", "url": "https://example.com/"})
    assert (await socket.wait_for("room.links"))["links"][0]["title"] == "Docs"
    await socket.close()


async def test_signing_out_everywhere_closes_the_persons_sockets():
    room = await db(RoomFactory)()
    person = await db(UserFactory)()
    socket = await join(room.pk, person)
    host = await join(room.pk, room.host)
    started = asyncio.get_running_loop().time()
    await db(user_sign_out_everywhere)(user=person)
    assert await socket.wait_closed() == protocol.CLOSE_SIGNED_OUT
    assert asyncio.get_running_loop().time() - started < 3
    # Only theirs: the host stays.
    await host.send({"type": "snapshot.request"})
    await host.wait_for("room.snapshot")
    await host.close()


async def test_a_password_change_closes_the_persons_sockets():
    room = await db(RoomFactory)()
    person = await db(UserFactory)()
    socket = await join(room.pk, person)

    def change_password() -> int:
        client = Client()
        client.force_login(person)
        client.get(reverse("account_change_password"))
        return client.post(
            reverse("account_change_password"),
            {
                "oldpassword": PASSWORD,
                "password1": "a-new-long-passphrase-42",
                "password2": "a-new-long-passphrase-42",
                "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
            },
        ).status_code

    assert await db(change_password)() == 302
    assert await socket.wait_closed() == protocol.CLOSE_SIGNED_OUT
