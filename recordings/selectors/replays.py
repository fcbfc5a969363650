"""Reads about replays. Who may listen to a replay is decided here, in one place
(`recording_get_for_listener`, and `replays_visible_to` for lists)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Follow, User
from accounts.selectors import blocked_user_ids, is_blocked_between
from rooms.models import Participant, Question, Room, RoomInvitation, Ticket
from rooms.selectors import ticketed_room_admits
from spaces_project.errors import NotFound, ServiceError

from .. import transcripts
from ..models import Recording


def recording_get_for_listener(*, recording_id: int, viewer) -> Recording:
    """Return the recording if `viewer` may see its page and hear it; raise otherwise.

    The rule: whoever could have joined the room may replay it. The host always; nobody the host
    blocked or who blocked the host; not a suspended account, nor someone removed from the room;
    visitors who are not signed in only if the room let anonymous listeners in. A ticketed room's
    replay is for those who could join it: ticket holders, its stage and the people invited to it
    (rooms.selectors.ticketed_room_admits). NotFound never reveals that a hidden recording exists;
    ServiceError("sign_in_required") tells a visitor that signing in may help.
    """
    recording = (
        Recording.objects.select_related("room__host")
        .exclude(status=Recording.Status.REMOVED)
        .filter(pk=recording_id)
        .first()
    )
    if recording is None:
        raise NotFound(_("This recording does not exist."))
    room = recording.room
    if getattr(viewer, "is_authenticated", False) and viewer.pk == room.host_id:
        return recording
    if not getattr(viewer, "is_authenticated", False):
        if room.is_ticketed:
            raise ServiceError("sign_in_required", _("This replay is for ticket holders: sign in."))
        if not room.allow_anonymous:
            raise ServiceError("sign_in_required", _("Sign in to listen to this replay."))
        return recording
    if is_blocked_between(a=viewer, b=room.host):
        raise NotFound(_("This recording does not exist."))
    if viewer.is_suspended:
        raise ServiceError("suspended", _("Your account is suspended."))
    if Participant.objects.filter(room=room, user=viewer, is_removed=True).exists():
        raise ServiceError("removed", _("You were removed from this room, so you cannot replay it."))
    if room.is_ticketed and not ticketed_room_admits(room=room, user=viewer):
        raise ServiceError("ticket_required", _("This replay is for the room's ticket holders."))
    return recording


def recording_of_room(*, room: Room) -> Recording | None:
    """The room's recording, unless it was removed."""
    return Recording.objects.exclude(status=Recording.Status.REMOVED).filter(room=room).first()


def replays_visible_to(*, viewer, hidden: set[int] | None = None) -> QuerySet[Recording]:
    """Published replays `viewer` may play: `recording_get_for_listener`'s rule, for lists.

    `hidden`, when given, is `blocked_user_ids(user=viewer)` already read for this request.
    """
    replays = (
        Recording.objects.filter(status=Recording.Status.READY)
        .select_related("room__host")
        # What a list does not show and can be long: the waveform, who spoke when.
        .defer("peaks", "turns", "segment_times", "capture_notes", "failure_reason")
    )
    if hidden is None:
        hidden = blocked_user_ids(user=viewer)
    if hidden:
        replays = replays.exclude(room__host_id__in=hidden)
    if not getattr(viewer, "is_authenticated", False):
        return replays.filter(room__allow_anonymous=True, room__ticket_price__isnull=True)
    if viewer.is_suspended:
        return replays.none()
    removed = Participant.objects.filter(room_id=OuterRef("room_id"), user=viewer, is_removed=True)
    # Ticketed rooms: those ticketed_room_admits lets in.
    admitted = (
        Q(room__ticket_price__isnull=True)
        | Q(room__host=viewer)
        | Exists(
            Ticket.objects.filter(
                room_id=OuterRef("room_id"),
                buyer=viewer,
                status=Ticket.Status.PAID,
                refund_requested_at__isnull=True,
            )
        )
        | Exists(
            Participant.objects.filter(
                room_id=OuterRef("room_id"), user=viewer, role__in=Participant.STAGE_ROLES, is_removed=False
            )
        )
        | Exists(RoomInvitation.objects.filter(room_id=OuterRef("room_id"), invitee=viewer))
    )
    return replays.exclude(Exists(removed)).filter(admitted)


def replays_anyone_may_play() -> QuerySet[Recording]:
    """Published replays that anybody may play, signed in or not: `replays_visible_to` for a visitor
    nobody knows. Only these may leave the site for places without a session (a podcast feed)."""
    return replays_visible_to(viewer=AnonymousUser(), hidden=set())


def recording_refusal_for_anyone(*, recording_id: int) -> ServiceError | None:
    """Why a visitor nobody knows may not play the recording (`recording_get_for_listener`'s own
    refusal), or None when anybody may."""
    try:
        recording_get_for_listener(recording_id=recording_id, viewer=AnonymousUser())
    except ServiceError as refusal:
        return refusal
    return None


# "Recent" replays of the people you follow, on the home page; older ones are on their profiles.
FOLLOWED_REPLAYS_WITHIN = timedelta(days=30)


# What recordings_tags.replay_card shows (the home page's Replays row), and the row's orders.
_REPLAY_CARD_FIELDS = (
    "room",
    "duration_ms",
    "play_count",
    "created_at",
    "published_at",
    "room__title",
    "room__started_at",
    "room__host",
    "room__host__handle",
    "room__host__display_name",
    "room__host__avatar_64",
    "room__host__avatar_128",
    "room__host__avatar_256",
)


def replays_for_home(*, viewer, limit: int, hidden: set[int] | None = None) -> list[Recording]:
    """The home page's Replays row: recent replays from people `viewer` follows (newest first), then
    the most played replays (most recent first among equals).

    Every home page pays for this row (bench/pages.py), so for a signed-in viewer it looks among a
    few candidates, read as plain ints, and applies `replays_visible_to`'s rule to them here: the
    host not blocked either way (`hidden`), the viewer not removed from the room, and for the rare
    ticketed room the rule itself, in SQL. The whole rule over every replay runs only when the
    candidates run out (bench: 12 ms a page as one query with the rule, about 4 ms like this).
    """
    if hidden is None:
        hidden = blocked_user_ids(user=viewer)
    if not getattr(viewer, "is_authenticated", False) or viewer.is_suspended:
        visible = replays_visible_to(viewer=viewer, hidden=hidden).only(*_REPLAY_CARD_FIELDS)
        return list(visible.order_by(*_POPULAR)[:limit])
    candidates = Recording.objects.filter(status=Recording.Status.READY)
    if hidden:
        candidates = candidates.exclude(room__host_id__in=hidden)
    removed = set(Participant.objects.filter(user=viewer, is_removed=True).values_list("room_id", flat=True))
    followees = Follow.objects.filter(follower=viewer).values("followee_id")
    chosen = _first_visible(
        viewer,
        candidates.filter(
            room__host_id__in=followees, published_at__gte=timezone.now() - FOLLOWED_REPLAYS_WITHIN
        ),
        _NEWEST,
        limit,
        removed,
        hidden,
    )
    if len(chosen) < limit:
        chosen += _first_visible(
            viewer, candidates.exclude(pk__in=chosen), _POPULAR, limit - len(chosen), removed, hidden
        )
    if not chosen:
        return []
    by_pk = {
        replay.pk: replay
        for replay in Recording.objects.filter(pk__in=chosen)
        .select_related("room__host")
        .only(*_REPLAY_CARD_FIELDS)
    }
    return [by_pk[pk] for pk in chosen if pk in by_pk]


_NEWEST = ("-published_at", "-pk")
_POPULAR = ("-play_count", "-published_at", "-pk")


def _first_visible(viewer, candidates, order, limit: int, removed: set[int], hidden) -> list[int]:
    """Ids of the first `limit` of `candidates` in `order` that `viewer` may play (see
    replays_for_home), signed-in and not suspended; `removed`: the rooms they were removed from."""
    wanted = limit * 3
    rows = list(
        candidates.order_by(*order).values_list("pk", "room_id", "room__host_id", "room__ticket_price")[
            :wanted
        ]
    )
    open_rows = [row for row in rows if row[1] not in removed]
    ticketed = [pk for pk, _, host_id, price in open_rows if price is not None and host_id != viewer.pk]
    admitted = set()
    if ticketed:  # a ticket holder, or someone let in without one: the rule itself, in one place
        admitted = set(
            replays_visible_to(viewer=viewer, hidden=hidden)
            .filter(pk__in=ticketed)
            .values_list("pk", flat=True)
        )
    found = [
        pk for pk, _, host_id, price in open_rows if price is None or host_id == viewer.pk or pk in admitted
    ]
    if len(found) < limit and len(rows) == wanted:  # more beyond the few looked at
        visible = replays_visible_to(viewer=viewer, hidden=hidden).filter(pk__in=candidates.values("pk"))
        found = list(visible.order_by(*order).values_list("pk", flat=True)[:limit])
    return found[:limit]


def replays_of_user(*, user: User, viewer) -> QuerySet[Recording]:
    """A profile's Replays tab: the rooms `user` hosted that have a replay `viewer` may play."""
    return replays_visible_to(viewer=viewer).filter(room__host=user).order_by("-published_at", "-pk")


def recording_get_for_host(*, recording_id: int, actor) -> Recording:
    """Return the recording for its host to download or delete; not_allowed for anyone else."""
    recording = recording_get_for_listener(recording_id=recording_id, viewer=actor)
    if not getattr(actor, "is_authenticated", False) or actor.pk != recording.room.host_id:
        raise ServiceError("not_allowed", _("Only the host can do that."))
    return recording


def transcribe_progress_key(recording_id: int) -> str:
    """The cache key under which recognizing a recording (services.recording_transcribe) says how far
    it has come."""
    return f"recordings:transcribe-progress:{recording_id}"


def recording_transcribe_progress(*, recording_id: int) -> int | None:
    """How far recognizing the recording has come, in percent (None: not running)."""
    try:
        return cache.get(transcribe_progress_key(recording_id))
    except Exception:  # a cache that is down must not break the progress page
        return None


@dataclass
class Step:
    label: str
    done: bool
    active: bool


def recording_progress(*, recording: Recording) -> list[Step]:
    """The finalizing steps as the replay page shows them while it waits."""
    processing = recording.status == Recording.Status.PROCESSING
    done = [
        recording.status != Recording.Status.CAPTURING,
        recording.finalized_at is not None,
        recording.transcribed_at is not None,
        recording.artwork_at is not None,
        recording.status == Recording.Status.READY,
    ]
    labels = [
        _("Room ended, recording stopped"),
        _("Checking the capture and writing the audio"),
        _("Writing the transcript"),
        _("Drawing the cover and the waveform"),
        _("Publishing the replay"),
    ]
    first_open = next((i for i, is_done in enumerate(done) if not is_done), None)
    if processing and first_open == 2:
        percent = recording_transcribe_progress(recording_id=recording.pk)
        if percent is not None:
            labels[2] = _("Writing the transcript (%(percent)s%%)") % {"percent": percent}
    return [
        Step(label, is_done, processing and i == first_open)
        for i, (label, is_done) in enumerate(zip(labels, done, strict=True))
    ]


def recording_status_payload(*, recording: Recording) -> dict:
    return {
        "status": recording.status,
        "ready": recording.status == Recording.Status.READY,
        "failed": recording.status == Recording.Status.FAILED,
        "steps": [
            {"label": s.label, "done": s.done, "active": s.active}
            for s in recording_progress(recording=recording)
        ],
    }


def clock(ms: int) -> str:
    """A position or a length as a player shows it: 4:05, or 1:02:03 past an hour."""
    seconds = int(ms // 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


@dataclass
class Turn:
    user_id: int
    name: str
    start_ms: int
    end_ms: int

    @property
    def start_label(self) -> str:
        return clock(self.start_ms)


def recording_turns(*, recording: Recording) -> list[Turn]:
    """Who spoke when, with names (someone whose account is gone is "Someone")."""
    ids = {turn[0] for turn in recording.turns}
    names = {user.pk: user.name for user in User.objects.filter(pk__in=ids)}
    return [
        Turn(user_id, names.get(user_id, "Someone"), start_ms, end_ms)
        for user_id, start_ms, end_ms in recording.turns
    ]


def recording_speakers(*, turns: list[Turn], duration_ms: int) -> list[dict]:
    """One row per voice for the timeline: their turns as percentages of the replay."""
    rows: dict[int, dict] = {}
    total = max(1, duration_ms)
    for turn in turns:
        row = rows.setdefault(
            turn.user_id, {"user_id": turn.user_id, "name": turn.name, "turns": [], "talk_ms": 0}
        )
        row["turns"].append(
            {
                "start_ms": turn.start_ms,
                "end_ms": turn.end_ms,
                "start_label": turn.start_label,
                "left": round(100 * turn.start_ms / total, 3),
                "width": round(max(0.3, 100 * (turn.end_ms - turn.start_ms) / total), 3),
            }
        )
        row["talk_ms"] += turn.end_ms - turn.start_ms
    return sorted(rows.values(), key=lambda row: -row["talk_ms"])


@dataclass(frozen=True)
class AskedQuestion:
    """A question of the room's Q&A queue as the replay lists it."""

    text: str
    asker_name: str
    votes: int
    answered_ms: int | None  # where in the replay it was taken up; None if it never was

    @property
    def answered_label(self) -> str:
        return clock(self.answered_ms) if self.answered_ms is not None else ""


def recording_questions(*, recording: Recording) -> list[AskedQuestion]:
    """The room's questions for its replay, in the order they were answered, then the rest by votes.

    Withdrawn and removed questions are left out. A question's replay time is when the host or a
    co-host started answering it, placed in the replay like a live caption line (the capture's
    segments, or the room's start before the replay is finalized).
    """
    room = recording.room
    rows = (
        Question.objects.filter(room=room)
        .exclude(state__in=[Question.State.WITHDRAWN, Question.State.REMOVED])
        .select_related("asker")
        .order_by("-vote_count", "created_at", "pk")
    )
    answered, rest = [], []
    for question in rows:
        at = question_replay_ms(question=question, recording=recording)
        item = AskedQuestion(question.text, question.asker.name, question.vote_count, at)
        (answered if at is not None else rest).append(item)
    answered.sort(key=lambda item: item.answered_ms)
    return answered + rest


def question_replay_ms(*, question: Question, recording: Recording) -> int | None:
    """Where in `recording` the host or a co-host took `question` up (None if nobody did): placed
    like a live caption line (the capture's segments, or the room's start before finalizing)."""
    room = recording.room
    if question.answered_at is None or room.started_at is None:
        return None
    wall_ms = question.answered_at.timestamp() * 1000
    if recording.segment_times:
        at, _ignored = transcripts.place_live_line(
            wall_ms, wall_ms, recording.segment_times, recording.duration_ms
        )
        return at
    return max(0, int(wall_ms - room.started_at.timestamp() * 1000))
