"""The room websocket through the real ASGI application: permissions, rules, bad input, presence.

In CI these run on PostgreSQL and the Redis bus, presence and rate limiter.
"""

import asyncio
import json
import time

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse

from accounts.models import Follow
from accounts.services import block_create, user_suspend
from rooms import services
from rooms.live.bus import _LoopFanout
from rooms.live.presence import get_presence
from rooms.models import MAX_SPEAKERS, Participant, PinnedLink, Room
from spaces_project import protocol
from tests.factories import RoomFactory, UserFactory

from .wsclient import ORIGIN, join, open_socket

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


@db
def make_room(**kwargs) -> Room:
    return RoomFactory(**kwargs)


@db
def make_user(**kwargs):
    return UserFactory(**kwargs)


@db
def participant(room: Room, user) -> Participant:
    return Participant.objects.get(room=room, user=user)


@db
def set_role(room: Room, user, role: str, muted: bool = True) -> None:
    Participant.objects.update_or_create(room=room, user=user, defaults={"role": role, "is_muted": muted})


# -- connecting ------------------------------------------------------------------------------


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


# -- permissions -----------------------------------------------------------------------------


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


# -- the stage -------------------------------------------------------------------------------


async def test_hand_raise_approve_mute_and_move_back():
    room = await make_room()
    guest = await make_user()
    host, g = await join(room.pk, room.host), await join(room.pk, guest)
    await g.send({"type": "hand.raise"})
    await host.wait_for("room.participant_updated", user_id=guest.pk, hand_raised=True)
    await host.send({"type": "request.approve", "user_id": guest.pk})
    await g.wait_for("room.participant_updated", user_id=guest.pk, role="speaker", muted=True)
    await g.send({"type": "mic.unmute"})
    await host.wait_for("room.participant_updated", user_id=guest.pk, muted=False)
    await host.send({"type": "speaker.mute", "user_id": guest.pk})
    await g.wait_for("room.participant_updated", user_id=guest.pk, muted=True)
    # The host can mute but not unmute: there is no such message.
    await host.send({"type": "speaker.unmute", "user_id": guest.pk})
    assert (await host.wait_for("error"))["code"] == "unknown_type"
    await host.send({"type": "speaker.to_audience", "user_id": guest.pk})
    await g.wait_for("room.participant_updated", user_id=guest.pk, role="listener")


async def test_declined_request_tells_only_the_requester():
    room = await make_room()
    guest, other = await make_user(), await make_user()
    host, g, o = await join(room.pk, room.host), await join(room.pk, guest), await join(room.pk, other)
    await g.send({"type": "hand.raise"})
    await host.wait_for("room.participant_updated", user_id=guest.pk, hand_raised=True)
    await host.send({"type": "request.decline", "user_id": guest.pk})
    await g.wait_for("room.request_declined", to_user_id=guest.pk)
    await o.expect_nothing("room.request_declined")
    assert (await participant(room, guest)).hand_raised_at is None


async def test_invite_to_speak_accept_and_decline():
    room = await make_room()
    yes, no = await make_user(), await make_user()
    host, y, n = await join(room.pk, room.host), await join(room.pk, yes), await join(room.pk, no)
    await host.send({"type": "speaker.invite", "user_id": yes.pk})
    await host.send({"type": "speaker.invite", "user_id": no.pk})
    await y.wait_for("room.speak_invited", to_user_id=yes.pk)
    await n.wait_for("room.speak_invited", to_user_id=no.pk)
    await y.send({"type": "invite.accept"})
    await n.send({"type": "invite.decline"})
    await host.wait_for("room.participant_updated", user_id=yes.pk, role="speaker")
    await host.wait_for("room.participant_updated", user_id=no.pk, invited=False)
    assert (await participant(room, no)).role == Participant.Role.LISTENER
    await n.send({"type": "invite.accept"})
    assert (await n.wait_for("error"))["code"] == "not_invited"


async def test_mute_all_mutes_everyone_else_on_stage():
    room = await make_room()
    speakers = [await make_user() for _ in range(3)]
    for speaker in speakers:
        await set_role(room, speaker, Participant.Role.SPEAKER, muted=False)
    host = await join(room.pk, room.host)
    await host.send({"type": "mic.unmute"})
    await host.wait_for("room.participant_updated", user_id=room.host_id, muted=False)
    await host.send({"type": "speakers.mute_all"})
    for speaker in speakers:
        await host.wait_for("room.participant_updated", user_id=speaker.pk, muted=True)
    assert (await participant(room, room.host)).is_muted is False


async def test_stage_holds_at_most_ten_speakers_and_two_cohosts():
    room = await make_room()
    for _ in range(MAX_SPEAKERS):
        await set_role(room, await make_user(), Participant.Role.SPEAKER)
    eleventh, c1, c2, c3 = [await make_user() for _ in range(4)]
    host = await join(room.pk, room.host)
    e = await join(room.pk, eleventh)
    await e.send({"type": "hand.raise"})
    await host.wait_for("room.participant_updated", user_id=eleventh.pk, hand_raised=True)
    await host.send({"type": "request.approve", "user_id": eleventh.pk})
    assert (await host.wait_for("error"))["code"] == "stage_full"
    for c in (c1, c2, c3):
        await join(room.pk, c)
    for c in (c1, c2):
        await host.send({"type": "cohost.add", "user_id": c.pk})
        await host.wait_for("room.participant_updated", user_id=c.pk, role="cohost")
    await host.send({"type": "cohost.add", "user_id": c3.pk})
    assert (await host.wait_for("error"))["code"] == "stage_full"
    stage = await db(Participant.objects.filter(room=room, role__in=Participant.STAGE_ROLES).count)()
    assert stage == 13


async def test_followed_policy_refuses_people_the_host_does_not_follow():
    room = await make_room(speaker_policy=Room.SpeakerPolicy.FOLLOWED)
    friend, stranger = await make_user(), await make_user()
    await db(Follow.objects.create)(follower=room.host, followee=friend)
    f, s = await join(room.pk, friend), await join(room.pk, stranger)
    await s.send({"type": "hand.raise"})
    assert (await s.wait_for("error"))["code"] == "not_allowed"
    await f.send({"type": "hand.raise"})
    await f.wait_for("room.participant_updated", user_id=friend.pk, hand_raised=True)
    assert (await participant(room, stranger)).hand_raised_at is None


async def test_host_switches_to_invited_only_while_live():
    room = await make_room()
    guest = await make_user()
    host, g = await join(room.pk, room.host), await join(room.pk, guest)
    await host.send({"type": "room.speaker_policy", "policy": "invited"})
    await g.wait_for("room.settings", speaker_policy="invited")
    await g.send({"type": "hand.raise"})
    assert (await g.wait_for("error"))["code"] == "not_allowed"
    await host.send({"type": "speaker.invite", "user_id": guest.pk})
    await g.wait_for("room.speak_invited")
    await g.send({"type": "invite.accept"})
    await g.wait_for("room.participant_updated", user_id=guest.pk, role="speaker")
    await host.send({"type": "room.speaker_policy", "policy": "nobody"})
    assert (await host.wait_for("error"))["code"] == "bad_policy"


async def test_host_ends_the_room_and_everyone_is_told():
    room = await make_room()
    guest = await make_user()
    host, g, anon = await join(room.pk, room.host), await join(room.pk, guest), await join(room.pk)
    await host.send({"type": "room.end"})
    for socket in (host, g, anon):
        await socket.wait_for("room.ended")
        assert await socket.wait_closed() == protocol.CLOSE_ENDED
    assert (await db(Room.objects.get)(pk=room.pk)).state == Room.State.ENDED


# -- reactions and links ---------------------------------------------------------------------


async def test_reactions_reach_everyone_and_are_rate_limited():
    room = await make_room()
    fan = await make_user()
    host, f = await join(room.pk, room.host), await join(room.pk, fan)
    for _ in range(protocol.REACTION_BURST):
        await f.send({"type": "reaction.send", "emoji": "👏"})
    for _ in range(protocol.REACTION_BURST):
        event = await host.wait_for("room.reaction")
        assert (event["user_id"], event["emoji"]) == (fan.pk, "👏")
    await f.send({"type": "reaction.send", "emoji": "👏", "ref": "one-too-many"})
    error = await f.wait_for("error")
    assert (error["code"], error["ref"]) == ("rate_limited", "one-too-many")
    await host.expect_nothing("room.reaction", within=0.3)
    await asyncio.sleep(1.1)
    await f.send({"type": "reaction.send", "emoji": "💜"})
    assert (await host.wait_for("room.reaction"))["emoji"] == "💜"
    await f.send({"type": "reaction.send", "emoji": "🍕"})
    assert (await f.wait_for("error"))["code"] == "bad_emoji"


async def test_pinned_links_at_most_three_http_only_hosts_only():
    room = await make_room()
    guest = await make_user()
    host, g = await join(room.pk, room.host), await join(room.pk, guest)
    await g.send({"type": "link.pin", "title": "Mine", "url": "https://example.com"})
    assert (await g.wait_for("error"))["code"] == "not_allowed"
    await host.send({"type": "link.pin", "title": "Bad", "url": "javascript:alert(1)"})
    assert (await host.wait_for("error"))["code"] == "bad_url"
    for n in range(3):
        await host.send({"type": "link.pin", "title": f"Doc {n}", "url": f"https://example.com/{n}"})
        event = await g.wait_for("room.links")
        assert len(event["links"]) == n + 1
    await host.send({"type": "link.pin", "title": "Fourth", "url": "https://example.com/4"})
    assert (await host.wait_for("error"))["code"] == "too_many_links"
    first = event["links"][0]["id"]
    await host.send({"type": "link.unpin", "link_id": first})
    assert [link["title"] for link in (await g.wait_for("room.links"))["links"]] == ["Doc 1", "Doc 2"]
    assert await db(PinnedLink.objects.filter(room=room).count)() == 2


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame, code",
    [
        ("{not json", "malformed"),
        ("[1, 2]", "malformed"),
        ('"hello"', "malformed"),
        ("{}", "missing_field"),
        ('{"type": "teleport"}', "unknown_type"),
        ('{"type": "request.approve"}', "missing_field"),
        ('{"type": "request.approve", "user_id": "7"}', "bad_field"),
        ('{"type": "request.approve", "user_id": true}', "bad_field"),
        ('{"type": "leave", "quiet": "yes"}', "bad_field"),
        ('{"type": "hand.raise", "ref": 12}', "bad_field"),
        (json.dumps({"type": "link.pin", "title": "x" * (70 * 1024), "url": "https://a.b"}), "too_large"),
    ],
)
async def test_bad_messages_get_an_error_frame_and_change_nothing(frame, code):
    room = await make_room()
    guest = await make_user()
    g = await join(room.pk, guest)
    await g.send_raw(frame)
    error = await g.wait_for("error")
    assert error["code"] == code
    assert error["message"]
    assert await db(PinnedLink.objects.count)() == 0
    assert (await participant(room, guest)).hand_raised_at is None
    # The socket is still usable.
    await g.send({"type": "hand.raise"})
    await g.wait_for("room.participant_updated", user_id=guest.pk, hand_raised=True)


async def test_flooding_gets_rate_limited():
    room = await make_room()
    g = await join(room.pk, await make_user())
    for _ in range(60):
        await g.send({"type": "heartbeat"})
    assert (await g.wait_for("error"))["code"] == "rate_limited"


# -- presence --------------------------------------------------------------------------------


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


def test_origin_constant_matches_allowed_hosts(settings):
    host = ORIGIN.split("//")[1].split(":")[0]
    assert host in settings.ALLOWED_HOSTS


async def test_suspending_a_user_closes_their_open_sockets_within_a_second():
    room = await make_room()
    bad = await make_user()
    socket = await join(room.pk, bad)
    started = time.monotonic()
    await db(user_suspend)(user=bad)
    assert await socket.wait_closed(timeout=1) == protocol.CLOSE_SUSPENDED
    assert time.monotonic() - started < 1


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


async def test_a_stale_or_forged_session_cookie_connects_as_an_anonymous_listener():
    room = await make_room()
    connected, socket = await open_socket(room.pk, cookie="sessionid=forged", timeout=10)
    assert connected
    snapshot = await socket.receive(5)
    assert snapshot["type"] == "room.snapshot" and snapshot["you"] is None


# -- co-hosts and hands --------------------------------------------------------------------------


async def test_a_removed_cohost_stays_on_stage_as_a_speaker_unless_the_speakers_are_full():
    room = await make_room()
    first, second, speaker = await make_user(), await make_user(), await make_user()
    await set_role(room, first, Participant.Role.COHOST, muted=False)
    await set_role(room, second, Participant.Role.COHOST, muted=False)
    host, f = await join(room.pk, room.host), await join(room.pk, first)
    await f.send({"type": "cohost.remove", "user_id": second.pk})  # a co-host cannot
    assert (await f.wait_for("error"))["code"] == "not_allowed"
    await host.send({"type": "cohost.remove", "user_id": first.pk})
    await f.wait_for("room.participant_updated", user_id=first.pk, role="speaker", muted=False)
    await host.send({"type": "cohost.remove", "user_id": first.pk})  # a speaker now, not a co-host
    assert (await host.wait_for("error"))["code"] == "not_cohost"
    # With the ten speakers' places taken, the co-host goes back to the audience, muted.
    await set_role(room, speaker, Participant.Role.SPEAKER)
    for _ in range(MAX_SPEAKERS - 2):
        await set_role(room, await make_user(), Participant.Role.SPEAKER)
    await host.send({"type": "cohost.remove", "user_id": second.pk})
    await host.wait_for("room.participant_updated", user_id=second.pk, role="listener", muted=True)
    assert (await participant(room, second)).role == Participant.Role.LISTENER


async def test_a_lowered_hand_leaves_the_hosts_list():
    room = await make_room()
    guest = await make_user()
    host, g = await join(room.pk, room.host), await join(room.pk, guest)
    await g.send({"type": "hand.raise"})
    await host.wait_for("room.participant_updated", user_id=guest.pk, hand_raised=True)
    await g.send({"type": "hand.lower"})
    await host.wait_for("room.participant_updated", user_id=guest.pk, hand_raised=False)
    assert (await participant(room, guest)).hand_raised_at is None
    await host.send({"type": "snapshot.request"})
    assert (await host.wait_for("room.snapshot"))["hands"] == []
    await host.send({"type": "request.approve", "user_id": guest.pk})
    assert (await host.wait_for("error"))["code"] == "no_request"


# -- moderators, from Django admin ---------------------------------------------------------------


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
