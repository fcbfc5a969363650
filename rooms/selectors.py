"""Reads about rooms. Every list and page that shows rooms goes through here."""

from dataclasses import dataclass, field, replace
from datetime import timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Follow, User
from accounts.selectors import blocked_user_ids
from spaces_project.errors import NotFound, ServiceError

from . import protocol
from .models import (
    Participant,
    Question,
    QuestionVote,
    Reminder,
    Room,
    RoomInvitation,
    RoomTopic,
    Tag,
    Ticket,
)

# A scheduled room stays listed as upcoming for a while after its time, until the host starts it.
UPCOMING_GRACE = timedelta(hours=1)


def _participant_count():
    # A subquery, not a join with GROUP BY: the join counted every matching room's participants
    # before LIMIT, so a page of 24 cards cost as much as the whole list (bench/pages.py).
    return Coalesce(
        Subquery(
            Participant.objects.filter(room=OuterRef("pk"), is_removed=False)
            .order_by()
            .values("room")
            .annotate(count=Count("pk"))
            .values("count")
        ),
        0,
    )


def _with_card_data(rooms: QuerySet[Room]) -> QuerySet[Room]:
    """What a room card shows, fetched in a fixed number of queries whatever the count."""
    return (
        rooms.select_related("host")
        # A plain list (to_attr): a prefetch into the related manager builds a filtered queryset
        # per room, which cost more than rendering the card.
        .prefetch_related(
            Prefetch("room_topics", queryset=RoomTopic.objects.select_related("tag"), to_attr="card_topics")
        )
        .annotate(participant_count=_participant_count())
    )


def rooms_visible_to(*, viewer, hidden: set[int] | None = None) -> QuerySet[Room]:
    """Rooms `viewer` may see: never those of a host they blocked or who blocked them.

    `hidden`, when given, is `blocked_user_ids(user=viewer)` already read for this request.
    """
    rooms = Room.objects.all()
    if hidden is None:
        hidden = blocked_user_ids(user=viewer)
    if hidden:
        rooms = rooms.exclude(host_id__in=hidden)
    return rooms


def room_get_for_viewer(*, room_id: int, viewer) -> Room:
    """Return the room if `viewer` may see it; raise NotFound otherwise (never reveal it exists)."""
    room = rooms_visible_to(viewer=viewer).select_related("host").filter(pk=room_id).first()
    if room is None:
        raise NotFound("This room does not exist.")
    return room


def room_get_for_host(*, room_id: int, actor) -> Room:
    """Return the room for its host to manage. NotFound if `actor` may not see it; not_allowed if not the host."""
    room = room_get_for_viewer(room_id=room_id, viewer=actor)
    if not getattr(actor, "is_authenticated", False) or actor.pk != room.host_id:
        raise ServiceError("not_allowed", "Only the host can manage this room.")
    return room


@dataclass
class HomeSections:
    followed_live: list[Room]
    live: QuerySet[Room]
    upcoming: QuerySet[Room]
    replays: list  # of recordings.models.Recording


def live_rooms(*, viewer, hidden: set[int] | None = None) -> QuerySet[Room]:
    return _with_card_data(
        rooms_visible_to(viewer=viewer, hidden=hidden).filter(state=Room.State.LIVE)
    ).order_by("-started_at", "-pk")


def upcoming_rooms(*, viewer, hidden: set[int] | None = None) -> QuerySet[Room]:
    return _with_card_data(
        rooms_visible_to(viewer=viewer, hidden=hidden).filter(
            state=Room.State.SCHEDULED, scheduled_for__gte=timezone.now() - UPCOMING_GRACE
        )
    ).order_by("scheduled_for", "pk")


def home_sections(
    *, viewer, followed_limit: int = 12, replays_limit: int = 12, hidden: set[int] | None = None
) -> HomeSections:
    """The home page: live rooms of people you follow, then all other live rooms, the replays, then
    upcoming rooms. `hidden`, when given, is `blocked_user_ids(user=viewer)` already read."""
    from recordings.selectors import replays_for_home  # recordings depends on rooms

    if hidden is None:
        hidden = blocked_user_ids(user=viewer)
    live = live_rooms(viewer=viewer, hidden=hidden)
    followed_live: list[Room] = []
    if getattr(viewer, "is_authenticated", False):
        # A semi-join on the viewer's followees, not a correlated EXISTS per live room.
        followed = Follow.objects.filter(follower=viewer).values("followee_id")
        followed_live = list(live.filter(host_id__in=followed)[:followed_limit])
        live = live.exclude(pk__in=[room.pk for room in followed_live])
    return HomeSections(
        followed_live=followed_live,
        live=live,
        upcoming=upcoming_rooms(viewer=viewer, hidden=hidden),
        replays=replays_for_home(viewer=viewer, limit=replays_limit, hidden=hidden),
    )


@dataclass
class LiveBarItem:
    person: User  # whose ringed avatar is shown
    room: Room  # where one click takes you


@dataclass
class LiveBar:
    """The row of ringed avatars in every page's header (templates/rooms/_live_bar.html)."""

    items: list[LiveBarItem]
    more: int  # live beyond those shown: the "+N"
    followed: bool  # people the viewer follows; otherwise the most popular live rooms


LIVE_BAR_POPULAR_CACHE_SECONDS = 15


def live_bar(*, viewer, limit: int = 5, hidden: set[int] | None = None) -> LiveBar:
    """Who is live now for the header: the people `viewer` follows who are on a live room's stage
    (hosts first, then the newest rooms), or, for a visitor who is not signed in, the hosts of the
    most popular live rooms. One query whatever the counts (two without `hidden`, the viewer's
    block list, which a page reads once for all its parts: accounts.selectors.
    blocked_user_ids_of_request). Every page pays for this row (bench/pages.py).
    """
    if not getattr(viewer, "is_authenticated", False):
        return _live_bar_popular(limit=limit)
    if hidden is None:
        hidden = blocked_user_ids(user=viewer)
    rows = _live_bar_rows(viewer_id=viewer.pk, hidden=sorted(hidden), limit=limit)
    items = []
    for _, _total, user_id, handle, display_name, avatar_64, avatar_128, avatar_256, room_id, title in rows:
        person = User.from_db(
            connection.alias,
            ["id", "handle", "display_name", "avatar_64", "avatar_128", "avatar_256"],
            [user_id, handle, display_name, avatar_64, avatar_128, avatar_256],
        )
        room = Room.from_db(connection.alias, ["id", "title"], [room_id, title])
        items.append(LiveBarItem(person=person, room=room))
    more = rows[0][1] - len(items) if rows else 0
    return LiveBar(items=items, more=more, followed=True)


def _live_bar_rows(*, viewer_id: int, hidden: list[int], limit: int) -> list[tuple]:
    """The live row's people in one query: each followed person on a live stage once, at their best
    place (hosts first, then the newest rooms), the first `limit` of them with what the row shows,
    and how many there are in all. Not in a room the viewer was removed from; nobody blocked
    either way. Written in SQL because every page pays for it: the same as three ORM queries cost
    6 ms a page (bench/pages.py), this costs one round trip. Plain SQL that SQLite runs too."""
    participant, room, user, follow = (
        Participant._meta.db_table,
        Room._meta.db_table,
        User._meta.db_table,
        Follow._meta.db_table,
    )
    stage = [str(role) for role in Participant.STAGE_ROLES]
    not_hidden = ""
    if hidden:
        marks = ", ".join(["%s"] * len(hidden))
        not_hidden = f"AND p.user_id NOT IN ({marks}) AND r.host_id NOT IN ({marks})"
    sql = f"""
        SELECT ranked.id, COUNT(*) OVER (), u.id, u.handle, u.display_name,
               u.avatar_64, u.avatar_128, u.avatar_256, r.id, r.title
        FROM (
            SELECT p.id, p.user_id, p.room_id, p.best,
                   ROW_NUMBER() OVER (PARTITION BY p.user_id ORDER BY p.best, p.started_at DESC, p.id DESC) AS n,
                   p.started_at
            FROM (
                SELECT p.id, p.user_id, p.room_id, r.started_at,
                       CASE WHEN p.role = %s THEN 0 ELSE 1 END AS best
                FROM {participant} p JOIN {room} r ON r.id = p.room_id
                WHERE r.state = %s AND NOT p.is_removed
                  AND p.role IN ({", ".join(["%s"] * len(stage))})
                  AND p.user_id IN (SELECT f.followee_id FROM {follow} f WHERE f.follower_id = %s)
                  {not_hidden}
                  AND NOT EXISTS (
                      SELECT 1 FROM {participant} x
                      WHERE x.room_id = p.room_id AND x.user_id = %s AND x.is_removed
                  )
            ) p
        ) ranked
        JOIN {user} u ON u.id = ranked.user_id
        JOIN {room} r ON r.id = ranked.room_id
        WHERE ranked.n = 1
        ORDER BY ranked.best, ranked.started_at DESC, ranked.id DESC
        LIMIT %s
    """
    params = [
        Participant.Role.HOST.value,
        Room.State.LIVE.value,
        *stage,
        viewer_id,
        *hidden,
        *hidden,
        viewer_id,
        limit,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _live_bar_popular(*, limit: int) -> LiveBar:
    """The same for everyone who is not signed in, so it is cached for a few seconds."""

    def build() -> LiveBar:
        live = (
            Room.objects.filter(state=Room.State.LIVE)
            .select_related("host")
            .annotate(participant_count=_participant_count())
            .order_by("-participant_count", "-started_at", "-pk")
        )
        rooms = list(live[:limit])
        more = Room.objects.filter(state=Room.State.LIVE).count() - len(rooms)
        return LiveBar(
            items=[LiveBarItem(person=room.host, room=room) for room in rooms], more=more, followed=False
        )

    key = f"rooms:live-bar:popular:{limit}"
    try:
        cached = cache.get(key)
    except Exception:  # the cache (Redis) is down: a page that only reads must still answer
        return build()
    if cached is None:
        cached = build()
        try:
            cache.set(key, cached, LIVE_BAR_POPULAR_CACHE_SECONDS)
        except Exception:  # as above
            pass
    return cached


def _live_then_upcoming_then_ended(rooms: QuerySet[Room]) -> QuerySet[Room]:
    order = Case(
        When(state=Room.State.LIVE, then=Value(0)),
        When(state=Room.State.SCHEDULED, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return (
        _with_card_data(rooms.filter(state__in=[Room.State.LIVE, Room.State.SCHEDULED, Room.State.ENDED]))
        .annotate(state_order=order)
        .order_by("state_order", "-started_at", "scheduled_for", "-pk")
    )


def rooms_for_topic(*, tag: Tag, viewer) -> QuerySet[Room]:
    return _live_then_upcoming_then_ended(rooms_visible_to(viewer=viewer).filter(room_topics__tag=tag))


def search_rooms(*, query: str, viewer) -> QuerySet[Room]:
    """Rooms whose title, host handle or name, or topic matches `query` (live first)."""
    query = " ".join(query.split())[:100]
    if not query:
        return Room.objects.none()
    term = query.lstrip("@#")
    matches = (
        Q(title__icontains=query)
        | Q(host__handle__iexact=term)
        | Q(host__display_name__icontains=query)
        | Exists(RoomTopic.objects.filter(room=OuterRef("pk"), tag__name__icontains=term))
    )
    return _live_then_upcoming_then_ended(rooms_visible_to(viewer=viewer).filter(matches))


def rooms_of_user(*, user: User, viewer) -> dict[str, QuerySet[Room]]:
    """A profile's live, upcoming and ended rooms, as `viewer` may see them."""
    base = _with_card_data(rooms_visible_to(viewer=viewer).filter(host=user))
    return {
        "live": base.filter(state=Room.State.LIVE).order_by("-started_at"),
        "upcoming": base.filter(state=Room.State.SCHEDULED).order_by("scheduled_for"),
        "ended": base.filter(state=Room.State.ENDED).order_by("-ended_at"),
    }


def room_recording(*, room: Room):
    """The recording of a recorded room, unless it was removed; None otherwise."""
    if not room.is_recorded:
        return None
    from recordings.selectors import recording_of_room  # recordings depends on rooms

    return recording_of_room(room=room)


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


POPULAR_TAGS_CACHE_SECONDS = 30


def tags_popular(*, limit: int = 20) -> list[Tag]:
    """Topics with the most live and upcoming rooms. Counting them scans every room's topics, and
    a row of topic links need not be fresher than half a minute, so the list is cached."""

    def count() -> list[Tag]:
        return list(
            Tag.objects.annotate(
                live_count=Count(
                    "room_topics",
                    filter=Q(room_topics__room__state__in=[Room.State.LIVE, Room.State.SCHEDULED]),
                )
            )
            .filter(live_count__gt=0)
            .order_by("-live_count", "name")[:limit]
        )

    return cache.get_or_set(f"rooms:popular-tags:{limit}", count, POPULAR_TAGS_CACHE_SECONDS)


LISTENERS_SHOWN = 100


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
    does not exist."""
    from .events import links_payload, participant_payload, questions_payload

    room = Room.objects.select_related("host").filter(pk=room_id).first()
    if room is None:
        raise NotFound("This room does not exist.")
    participants = list(
        Participant.objects.filter(room_id=room_id, is_removed=False)
        .select_related("user")
        .order_by("joined_at", "pk")
    )
    payloads = {p.user_id: participant_payload(p) for p in participants}
    stage = sorted(
        (
            p
            for p in participants
            if p.on_stage and (p.user_id in present_user_ids or p.role == Participant.Role.HOST)
        ),
        key=lambda p: protocol.stage_position(p.role),
    )
    audience = [p for p in participants if not p.on_stage and p.user_id in present_user_ids]
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
        ),
        you=None,
        stage=[payloads[p.user_id] for p in stage],
        listeners=[payloads[p.user_id] for p in audience[:LISTENERS_SHOWN]],
        listener_count=len(audience) + anonymous,
        hands=[
            p.user_id
            for p in sorted(
                (p for p in participants if p.hand_raised and p.user_id in present_user_ids),
                key=lambda p: p.hand_raised_at,
            )
        ],
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


def room_listeners_event(*, room_id: int, present_user_ids: set[int], anonymous: int) -> protocol.Listeners:
    """The `room.listeners` event: the audience as it is now."""
    from .events import participant_payload

    audience = list(
        Participant.objects.filter(
            room_id=room_id, is_removed=False, user_id__in=present_user_ids, role=Participant.Role.LISTENER
        )
        .select_related("user")
        .order_by("joined_at", "pk")
    )
    return protocol.Listeners(
        listener_count=len(audience) + anonymous,
        listeners=[participant_payload(p) for p in audience[:LISTENERS_SHOWN]],
    )


# -- reminders, invitations, calendars --------------------------------------------------------


def reminder_count(*, room: Room) -> int:
    return Reminder.objects.filter(room=room).count()


def reminder_counts_of_host(*, host) -> list[protocol.ReminderCount]:
    """How many people wait for each of `host`'s scheduled rooms (for the host's open pages)."""
    return [
        protocol.ReminderCount(room_id=room_id, count=count)
        for room_id, count in Room.objects.filter(host=host, state=Room.State.SCHEDULED)
        .annotate(count=Count("reminders"))
        .order_by("pk")
        .values_list("pk", "count")
    ]


def has_reminder(*, room: Room, user) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return Reminder.objects.filter(room=room, user=user).exists()


def may_invite(*, room: Room, user) -> bool:
    """Whether `user` may invite people to `room` (the host; a co-host while it is live)."""
    if not getattr(user, "is_authenticated", False) or room.state not in (
        Room.State.SCHEDULED,
        Room.State.LIVE,
    ):
        return False
    if user.pk == room.host_id:
        return True
    return room.state == Room.State.LIVE and (
        Participant.objects.filter(
            room=room, user=user, role=Participant.Role.COHOST, is_removed=False
        ).exists()
    )


def room_invitees(*, room: Room, limit: int = 50) -> list[User]:
    """Who was invited to `room`, newest first."""
    return list(
        User.objects.filter(room_invitations__room=room).order_by("-room_invitations__created_at")[:limit]
    )


def invite_suggestions(*, room: Room, actor, query: str = "", limit: int = 8) -> list[User]:
    """People `actor` follows who could be invited to `room`, matching `query` (handle or name).

    Never anyone blocked either way by the host or by `actor`, the host, `actor`, or someone
    already invited.
    """
    hidden = blocked_user_ids(user=actor) | blocked_user_ids(user=room.host)
    people = (
        User.objects.filter(follower_links__follower=actor, is_active=True)
        .exclude(pk__in=[*hidden, room.host_id, actor.pk])
        .exclude(room_invitations__room=room)
    )
    term = query.strip().lstrip("@").strip()[:30]
    if term:
        people = people.filter(Q(handle__istartswith=term) | Q(display_name__icontains=term))
    return list(people.order_by("-follower_links__created_at", "pk")[:limit])


# Past rooms a host's calendar feed still carries, so subscribers keep what they went to.
CALENDAR_PAST = timedelta(days=14)


def room_for_calendar(*, room_id: int, viewer) -> Room:
    """A room that was scheduled (it has a start time), if `viewer` may see it; NotFound otherwise."""
    room = room_get_for_viewer(room_id=room_id, viewer=viewer)
    if room.scheduled_for is None:
        raise NotFound("This room was never scheduled.")
    return room


def calendar_rooms_of_host(*, host: User, viewer) -> QuerySet[Room]:
    """The host's scheduled rooms from two weeks ago on, whatever became of them (live, ended,
    cancelled), so a subscribed calendar shows each change."""
    return (
        rooms_visible_to(viewer=viewer)
        .filter(host=host, scheduled_for__isnull=False, scheduled_for__gte=timezone.now() - CALENDAR_PAST)
        .select_related("host")
        .order_by("scheduled_for", "pk")
    )


# -- tickets ---------------------------------------------------------------------------------------


def admitted_without_ticket(*, room: Room, user) -> bool:
    """The host, the stage (co-hosts and speakers of the room) and the people the host or a
    co-host invited may be in a ticketed room without a ticket."""
    return user.pk in admitted_without_ticket_ids(room=room, user_ids=[user.pk])


def admitted_without_ticket_ids(*, room: Room, user_ids) -> set[int]:
    """Which of `user_ids` admitted_without_ticket lets in, in at most two queries."""
    wanted = set(user_ids)
    admitted = wanted & {room.host_id}
    if rest := wanted - admitted:
        admitted |= set(
            Participant.objects.filter(
                room=room, user_id__in=rest, role__in=Participant.STAGE_ROLES, is_removed=False
            ).values_list("user_id", flat=True)
        )
    if rest := wanted - admitted:
        admitted |= set(
            RoomInvitation.objects.filter(room=room, invitee_id__in=rest).values_list("invitee_id", flat=True)
        )
    return admitted


def ticket_is_valid(*, room: Room, user) -> bool:
    return user.pk in valid_ticket_holder_ids(room=room, user_ids=[user.pk])


def valid_ticket_holder_ids(*, room: Room, user_ids) -> set[int]:
    """Which of `user_ids` hold a paid ticket to `room` that no refund was asked for, in one query."""
    wanted = set(user_ids) - {None}
    if not wanted:
        return set()
    return set(
        Ticket.objects.filter(
            room=room, buyer_id__in=wanted, status=Ticket.Status.PAID, refund_requested_at__isnull=True
        ).values_list("buyer_id", flat=True)
    )


def ticketed_room_admits(*, room: Room, user) -> bool:
    """Whether signed-in `user` may join (and later replay) the ticketed `room`: a valid ticket,
    or a place without one (admitted_without_ticket)."""
    return user.pk in ticketed_room_admitted_ids(room=room, user_ids=[user.pk])


def ticketed_room_admitted_ids(*, room: Room, user_ids) -> set[int]:
    """Which of the signed-in people `user_ids` ticketed_room_admits lets in, in at most three
    queries whatever their number (a private room's HLS listeners, at each renewal of their URLs)."""
    wanted = set(user_ids)
    admitted = valid_ticket_holder_ids(room=room, user_ids=wanted)
    if rest := wanted - admitted:
        admitted |= admitted_without_ticket_ids(room=room, user_ids=rest)
    return admitted


def ticket_of(*, room: Room, user) -> Ticket | None:
    """`user`'s ticket for `room` that holds a seat (pending or paid), if any."""
    if not getattr(user, "is_authenticated", False):
        return None
    return (
        Ticket.objects.filter(room=room, buyer=user, status__in=[Ticket.Status.PENDING, Ticket.Status.PAID])
        .order_by("-created_at")
        .first()
    )


def ticket_get_for_buyer(*, ticket_id: int, viewer) -> Ticket:
    """The ticket if `viewer` bought it; NotFound for everyone else (a ticket is private)."""
    ticket = (
        Ticket.objects.select_related("room__host").filter(pk=ticket_id).first()
        if getattr(viewer, "is_authenticated", False)
        else None
    )
    if ticket is None or ticket.buyer_id != viewer.pk:
        raise NotFound("This ticket does not exist.")
    return ticket


def tickets_of_buyer(*, user) -> list[Ticket]:
    """ "My tickets": upcoming and live rooms first (soonest first), then the rest, newest first."""
    tickets = list(Ticket.objects.filter(buyer=user).select_related("room__host"))
    active = {Room.State.SCHEDULED: 0, Room.State.LIVE: 0}

    def order(ticket: Ticket):
        room = ticket.room
        when = room.scheduled_for or room.started_at or ticket.created_at
        if room.state in active and ticket.status in (Ticket.Status.PENDING, Ticket.Status.PAID):
            return (0, when.timestamp())
        return (1, -ticket.created_at.timestamp())

    return sorted(tickets, key=order)


@dataclass(frozen=True)
class TicketSales:
    """What the host sees of a ticketed room's sales."""

    sold: int
    held: int  # pending: seats held while their buyers pay
    left: int
    revenue: int  # minor unit, paid and not refunded
    refunds: int
    refunded: int  # minor unit
    currency: str


def ticket_sales(*, room: Room) -> TicketSales:
    from django.conf import settings
    from django.db.models import Sum

    rows = (
        Ticket.objects.filter(room=room)
        .values("status")
        .annotate(count=Count("pk"), amount=Sum("amount"))
        .order_by()
    )
    by_status = {row["status"]: (row["count"], row["amount"] or 0) for row in rows}
    sold, revenue = by_status.get(Ticket.Status.PAID, (0, 0))
    held, _ = by_status.get(Ticket.Status.PENDING, (0, 0))
    refunds, refunded = by_status.get(Ticket.Status.REFUNDED, (0, 0))
    currency = (
        Ticket.objects.filter(room=room).values_list("currency", flat=True).first() or settings.CURRENCY
    )
    return TicketSales(
        sold=sold,
        held=held,
        left=room.tickets_left,
        revenue=revenue,
        refunds=refunds,
        refunded=refunded,
        currency=currency,
    )


def ticket_buyers(*, room: Room) -> QuerySet[Ticket]:
    """Every ticket of `room` but lapsed holds, oldest first, for the host's CSV."""
    return (
        Ticket.objects.filter(room=room)
        .exclude(status=Ticket.Status.EXPIRED)
        .select_related("buyer")
        .order_by("created_at", "pk")
    )
