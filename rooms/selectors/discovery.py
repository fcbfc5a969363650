"""Reads about rooms: who may see which, the home page, the header's live row, topics, search and
profiles."""

from dataclasses import dataclass
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
from django.utils.translation import gettext as _

from accounts.models import Follow, User
from accounts.selectors import blocked_user_ids
from spaces_project.errors import NotFound, ServiceError

from ..models import Participant, Room, RoomTopic, Tag

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
        raise NotFound(_("This room does not exist."))
    return room


def room_get_for_host(*, room_id: int, actor) -> Room:
    """Return the room for its host to manage. NotFound if `actor` may not see it; not_allowed if not the host."""
    room = room_get_for_viewer(room_id=room_id, viewer=actor)
    if not getattr(actor, "is_authenticated", False) or actor.pk != room.host_id:
        raise ServiceError("not_allowed", _("Only the host can manage this room."))
    return room


@dataclass
class HomeSections:
    """The home page's rooms; its replays row is recordings' (recordings/views/room_pages.py)."""

    followed_live: list[Room]
    live: QuerySet[Room]
    upcoming: QuerySet[Room]


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


def home_sections(*, viewer, followed_limit: int = 12, hidden: set[int] | None = None) -> HomeSections:
    """The home page's rooms: live rooms of people you follow, then all other live rooms, then
    upcoming rooms. `hidden`, when given, is `blocked_user_ids(user=viewer)` already read."""
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
    for (
        _rank,
        _total,
        user_id,
        handle,
        display_name,
        avatar_64,
        avatar_128,
        avatar_256,
        room_id,
        title,
    ) in rows:
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
