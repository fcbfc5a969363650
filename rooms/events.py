"""Room events: the shapes they carry, built from the models, and the events several services send.

The events themselves are declared in spaces_project/protocol; build them there, send them with
``spaces_project.realtime.send_on_commit`` as every service does.
"""

from accounts.models import User
from spaces_project import protocol, realtime

from .models import Participant, PinnedLink, Question


def participant_payload(participant: Participant) -> protocol.ParticipantInfo:
    user = participant.user
    return participant_row_payload(
        (
            user.pk,
            user.handle,
            user.display_name,
            user.avatar_128.name,
            participant.role,
            participant.is_muted,
            participant.hand_raised_at,
            participant.invited_to_speak_at,
        )
    )


# What participant_row_payload() needs of a participant, read with values_list().
PAYLOAD_FIELDS = (
    "user_id",
    "user__handle",
    "user__display_name",
    "user__avatar_128",
    "role",
    "is_muted",
    "hand_raised_at",
    "invited_to_speak_at",
)


def participant_row_payload(row: tuple) -> protocol.ParticipantInfo:
    """The payload of a participant read as a row of PAYLOAD_FIELDS (participant_payload() makes the
    row from the models): a live room reads a thousand of them at once, which as model instances
    (with their accounts) cost ten times more."""
    user_id, handle, display_name, avatar, role, muted, hand_raised_at, invited_at = row
    return protocol.ParticipantInfo(
        user_id=user_id,
        handle=handle,
        name=User.name_from(display_name, handle),
        avatar=_avatar_storage().url(avatar) if avatar else "",
        role=role,
        muted=muted,
        hand_raised=hand_raised_at is not None,
        invited=invited_at is not None,
    )


def _avatar_storage():
    return User._meta.get_field("avatar_128").storage


def participant_updated(participant: Participant) -> None:
    """Send `participant`'s new state to the room once the current transaction commits."""
    realtime.send_on_commit(
        protocol.ParticipantUpdated(participant=participant_payload(participant)), room_id=participant.room_id
    )


def links_payload(room_id: int) -> list[protocol.LinkInfo]:
    return [
        protocol.LinkInfo(id=link.pk, title=link.title, url=link.url)
        for link in PinnedLink.objects.filter(room_id=room_id)
    ]


def question_payload(question) -> protocol.QuestionInfo:
    asker = question.asker
    return protocol.QuestionInfo(
        id=question.pk,
        text=question.text,
        asker_id=asker.pk,
        asker_name=asker.name,
        asker_handle=asker.handle,
        votes=question.vote_count,
        state=question.state,
        created_at=question.created_at.isoformat(),
    )


def questions_payload(room_id: int) -> tuple[list[protocol.QuestionInfo], protocol.QuestionInfo | None]:
    """(the open questions, most votes first then the oldest; the one being answered, or None)."""
    rows = list(
        Question.objects.filter(room_id=room_id, state__in=[Question.State.OPEN, Question.State.ANSWERING])
        .select_related("asker")
        .order_by("-vote_count", "created_at", "pk")
    )
    answering = next((q for q in rows if q.state == Question.State.ANSWERING), None)
    queue = [question_payload(q) for q in rows if q.state == Question.State.OPEN][: protocol.QUESTIONS_SHOWN]
    return queue, question_payload(answering) if answering else None


def questions_changed(room_id: int, *, enabled: bool) -> None:
    """Send the Q&A queue to the room once the current transaction commits."""
    queue, answering = questions_payload(room_id)
    realtime.send_on_commit(
        protocol.Questions(enabled=enabled, questions=queue, answering=answering), room_id=room_id
    )


def status_changed(room) -> None:
    """Tell every page of `room` (joined or watching) its new status once the transaction commits."""
    started_at = room.started_at.isoformat() if room.status == "live" and room.started_at else None
    realtime.send_on_commit(
        protocol.StatusChanged(status=room.status, started_at=started_at), room_id=room.pk
    )
