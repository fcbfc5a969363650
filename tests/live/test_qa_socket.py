"""The Q&A queue over the room socket: events everyone sees, and error frames for bad or refused
messages (every frame received is checked against spaces_project/protocol by the socket client)."""

import json

import pytest
from channels.db import database_sync_to_async

from rooms.models import Participant, Question
from tests.factories import RoomFactory, UserFactory

from .wsclient import join

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async


@db
def question_count() -> int:
    return Question.objects.count()


@db
def make_cohost(room, user) -> None:
    Participant.objects.filter(room=room, user=user).update(role=Participant.Role.COHOST)


async def test_ask_vote_answer_and_the_answering_question_is_shown_to_everyone():
    room = await db(RoomFactory)()
    asker_user, voter_user = await db(UserFactory)(), await db(UserFactory)()
    host = await join(room.pk, room.host)
    asker = await join(room.pk, asker_user)
    voter = await join(room.pk, voter_user)
    anonymous = await join(room.pk)
    assert asker.snapshot["room"]["qa"] is True and asker.snapshot["questions"] == []

    await asker.send({"type": "question.ask", "text": "What made you start?"})
    event = await anonymous.wait_for("room.questions")
    [question] = event["questions"]
    assert question["text"] == "What made you start?" and question["votes"] == 0
    assert question["asker_id"] == asker_user.pk

    await voter.send({"type": "question.vote", "question_id": question["id"]})
    mine = await voter.wait_for("room.my_votes")
    assert mine["question_ids"] == [question["id"]]
    event = await host.wait_for("room.questions", timeout=3)
    while event["questions"][0]["votes"] != 1:
        event = await host.wait_for("room.questions")
    await asker.expect_nothing("room.my_votes", within=0.3)  # only the voter hears of their votes

    # A second vote is refused with an error frame naming the message; the count does not move.
    await voter.send({"type": "question.vote", "question_id": question["id"], "ref": "again"})
    error = await voter.wait_for("error", ref="again")
    assert error["code"] == "already_voted"

    # A reconnecting voter learns their votes from the snapshot.
    again = await join(room.pk, voter_user)
    assert again.snapshot["my_votes"] == [question["id"]]
    assert again.snapshot["questions"][0]["votes"] == 1

    await host.send({"type": "question.answer", "question_id": question["id"]})
    event = await anonymous.wait_for(
        "room.questions", answering={**question, "votes": 1, "state": "answering"}
    )
    assert event["questions"] == []


@pytest.mark.parametrize(
    "message, code",
    [
        ({"type": "question.ask"}, "missing_field"),
        ({"type": "question.ask", "text": 5}, "bad_field"),
        ({"type": "question.ask", "text": "x" * 281}, "question_too_long"),
        ({"type": "question.ask", "text": "   "}, "question_required"),
        ({"type": "question.vote", "question_id": "1"}, "bad_field"),
        ({"type": "question.vote", "question_id": True}, "bad_field"),
        ({"type": "question.vote", "question_id": 987654}, "no_such_question"),
        ({"type": "question.upvote", "question_id": 1}, "unknown_type"),
        ({"type": "qa.set", "enabled": "no"}, "bad_field"),
        ({"type": "qa.set", "enabled": False}, "not_allowed"),
        ({"type": "room.go_live"}, "not_allowed"),
    ],
)
async def test_bad_and_refused_messages_get_an_error_frame_and_change_nothing(message, code):
    room = await db(RoomFactory)()
    listener = await join(room.pk, await db(UserFactory)())
    await listener.send({**message, "ref": "r1"})
    error = await listener.wait_for("error", ref="r1")
    assert error["code"] == code, error
    assert await question_count() == 0
    await listener.expect_nothing("room.questions", within=0.2)


async def test_a_malformed_frame_gets_an_error_frame():
    room = await db(RoomFactory)()
    listener = await join(room.pk, await db(UserFactory)())
    await listener.send_raw('{"type": "question.ask", "text": ')
    assert (await listener.wait_for("error"))["code"] == "malformed"
    await listener.send_raw(json.dumps(["question.ask"]))
    assert (await listener.wait_for("error"))["code"] == "malformed"


async def test_anonymous_listeners_see_the_queue_but_cannot_ask_or_vote():
    room = await db(RoomFactory)()
    anonymous = await join(room.pk)
    await anonymous.send({"type": "question.ask", "text": "hi", "ref": "a"})
    assert (await anonymous.wait_for("error", ref="a"))["code"] == "sign_in_required"
    await anonymous.send({"type": "question.vote", "question_id": 1, "ref": "v"})
    assert (await anonymous.wait_for("error", ref="v"))["code"] == "sign_in_required"


async def test_a_cohost_runs_the_queue_but_only_the_host_turns_it_off():
    room = await db(RoomFactory)()
    cohost_user, asker_user = await db(UserFactory)(), await db(UserFactory)()
    cohost = await join(room.pk, cohost_user)
    asker = await join(room.pk, asker_user)
    await make_cohost(room, cohost_user)
    await asker.send({"type": "question.ask", "text": "One?"})
    question = (await cohost.wait_for("room.questions"))["questions"][0]
    await cohost.send({"type": "question.dismiss", "question_id": question["id"]})
    assert (await asker.wait_for("room.questions", questions=[]))["answering"] is None
    await cohost.send({"type": "qa.set", "enabled": False, "ref": "off"})
    assert (await cohost.wait_for("error", ref="off"))["code"] == "not_allowed"
    host = await join(room.pk, room.host)
    await host.send({"type": "qa.set", "enabled": False})
    assert (await asker.wait_for("room.questions", enabled=False))["enabled"] is False
    await asker.send({"type": "question.ask", "text": "Two?", "ref": "two"})
    assert (await asker.wait_for("error", ref="two"))["code"] == "qa_off"
