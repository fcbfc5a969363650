"""The room websocket through the real ASGI application: who may connect, what each role may do to
others, and how suspensions and moderators in Django admin put people out.

In CI these run on PostgreSQL and the Redis bus, presence and rate limiter.
"""

import time

import pytest
from django.test import Client
from django.urls import reverse

from accounts.services import block_create, user_suspend
from rooms import services
from rooms.models import Participant, Room
from spaces_project import protocol
from tests.factories import UserFactory

from .room_setup import db, make_room, make_user, participant, set_role
from .wsclient import ORIGIN, join, open_socket

pytestmark = pytest.mark.django_db(transaction=True)


# -- connecting ----------------------------------------------------------------------------------------------


async def test_foreign_origin_is_refused_at_the_handshake():
    room = await make_room()
    connected, socket = await open_socket(room.pk, room.host, origin="http://evil.example")
    assert connected is False


async def test_anonymous_visitor_listens_to_a_public_room():
    room = await make_room()
    visitor = await join(room.pk)
    assert visitor.snapshot["you"] is None
    assert visitor.snapshot["room"]["title"] == room.title
    assert [p["role"] for p in visitor.snapshot["stage"]] == ["host"]
    await visitor.send({"type": "hand.raise"})
    error = await visitor.wait_for("error")
    assert error["code"] == "sign_in_required"


async def test_anonymous_visitor_refused_where_the_host_disallows_it():
    room = await make_room(allow_anonymous=False)
    connected, socket = await open_socket(room.pk)
    assert connected
    assert await socket.wait_closed() == protocol.CLOSE_SIGN_IN_REQUIRED


async def test_blocked_user_is_refused():
    room = await make_room()
    blocked = await make_user()
    await db(block_create)(blocker=room.host, blocked=blocked)
    connected, socket = await open_socket(room.pk, blocked)
    assert await socket.wait_closed() == protocol.CLOSE_NOT_FOUND


async def test_user_who_blocked_the_host_is_refused_too():
    room = await make_room()
    blocker = await make_user()
    await db(block_create)(blocker=blocker, blocked=room.host)
    connected, socket = await open_socket(room.pk, blocker)
    assert await socket.wait_closed() == protocol.CLOSE_NOT_FOUND


async def test_suspended_user_is_refused():
    room = await make_room()
    suspended = await make_user()
    await db(user_suspend)(user=suspended)
    connected, socket = await open_socket(room.pk, suspended)
    assert await socket.wait_closed() == protocol.CLOSE_SUSPENDED


async def test_room_that_is_not_live_refuses_connections():
    room = await make_room(scheduled=True)
    await db(services.room_cancel)(room=room, actor=room.host)
    connected, socket = await open_socket(room.pk, room.host)
    assert await socket.wait_closed() == protocol.CLOSE_NOT_LIVE


async def test_unknown_room_refuses_connections():
    user = await make_user()
    connected, socket = await open_socket(987654, user)
    assert await socket.wait_closed() == protocol.CLOSE_NOT_FOUND


async def test_a_stale_or_forged_session_cookie_connects_as_an_anonymous_listener():
    room = await make_room()
    connected, socket = await open_socket(room.pk, cookie="sessionid=forged", timeout=10)
    assert connected
    snapshot = await socket.receive(5)
    assert snapshot["type"] == "room.snapshot" and snapshot["you"] is None


def test_origin_constant_matches_allowed_hosts(settings):
    host = ORIGIN.split("//")[1].split(":")[0]
    assert host in settings.ALLOWED_HOSTS


# -- permissions ---------------------------------------------------------------------------------------------


async def test_listener_cannot_approve_a_request():
    room = await make_room()
    alice, bob = await make_user(), await make_user()
    a, b = await join(room.pk, alice), await join(room.pk, bob)
    await b.send({"type": "hand.raise"})
    await a.wait_for("room.participant_updated", user_id=bob.pk, hand_raised=True)
    await a.send({"type": "request.approve", "user_id": bob.pk, "ref": "r1"})
    error = await a.wait_for("error")
    assert (error["code"], error["ref"]) == ("not_allowed", "r1")
    assert (await participant(room, bob)).role == Participant.Role.LISTENER


async def test_cohost_cannot_end_the_room_or_add_cohosts():
    room = await make_room()
    cohost_user, listener_user = await make_user(), await make_user()
    await set_role(room, cohost_user, Participant.Role.COHOST)
    cohost = await join(room.pk, cohost_user)
    await join(room.pk, listener_user)
    await cohost.send({"type": "room.end"})
    assert (await cohost.wait_for("error"))["code"] == "not_allowed"
    await cohost.send({"type": "cohost.add", "user_id": listener_user.pk})
    assert (await cohost.wait_for("error"))["code"] == "not_allowed"
    assert (await db(Room.objects.get)(pk=room.pk)).state == Room.State.LIVE
    assert (await participant(room, listener_user)).role == Participant.Role.LISTENER


async def test_cohost_can_mute_a_speaker_but_not_the_host():
    room = await make_room()
    cohost_user, speaker_user = await make_user(), await make_user()
    await set_role(room, cohost_user, Participant.Role.COHOST)
    await set_role(room, speaker_user, Participant.Role.SPEAKER, muted=False)
    await set_role(room, room.host, Participant.Role.HOST, muted=False)
    cohost = await join(room.pk, cohost_user)
    await cohost.send({"type": "speaker.mute", "user_id": speaker_user.pk})
    await cohost.wait_for("room.participant_updated", user_id=speaker_user.pk, muted=True)
    await cohost.send({"type": "speaker.mute", "user_id": room.host_id})
    assert (await cohost.wait_for("error"))["code"] == "not_allowed"
    assert (await participant(room, room.host)).is_muted is False


async def test_removed_user_is_disconnected_and_cannot_rejoin():
    room = await make_room()
    troll = await make_user()
    host, t = await join(room.pk, room.host), await join(room.pk, troll)
    await host.send({"type": "participant.remove", "user_id": troll.pk})
    assert await t.wait_closed() == protocol.CLOSE_REMOVED
    await host.wait_for("room.participant_left", user_id=troll.pk)
    connected, again = await open_socket(room.pk, troll)
    assert await again.wait_closed() == protocol.CLOSE_REMOVED


async def test_blocking_someone_in_your_live_room_removes_them_at_once():
    room = await make_room()
    pest = await make_user()
    p = await join(room.pk, pest)
    await db(block_create)(blocker=room.host, blocked=pest)
    assert await p.wait_closed() == protocol.CLOSE_NOT_FOUND


async def test_nobody_can_remove_the_host():
    room = await make_room()
    cohost_user = await make_user()
    await set_role(room, cohost_user, Participant.Role.COHOST)
    cohost = await join(room.pk, cohost_user)
    await cohost.send({"type": "participant.remove", "user_id": room.host_id})
    assert (await cohost.wait_for("error"))["code"] == "not_allowed"


# -- suspensions, and moderators from Django admin -----------------------------------------------------------


async def test_suspending_a_user_closes_their_open_sockets_within_a_second():
    room = await make_room()
    bad = await make_user()
    socket = await join(room.pk, bad)
    started = time.monotonic()
    await db(user_suspend)(user=bad)
    assert await socket.wait_closed(timeout=1) == protocol.CLOSE_SUSPENDED
    assert time.monotonic() - started < 1


@db
def admin_action(moderator, model, action: str, objects) -> list[str]:
    client = Client()
    client.force_login(moderator)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = client.post(url, {"action": action, "_selected_action": [o.pk for o in objects]}, follow=True)
    return [str(m) for m in response.context["messages"]]


@db
def make_moderator():
    # A superuser: these tests flush the database, the Moderators group of the data migration too
    # (tests/moderation covers that group's permissions).
    return UserFactory(is_staff=True, is_superuser=True)


async def test_what_a_moderator_does_in_admin_reaches_the_room_at_once():
    room = await make_room()
    speaker, troll = await make_user(), await make_user()
    await set_role(room, speaker, Participant.Role.SPEAKER, muted=False)
    moderator = await make_moderator()
    host, s, t = await join(room.pk, room.host), await join(room.pk, speaker), await join(room.pk, troll)

    done = await admin_action(moderator, Participant, "mute", [await participant(room, speaker)])
    assert done == [f"{speaker} in “{room.title}”: muted."]
    await s.wait_for("room.participant_updated", user_id=speaker.pk, muted=True)
    await admin_action(moderator, Participant, "move_to_audience", [await participant(room, speaker)])
    await host.wait_for("room.participant_updated", user_id=speaker.pk, role="listener")
    await admin_action(moderator, Participant, "remove_from_room", [await participant(room, troll)])
    assert await t.wait_closed() == protocol.CLOSE_REMOVED
    await host.wait_for("room.participant_left", user_id=troll.pk)
    refused = await admin_action(
        moderator, Participant, "remove_from_room", [await participant(room, room.host)]
    )
    assert refused == [f"{room.host} in “{room.title}”: The host cannot be removed; end the room instead."]

    await admin_action(moderator, Room, "end_rooms", [room])
    await host.wait_for("room.ended")
    assert await host.wait_closed() == protocol.CLOSE_ENDED


async def test_suspending_a_host_closes_their_socket_and_ends_their_room():
    room = await make_room()
    listener = await make_user()
    host, audience = await join(room.pk, room.host), await join(room.pk, listener)
    await db(user_suspend)(user=room.host)
    assert await host.wait_closed(timeout=1) == protocol.CLOSE_SUSPENDED
    await audience.wait_for("room.ended")
    assert await audience.wait_closed() == protocol.CLOSE_ENDED
