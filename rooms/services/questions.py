"""The Q&A queue of a live room: every write about questions and their votes.

Listeners ask (at most MAX_QUESTION_LENGTH characters, QUESTIONS_PER_HOUR an hour in one room);
everyone in the room upvotes, once per question; the queue is ordered by votes, then age. The host
and co-hosts mark the question they are answering (one at a time; the one before becomes answered),
dismiss or remove questions, or invite an asker to speak. The asker withdraws their own open
question. The host turns the queue off and on. Decisions are written down in docs/qa-and-backstage.md.

Each change publishes the whole queue (``room.questions``) after commit; a vote also tells the
voter which questions they upvote now (``room.my_votes``).
"""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from spaces_project import protocol, realtime
from spaces_project.errors import ServiceError

from ..events import questions_changed
from ..models import MAX_QUESTION_LENGTH, QUESTIONS_PER_HOUR, Participant, Question, QuestionVote, Room
from .stage import speaker_invite

QUESTION_WINDOW = timedelta(hours=1)


def _live_room(room_id: int) -> Room:
    """The live room, locked: changes to one room's queue happen one after the other."""
    room = Room.objects.select_for_update().filter(pk=room_id).first()
    if room is None:
        raise ServiceError("not_found", _("This room does not exist."))
    if room.state != Room.State.LIVE:
        raise ServiceError("not_live", _("Questions are for live rooms."))
    return room


def _member(room: Room, actor: User) -> Participant:
    if not getattr(actor, "is_authenticated", False):
        raise ServiceError("sign_in_required", _("Sign in to do that."))
    if actor.is_suspended:
        raise ServiceError("suspended", _("Your account is suspended."))
    participant = Participant.objects.filter(room=room, user=actor, is_removed=False).first()
    if participant is None:
        raise ServiceError("not_in_room", _("Join the room first."))
    return participant


def _moderator(room: Room, actor: User) -> Participant:
    participant = _member(room, actor)
    if participant.role not in Participant.MODERATOR_ROLES:
        raise ServiceError("not_allowed", _("Only the host or a co-host can do that."))
    return participant


def _require_queue_on(room: Room) -> None:
    if not room.qa_enabled:
        raise ServiceError("qa_off", _("The host turned questions off."))


def _question(room: Room, question_id: int) -> Question:
    question = (
        Question.objects.select_for_update(of=("self",))
        .select_related("asker")
        .filter(room=room, pk=question_id)
        .first()
    )
    if question is None or question.state == Question.State.REMOVED:
        raise ServiceError("no_such_question", _("That question is not in this room's queue."))
    return question


def _moderated_question(room_id: int, actor: User, question_id: int) -> tuple[Room, Question]:
    """The live room and its question, for a host or co-host acting on it."""
    room = _live_room(room_id)
    _moderator(room, actor)
    return room, _question(room, question_id)


def clean_question_text(text: str) -> str:
    """The question as it will be shown: blanks collapsed. Raise ServiceError if empty or too long."""
    text = " ".join(text.split())
    if not text:
        raise ServiceError("question_required", _("Type a question first."), field="text")
    if len(text) > MAX_QUESTION_LENGTH:
        raise ServiceError(
            "question_too_long",
            _("A question has at most %(most)s characters; this one has %(length)s.")
            % {"most": MAX_QUESTION_LENGTH, "length": len(text)},
            field="text",
        )
    return text


@transaction.atomic
def question_ask(*, room_id: int, actor: User, text: str) -> Question:
    """A listener adds a question to the queue."""
    room = _live_room(room_id)
    _require_queue_on(room)
    participant = _member(room, actor)
    if participant.on_stage:
        raise ServiceError("on_stage", _("You are on stage: ask your question out loud."))
    text = clean_question_text(text)
    # One person's questions are counted one at a time (their seat is locked), so two at once
    # cannot both squeeze under the limit. Withdrawn and removed questions count too.
    Participant.objects.select_for_update().filter(pk=participant.pk).first()
    since = timezone.now() - QUESTION_WINDOW
    asked = Question.objects.filter(room=room, asker=actor, created_at__gte=since).count()
    if asked >= QUESTIONS_PER_HOUR:
        raise ServiceError(
            "rate_limited",
            _("You can ask at most %(count)s questions an hour in a room.") % {"count": QUESTIONS_PER_HOUR},
        )
    question = Question.objects.create(room=room, asker=actor, text=text)
    questions_changed(room.pk, enabled=room.qa_enabled)
    return question


def _my_votes(room: Room, user: User) -> list[int]:
    return list(
        QuestionVote.objects.filter(
            user=user,
            question__room=room,
            question__state__in=[Question.State.OPEN, Question.State.ANSWERING],
        )
        .order_by("question_id")
        .values_list("question_id", flat=True)
    )


def _send_my_votes(room: Room, user: User) -> None:
    realtime.send_on_commit(
        protocol.MyVotes(to_user_id=user.pk, question_ids=_my_votes(room, user)), room_id=room.pk, to=user.pk
    )


@transaction.atomic
def question_vote(*, room_id: int, actor: User, question_id: int) -> Question:
    """Upvote an open question. One vote per person and question: a second one is refused."""
    room = _live_room(room_id)
    _require_queue_on(room)
    _member(room, actor)
    question = _question(room, question_id)
    if question.state != Question.State.OPEN:
        raise ServiceError("question_closed", _("Only questions still in the queue take votes."))
    if question.asker_id == actor.pk:
        raise ServiceError("own_question", _("You cannot upvote your own question."))
    try:
        with transaction.atomic():
            QuestionVote.objects.create(question=question, user=actor)
    except IntegrityError:
        raise ServiceError("already_voted", _("You already upvoted this question.")) from None
    Question.objects.filter(pk=question.pk).update(vote_count=F("vote_count") + 1)
    question.refresh_from_db(fields=["vote_count"])
    questions_changed(room.pk, enabled=room.qa_enabled)
    _send_my_votes(room, actor)
    return question


@transaction.atomic
def question_unvote(*, room_id: int, actor: User, question_id: int) -> Question:
    """Take back an upvote."""
    room = _live_room(room_id)
    _member(room, actor)
    question = _question(room, question_id)
    deleted, _ignored = QuestionVote.objects.filter(question=question, user=actor).delete()
    if not deleted:
        raise ServiceError("not_voted", _("You have not upvoted this question."))
    Question.objects.filter(pk=question.pk, vote_count__gt=0).update(vote_count=F("vote_count") - 1)
    question.refresh_from_db(fields=["vote_count"])
    questions_changed(room.pk, enabled=room.qa_enabled)
    _send_my_votes(room, actor)
    return question


def _close(question: Question, state: str) -> None:
    now = timezone.now()
    question.state = state
    question.closed_at = now
    question.save(update_fields=["state", "closed_at"])


@transaction.atomic
def question_withdraw(*, room_id: int, actor: User, question_id: int) -> Question:
    """The asker takes their own question out of the queue (not once it is being answered)."""
    room = _live_room(room_id)
    _member(room, actor)
    question = _question(room, question_id)
    if question.asker_id != actor.pk:
        raise ServiceError("not_allowed", _("Only the person who asked can withdraw a question."))
    if question.state != Question.State.OPEN:
        raise ServiceError("question_closed", _("Only a question still in the queue can be withdrawn."))
    _close(question, Question.State.WITHDRAWN)
    questions_changed(room.pk, enabled=room.qa_enabled)
    return question


def _finish_answering(room: Room, *, except_id: int | None = None) -> None:
    """The question being answered (if any, and not `except_id`) becomes answered."""
    Question.objects.filter(room=room, state=Question.State.ANSWERING).exclude(pk=except_id).update(
        state=Question.State.ANSWERED, closed_at=timezone.now()
    )


def _start_answering(room: Room, question: Question) -> None:
    _finish_answering(room, except_id=question.pk)
    question.state = Question.State.ANSWERING
    question.answered_at = timezone.now()
    question.save(update_fields=["state", "answered_at"])


@transaction.atomic
def question_answer(*, room_id: int, actor: User, question_id: int) -> Question:
    """Host or co-host: this question is being answered now (shown to everyone under the stage)."""
    room, question = _moderated_question(room_id, actor, question_id)
    if question.state != Question.State.OPEN:
        raise ServiceError("question_closed", _("Only a question in the queue can be taken up."))
    _start_answering(room, question)
    questions_changed(room.pk, enabled=room.qa_enabled)
    return question


@transaction.atomic
def question_done(*, room_id: int, actor: User, question_id: int) -> Question:
    """Host or co-host: the question being answered has been answered."""
    room, question = _moderated_question(room_id, actor, question_id)
    if question.state != Question.State.ANSWERING:
        raise ServiceError("not_answering", _("That question is not being answered."))
    _close(question, Question.State.ANSWERED)
    questions_changed(room.pk, enabled=room.qa_enabled)
    return question


@transaction.atomic
def question_dismiss(*, room_id: int, actor: User, question_id: int) -> Question:
    """Host or co-host sets an open question aside (it stays in the record, unanswered)."""
    room, question = _moderated_question(room_id, actor, question_id)
    if question.state != Question.State.OPEN:
        raise ServiceError("question_closed", _("Only a question in the queue can be dismissed."))
    _close(question, Question.State.DISMISSED)
    questions_changed(room.pk, enabled=room.qa_enabled)
    return question


@transaction.atomic
def question_remove(*, room_id: int, actor: User, question_id: int) -> Question:
    """Host or co-host takes a question down: it leaves the queue and the room's record."""
    room, question = _moderated_question(room_id, actor, question_id)
    _close(question, Question.State.REMOVED)
    questions_changed(room.pk, enabled=room.qa_enabled)
    return question


@transaction.atomic
def question_invite_asker(*, room_id: int, actor: User, question_id: int) -> Question:
    """Host or co-host invites the asker to speak, and takes the question up (it is being answered)."""
    room, question = _moderated_question(room_id, actor, question_id)
    if question.state not in (Question.State.OPEN, Question.State.ANSWERING):
        raise ServiceError("question_closed", _("That question is no longer in the queue."))
    if not Participant.objects.filter(room=room, user_id=question.asker_id, is_removed=False).exists():
        raise ServiceError("not_in_room", _("The person who asked is not in the room."))
    speaker_invite(room_id=room.pk, actor=actor, user_id=question.asker_id)
    if question.state == Question.State.OPEN:
        _start_answering(room, question)
    questions_changed(room.pk, enabled=room.qa_enabled)
    return question


@transaction.atomic
def room_set_qa(*, room_id: int, actor: User, enabled: bool) -> Room:
    """The host turns the Q&A queue on or off. Off, nobody can ask or vote; the questions asked so
    far stay (and stay in the record)."""
    room = Room.objects.select_for_update().filter(pk=room_id).first()
    if room is None:
        raise ServiceError("not_found", _("This room does not exist."))
    if room.is_over:
        raise ServiceError("bad_state", _("This room is over."))
    if not getattr(actor, "is_authenticated", False) or actor.pk != room.host_id:
        raise ServiceError("not_allowed", _("Only the host can turn questions on or off."))
    if room.qa_enabled != enabled:
        room.qa_enabled = enabled
        room.save(update_fields=["qa_enabled"])
        questions_changed(room.pk, enabled=enabled)
    return room


def question_force_remove(*, question: Question) -> Question:
    """A site moderator takes a reported question down (moderation/services.py audits it)."""
    with transaction.atomic():
        question = Question.objects.select_for_update().get(pk=question.pk)
        if question.state != Question.State.REMOVED:
            _close(question, Question.State.REMOVED)
            room = Room.objects.get(pk=question.room_id)
            questions_changed(room.pk, enabled=room.qa_enabled)
    return question
