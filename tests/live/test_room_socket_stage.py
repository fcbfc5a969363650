"""The room websocket through the real ASGI application: the stage (hands, invitations, speakers and
co-hosts), reactions and pinned links, and bad input.

In CI these run on PostgreSQL and the Redis bus, presence and rate limiter.
"""

import asyncio
import json

import pytest

from accounts.models import Follow
from rooms.models import MAX_SPEAKERS, Participant, PinnedLink, Room
from spaces_project import protocol

from .room_setup import db, make_room, make_user, participant, set_role
from .wsclient import join

pytestmark = pytest.mark.django_db(transaction=True)


# -- the stage -----------------------------------------------------------------------------------------------


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


# -- co-hosts and hands --------------------------------------------------------------------------------------


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


# -- reactions and links -------------------------------------------------------------------------------------


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


# -- bad input -----------------------------------------------------------------------------------------------


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
