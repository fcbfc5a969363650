"""The Q&A queue's rules (rooms/services/questions.py): limits, votes, who may do what, and bad input."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.services import user_suspend
from moderation.models import Report
from moderation.services import report_create
from recordings.selectors import recording_questions
from rooms import questions
from rooms.events import questions_payload
from rooms.models import QUESTIONS_PER_HOUR, Participant, Question, QuestionVote
from spaces_project.errors import ServiceError
from tests.factories import RecordingFactory, RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def room():
    return RoomFactory()


def seat(room, role=Participant.Role.LISTENER, user=None):
    user = user or UserFactory()
    Participant.objects.update_or_create(room=room, user=user, defaults={"role": role})
    return user


def ask(room, user, text="How did you start?"):
    return questions.question_ask(room_id=room.pk, actor=user, text=text)


def refused(code, call, *args, **kwargs):
    with pytest.raises(ServiceError) as error:
        call(*args, **kwargs)
    assert error.value.code == code, error.value.message
    return error.value


class TestAsking:
    def test_a_listener_asks_and_the_room_hears_of_it(self, room, django_capture_on_commit_callbacks):
        listener = seat(room)
        with django_capture_on_commit_callbacks() as callbacks:
            question = ask(room, listener, "  What   is next?  ")
        assert question.text == "What is next?"
        assert question.state == Question.State.OPEN
        assert len(callbacks) == 1  # room.questions, after commit
        queue, answering = questions_payload(room.pk)
        assert [q["id"] for q in queue] == [question.pk] and answering is None

    def test_280_characters_are_accepted(self, room):
        assert len(ask(room, seat(room), "x" * 280).text) == 280

    def test_281_characters_are_refused_with_a_clear_error_and_nothing_changes(self, room):
        error = refused("question_too_long", ask, room, seat(room), "x" * 281)
        assert "280" in error.message and "281" in error.message
        assert not Question.objects.exists()

    @pytest.mark.parametrize("text", ["", "   ", "\n\t"])
    def test_an_empty_question_is_refused(self, room, text):
        refused("question_required", ask, room, seat(room), text)
        assert not Question.objects.exists()

    def test_at_most_five_an_hour_per_person_withdrawn_ones_included(self, room):
        listener = seat(room)
        assert QUESTIONS_PER_HOUR == 5
        first = ask(room, listener, "one")
        questions.question_withdraw(room_id=room.pk, actor=listener, question_id=first.pk)
        for n in range(QUESTIONS_PER_HOUR - 1):
            ask(room, listener, f"question {n}")
        refused("rate_limited", ask, room, listener, "one too many")
        assert Question.objects.filter(asker=listener).count() == QUESTIONS_PER_HOUR
        # Someone else still may, and so may they an hour later.
        ask(room, seat(room), "another person")
        Question.objects.filter(asker=listener).update(created_at=timezone.now() - timedelta(minutes=61))
        ask(room, listener, "an hour later")

    def test_stage_members_speak_instead(self, room):
        refused("on_stage", ask, room, room.host)

    def test_people_not_in_the_room_or_removed_cannot_ask(self, room):
        refused("not_in_room", ask, room, UserFactory())
        removed = seat(room)
        Participant.objects.filter(user=removed).update(is_removed=True)
        refused("not_in_room", ask, room, removed)

    def test_a_suspended_account_cannot_ask(self, room):
        listener = seat(room)
        user_suspend(user=listener)
        refused("suspended", ask, room, listener)

    def test_only_live_rooms_take_questions(self):
        scheduled = RoomFactory(scheduled=True)
        listener = UserFactory()
        Participant.objects.create(room=scheduled, user=listener)
        refused("not_live", ask, scheduled, listener)

    def test_the_host_turns_the_queue_off_and_nobody_can_ask_or_vote(self, room):
        listener, voter = seat(room), seat(room)
        question = ask(room, listener)
        refused("not_allowed", questions.room_set_qa, room_id=room.pk, actor=voter, enabled=False)
        cohost = seat(room, Participant.Role.COHOST)
        refused("not_allowed", questions.room_set_qa, room_id=room.pk, actor=cohost, enabled=False)
        questions.room_set_qa(room_id=room.pk, actor=room.host, enabled=False)
        refused("qa_off", ask, room, listener, "again")
        refused("qa_off", questions.question_vote, room_id=room.pk, actor=voter, question_id=question.pk)
        questions.room_set_qa(room_id=room.pk, actor=room.host, enabled=True)
        questions.question_vote(room_id=room.pk, actor=voter, question_id=question.pk)


class TestVoting:
    def test_one_vote_per_person_a_second_is_refused(self, room):
        question = ask(room, seat(room))
        voter = seat(room)
        assert questions.question_vote(room_id=room.pk, actor=voter, question_id=question.pk).vote_count == 1
        error = refused(
            "already_voted", questions.question_vote, room_id=room.pk, actor=voter, question_id=question.pk
        )
        assert "already" in error.message
        question.refresh_from_db()
        assert question.vote_count == 1
        assert QuestionVote.objects.filter(question=question).count() == 1

    def test_unvote_takes_it_back_and_a_second_unvote_is_refused(self, room):
        question = ask(room, seat(room))
        voter = seat(room)
        questions.question_vote(room_id=room.pk, actor=voter, question_id=question.pk)
        assert (
            questions.question_unvote(room_id=room.pk, actor=voter, question_id=question.pk).vote_count == 0
        )
        refused("not_voted", questions.question_unvote, room_id=room.pk, actor=voter, question_id=question.pk)
        question.refresh_from_db()
        assert question.vote_count == 0

    def test_nobody_upvotes_their_own_question(self, room):
        asker = seat(room)
        question = ask(room, asker)
        refused(
            "own_question", questions.question_vote, room_id=room.pk, actor=asker, question_id=question.pk
        )

    def test_a_question_of_another_room_is_not_found(self, room):
        elsewhere = RoomFactory()
        question = ask(elsewhere, seat(elsewhere))
        refused(
            "no_such_question",
            questions.question_vote,
            room_id=room.pk,
            actor=seat(room),
            question_id=question.pk,
        )

    def test_the_queue_is_ordered_by_votes_then_age(self, room):
        old, new, top = (ask(room, seat(room), text) for text in ("old", "new", "top"))
        for _ in range(2):
            questions.question_vote(room_id=room.pk, actor=seat(room), question_id=top.pk)
        questions.question_vote(room_id=room.pk, actor=seat(room), question_id=new.pk)
        questions.question_vote(room_id=room.pk, actor=seat(room), question_id=old.pk)
        queue, _ = questions_payload(room.pk)
        assert [q["text"] for q in queue] == ["top", "old", "new"]
        assert [q["votes"] for q in queue] == [2, 1, 1]


class TestRunningTheQueue:
    def test_listeners_cannot_answer_dismiss_remove_or_invite(self, room):
        question = ask(room, seat(room))
        listener = seat(room)
        for call in (
            questions.question_answer,
            questions.question_dismiss,
            questions.question_remove,
            questions.question_invite_asker,
        ):
            refused("not_allowed", call, room_id=room.pk, actor=listener, question_id=question.pk)
        question.refresh_from_db()
        assert question.state == Question.State.OPEN

    def test_answering_one_finishes_the_one_before(self, room):
        first, second = ask(room, seat(room), "first"), ask(room, seat(room), "second")
        cohost = seat(room, Participant.Role.COHOST)
        questions.question_answer(room_id=room.pk, actor=cohost, question_id=first.pk)
        _, answering = questions_payload(room.pk)
        assert answering["id"] == first.pk
        questions.question_answer(room_id=room.pk, actor=room.host, question_id=second.pk)
        first.refresh_from_db()
        assert first.state == Question.State.ANSWERED and first.answered_at is not None
        queue, answering = questions_payload(room.pk)
        assert answering["id"] == second.pk and queue == []
        questions.question_done(room_id=room.pk, actor=room.host, question_id=second.pk)
        assert questions_payload(room.pk) == ([], None)
        refused(
            "not_answering", questions.question_done, room_id=room.pk, actor=room.host, question_id=second.pk
        )

    def test_dismiss_and_remove(self, room):
        kept, gone = ask(room, seat(room), "kept"), ask(room, seat(room), "gone")
        questions.question_dismiss(room_id=room.pk, actor=room.host, question_id=kept.pk)
        questions.question_remove(room_id=room.pk, actor=room.host, question_id=gone.pk)
        assert questions_payload(room.pk) == ([], None)
        refused(
            "question_closed",
            questions.question_dismiss,
            room_id=room.pk,
            actor=room.host,
            question_id=kept.pk,
        )
        refused(
            "no_such_question",
            questions.question_answer,
            room_id=room.pk,
            actor=room.host,
            question_id=gone.pk,
        )

    def test_only_the_asker_withdraws_and_only_while_open(self, room):
        asker = seat(room)
        question = ask(room, asker)
        refused(
            "not_allowed",
            questions.question_withdraw,
            room_id=room.pk,
            actor=seat(room),
            question_id=question.pk,
        )
        questions.question_answer(room_id=room.pk, actor=room.host, question_id=question.pk)
        refused(
            "question_closed",
            questions.question_withdraw,
            room_id=room.pk,
            actor=asker,
            question_id=question.pk,
        )
        other = ask(room, asker, "another")
        questions.question_withdraw(room_id=room.pk, actor=asker, question_id=other.pk)
        other.refresh_from_db()
        assert other.state == Question.State.WITHDRAWN

    def test_inviting_the_asker_asks_them_to_speak_and_takes_the_question_up(self, room):
        asker = seat(room)
        question = ask(room, asker)
        questions.question_invite_asker(room_id=room.pk, actor=room.host, question_id=question.pk)
        assert Participant.objects.get(room=room, user=asker).invited_to_speak_at is not None
        question.refresh_from_db()
        assert question.state == Question.State.ANSWERING

    def test_an_asker_who_left_for_good_cannot_be_invited(self, room):
        asker = seat(room)
        question = ask(room, asker)
        Participant.objects.filter(user=asker).update(is_removed=True)
        refused(
            "not_in_room",
            questions.question_invite_asker,
            room_id=room.pk,
            actor=room.host,
            question_id=question.pk,
        )


class TestRecordAndReports:
    def test_the_replay_lists_answered_questions_at_their_time_withdrawn_and_removed_ones_not(self):
        recording = RecordingFactory()
        room = recording.room
        asked = [
            Question.objects.create(room=room, asker=UserFactory(), text=text)
            for text in ("answered", "open", "withdrawn", "removed")
        ]
        started = room.started_at
        Question.objects.filter(pk=asked[0].pk).update(
            state=Question.State.ANSWERED, answered_at=started + timedelta(seconds=95)
        )
        Question.objects.filter(pk=asked[2].pk).update(state=Question.State.WITHDRAWN)
        Question.objects.filter(pk=asked[3].pk).update(state=Question.State.REMOVED)
        listed = recording_questions(recording=recording)
        assert [(q.text, q.answered_ms) for q in listed] == [("answered", 95_000), ("open", None)]
        assert listed[0].answered_label == "1:35"

    def test_anyone_who_sees_the_room_reports_a_question(self, room):
        question = ask(room, seat(room))
        reporter = UserFactory()
        report = report_create(
            reporter=reporter, target_type="question", target_id=question.pk, reason="spam", note=""
        )
        assert report.target == question and report.target_type == Report.TargetType.QUESTION
        question.state = Question.State.REMOVED
        question.save()
        refused(
            "not_found",
            report_create,
            reporter=UserFactory(),
            target_type="question",
            target_id=question.pk,
            reason="spam",
            note="",
        )


def test_admin_shows_the_questions_of_a_room_read_only(client, room):
    ask(room, seat(room), "Shown in admin?")
    admin_user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    page = client.get(f"/admin/rooms/room/{room.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Shown in admin?" in html
    assert 'name="questions-0-text"' not in html  # read-only: no input for it


def test_the_replay_page_lists_the_questions_and_seeks_to_where_each_was_answered(client):
    recording = RecordingFactory()
    room = recording.room
    Question.objects.create(
        room=room,
        asker=UserFactory(display_name="Ari Asker"),
        text="Why modular?",
        state=Question.State.ANSWERED,
        answered_at=room.started_at + timedelta(minutes=3, seconds=5),
    )
    Question.objects.create(room=room, asker=UserFactory(), text="Taken down", state=Question.State.REMOVED)
    page = client.get(f"/recordings/{recording.pk}/").content.decode()
    assert 'data-testid="replay-questions"' in page
    assert 'data-seek-ms="185000"' in page and "Why modular?" in page and "3:05" in page
    assert "Taken down" not in page
