"""Reads about a live room's stage and audience: the stored roster, and the snapshot every socket
of the room is sent."""

from dataclasses import dataclass, field, replace

from django.utils.translation import gettext as _

from spaces_project import protocol
from spaces_project.errors import NotFound

from ..events import (
    PAYLOAD_FIELDS,
    links_payload,
    participant_payload,
    participant_row_payload,
    questions_payload,
)
from ..models import Participant, Question, QuestionVote, Room

LISTENERS_SHOWN = 100


def room_roster(*, room: Room) -> dict[str, list[Participant]]:
    """Who is on stage and listening, as stored (the live roster comes from presence)."""
    participants = list(
        room.participants.filter(is_removed=False).select_related("user").order_by("joined_at", "pk")
    )
    stage = sorted(
        (p for p in participants if p.on_stage), key=lambda p: (protocol.stage_position(p.role), p.joined_at)
    )
    listeners = [p for p in participants if not p.on_stage]
    return {"stage": stage, "listeners": listeners}


@dataclass(frozen=True)
class RoomLiveView:
    """A room's live state as read once, from which every viewer's `room.snapshot` is made."""

    room: Room
    snapshot: protocol.RoomSnapshot  # with `you` left empty
    people: dict[int, protocol.ParticipantInfo]  # every participant still in the room, by user id
    # Each voter's upvotes of the questions in the queue (the snapshot's `my_votes`).
    votes: dict[int, list[int]] = field(default_factory=dict)
    _anonymous_text: str | None = field(default=None, compare=False, repr=False)

    def for_viewer(self, viewer_id: int | None) -> protocol.RoomSnapshot:
        you = self.people.get(viewer_id) if viewer_id is not None else None
        if you is None:
            return self.snapshot
        return replace(self.snapshot, you=you, my_votes=self.votes.get(viewer_id, []))

    def encode_for(self, viewer_id: int | None) -> str:
        """The snapshot's text frame; encoded once for all the viewers without an entry of their own."""
        if viewer_id is not None and viewer_id in self.people:
            return self.for_viewer(viewer_id).encode()
        if self._anonymous_text is None:
            object.__setattr__(self, "_anonymous_text", self.snapshot.encode())
        return self._anonymous_text


def room_live_view(
    *, room_id: int, present_user_ids: set[int], anonymous: int, heartbeat_seconds: float
) -> RoomLiveView:
    """The room's live state, the same for every viewer but for their own entry. NotFound if the room
    does not exist. The participants are read as plain rows: this runs for every socket of a room
    that a web process restart sends to another one."""
    room = Room.objects.select_related("host").filter(pk=room_id).first()
    if room is None:
        raise NotFound(_("This room does not exist."))
    rows = list(
        Participant.objects.filter(room_id=room_id, is_removed=False)
        .order_by("joined_at", "pk")
        .values_list(*PAYLOAD_FIELDS)
    )
    payloads = {row[0]: participant_row_payload(row) for row in rows}
    hand_raised_at = {row[0]: row[6] for row in rows if row[6] is not None}
    stage = sorted(
        (
            p
            for p in payloads.values()
            if protocol.is_on_stage(p["role"])
            and (p["user_id"] in present_user_ids or p["role"] == Participant.Role.HOST)
        ),
        key=lambda p: protocol.stage_position(p["role"]),
    )
    audience = [
        p
        for p in payloads.values()
        if not protocol.is_on_stage(p["role"]) and p["user_id"] in present_user_ids
    ]
    queue, answering = questions_payload(room_id)
    snapshot = protocol.RoomSnapshot(
        room=protocol.RoomInfo(
            id=room.pk,
            title=room.title,
            state=room.state,
            host_id=room.host_id,
            speaker_policy=room.speaker_policy,
            is_recorded=room.is_recorded,
            captions=room.captions_enabled,
            backstage=room.in_backstage,
            qa=room.qa_enabled,
            started_at=room.started_at.isoformat() if room.started_at else None,
        ),
        you=None,
        stage=stage,
        listeners=audience[:LISTENERS_SHOWN],
        listener_count=len(audience) + anonymous,
        hands=sorted(
            (user_id for user_id in hand_raised_at if user_id in present_user_ids),
            key=lambda user_id: hand_raised_at[user_id],
        ),
        links=links_payload(room_id),
        questions=queue,
        answering=answering,
        my_votes=[],
        heartbeat_seconds=heartbeat_seconds,
    )
    votes: dict[int, list[int]] = {}
    for user_id, question_id in (
        QuestionVote.objects.filter(
            question__room_id=room_id,
            question__state__in=[Question.State.OPEN, Question.State.ANSWERING],
        )
        .order_by("question_id")
        .values_list("user_id", "question_id")
    ):
        votes.setdefault(user_id, []).append(question_id)
    return RoomLiveView(room=room, snapshot=snapshot, people=payloads, votes=votes)


def room_live_state(
    *,
    room_id: int,
    viewer_id: int | None,
    present_user_ids: set[int],
    anonymous: int,
    heartbeat_seconds: float,
) -> protocol.RoomSnapshot:
    """The `room.snapshot` event for one viewer."""
    view = room_live_view(
        room_id=room_id,
        present_user_ids=present_user_ids,
        anonymous=anonymous,
        heartbeat_seconds=heartbeat_seconds,
    )
    return view.for_viewer(viewer_id)


def room_listeners_event(
    *, room_id: int, present_user_ids: set[int], anonymous: int, with_list: bool = True
) -> protocol.Listeners:
    """The `room.listeners` event: the audience as it is now; without `with_list`, its count only
    (and the list when it is empty)."""
    audience = Participant.objects.filter(
        room_id=room_id, is_removed=False, user_id__in=present_user_ids, role=Participant.Role.LISTENER
    )
    if not with_list:
        signed_in = audience.count()
        # An empty list costs nothing to send: then the page need not wait for it.
        return protocol.Listeners(listener_count=signed_in + anonymous, listeners=None if signed_in else [])
    shown = list(audience.select_related("user").order_by("joined_at", "pk")[:LISTENERS_SHOWN])
    # Only an audience longer than the list is counted apart.
    signed_in = len(shown) if len(shown) < LISTENERS_SHOWN else audience.count()
    return protocol.Listeners(
        listener_count=signed_in + anonymous, listeners=[participant_payload(p) for p in shown]
    )
