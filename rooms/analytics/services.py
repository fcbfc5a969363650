"""Writing hosts' analytics: the batched flush, the per-minute rollups, a room's figures, the purge.

Every write is idempotent. A session's events merge into its row (the earliest join, the latest
leave), so one delivered twice or out of order changes nothing; a tally's id is unique; rollups and
figures are recomputed from the raw rows, never added to.
"""

import json
import logging
import threading
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import Follow, User
from spaces_project.redis_clients import sync_client
from spaces_project.redis_options import sync_options

from ..models import Room
from . import aggregates
from . import figures as compute
from .collect import LIST_KEY, get_buffer
from .models import ListenerMinute, ListenerSession, RoomFigures, RoomTally

logger = logging.getLogger(__name__)

FLUSH_BATCH = 5000
FLUSH_LOCK_S = 60
# A follow counts for a room when it comes from one of its listeners during the room or this long after.
FOLLOW_WINDOW = timedelta(hours=24)

_memory_lock = threading.Lock()
_redis_client = None


def _redis():
    global _redis_client
    if _redis_client is None:
        _redis_client = sync_client(settings.REDIS_URL, **sync_options())
    return _redis_client


def _at(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


# -- the flush -------------------------------------------------------------------------------------


def analytics_flush(*, batch: int = FLUSH_BATCH, max_batches: int = 100) -> int:
    """Write the events waiting (in Redis, or in this process without it) to the database; recompute
    the rooms they touched. One flush at a time; returns how many events were written."""
    if not settings.REDIS_URL:
        if not _memory_lock.acquire(blocking=False):
            return 0
        try:
            events = get_buffer().take()
            try:
                _write(events)
            except Exception:
                get_buffer().put_back([e for e in events if e["t"] != "tally"])
                raise
            return len(events)
        finally:
            _memory_lock.release()
    client = _redis()
    lock = "spaces:lock:analytics-flush"
    if not client.set(lock, "1", nx=True, px=FLUSH_LOCK_S * 1000):
        return 0
    written = 0
    try:
        for _ in range(max_batches):
            raw = client.lrange(LIST_KEY, 0, batch - 1)
            if not raw:
                break
            _write([json.loads(item) for item in raw])
            # Only once written: a flush that dies before this leaves them to the next one, which
            # writes them again to the same effect.
            client.ltrim(LIST_KEY, len(raw), -1)
            written += len(raw)
    finally:
        client.delete(lock)
    return written


def _write(events: list[dict]) -> None:
    if not events:
        return
    room_ids = {e["room"] for e in events}
    existing_rooms = set(Room.objects.filter(pk__in=room_ids).values_list("pk", flat=True))
    user_ids = {e.get("user") for e in events} - {None}
    existing_users = set(User.objects.filter(pk__in=user_ids).values_list("pk", flat=True))
    sessions: dict[str, dict] = {}
    tallies: list[RoomTally] = []
    for event in events:
        if event["room"] not in existing_rooms:
            continue  # the room was deleted meanwhile
        if event.get("user") is not None and event["user"] not in existing_users:
            continue  # the account was deleted meanwhile: its listening goes with it
        if event["t"] == "tally":
            tallies.append(
                RoomTally(
                    room_id=event["room"],
                    event=event["id"],
                    minute=_at(event["minute"]),
                    kind=event["kind"],
                    user_id=event["user"],
                    count=event["n"],
                )
            )
            continue
        row = sessions.setdefault(
            event["key"],
            {
                "room": event["room"],
                "user": None,
                "stage": False,
                "route": "",
                "src": "",
                "join": None,
                "leave": None,
            },
        )
        if event["t"] == "join":
            row["join"] = event["at"] if row["join"] is None else min(row["join"], event["at"])
            row["user"] = event.get("user")
            row["stage"] = bool(event.get("stage"))
            row["route"] = event.get("route") or ""
            row["src"] = event.get("src") or ""
        else:
            row["leave"] = event["at"] if row["leave"] is None else max(row["leave"], event["at"])
    with transaction.atomic():
        _upsert_sessions(sessions)
        if tallies:
            RoomTally.objects.bulk_create(tallies, ignore_conflicts=True, batch_size=1000)
    # A live room's report is computed from its raw rows when asked; rollups and figures are made
    # when it ends (analytics_room_ended), and again here for what reaches a room after its end.
    touched = {row["room"] for row in sessions.values()} | {t.room_id for t in tallies}
    for room_id in sorted(
        Room.objects.filter(pk__in=touched, ended_at__isnull=False).values_list("pk", flat=True)
    ):
        analytics_recompute_room(room_id=room_id)


def _upsert_sessions(sessions: dict[str, dict]) -> None:
    """INSERT … ON CONFLICT (key) DO UPDATE, merging: the earliest join, the latest leave, the first
    non-empty route and source. Standard SQL that PostgreSQL and SQLite both run."""
    if not sessions:
        return
    table = connection.ops.quote_name(ListenerSession._meta.db_table)
    key = connection.ops.quote_name("key")
    columns = f"room_id, {key}, user_id, on_stage, route, source, joined_at, left_at"
    merge = (
        f"user_id = COALESCE({table}.user_id, EXCLUDED.user_id), "
        f"on_stage = ({table}.on_stage OR EXCLUDED.on_stage), "
        f"route = CASE WHEN {table}.route = '' THEN EXCLUDED.route ELSE {table}.route END, "
        f"source = CASE WHEN {table}.source = '' THEN EXCLUDED.source ELSE {table}.source END, "
        f"joined_at = CASE WHEN {table}.joined_at IS NULL OR EXCLUDED.joined_at < {table}.joined_at "
        f"THEN COALESCE(EXCLUDED.joined_at, {table}.joined_at) ELSE {table}.joined_at END, "
        f"left_at = CASE WHEN {table}.left_at IS NULL OR EXCLUDED.left_at > {table}.left_at "
        f"THEN COALESCE(EXCLUDED.left_at, {table}.left_at) ELSE {table}.left_at END"
    )
    items = list(sessions.items())
    with connection.cursor() as cursor:
        for start in range(0, len(items), 500):
            chunk = items[start : start + 500]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
            params: list = []
            for session_key, row in chunk:
                params += [
                    row["room"],
                    session_key,
                    row["user"],
                    row["stage"],
                    row["route"],
                    row["src"],
                    _at(row["join"]),
                    _at(row["leave"]),
                ]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT ({key}) DO UPDATE SET {merge}",
                params,
            )


# -- a room's rollups and figures ------------------------------------------------------------------


def room_window(room, now: datetime | None = None) -> tuple[float, float] | None:
    """The stretch of time a room's figures cover: from going live to its end (or now)."""
    if room.started_at is None:
        return None
    end = room.ended_at or now or timezone.now()
    return room.started_at.timestamp(), max(room.started_at.timestamp(), end.timestamp())


def room_sessions(room_id: int, since: datetime | None = None) -> list[compute.Session]:
    """The room's audience sessions (not the stage's), as figures computes them; with `since`, only
    those still there at that moment or after."""
    rows = ListenerSession.objects.filter(room_id=room_id, on_stage=False, joined_at__isnull=False)
    if since is not None:
        rows = rows.filter(Q(left_at__isnull=True) | Q(left_at__gte=since))
    rows = rows.values_list("user_id", "key", "joined_at", "left_at", "source", "route")
    return [
        compute.Session(
            listener=f"u{user_id}" if user_id is not None else f"a{key}",
            start=joined.timestamp(),
            end=left.timestamp() if left is not None else None,
            source=source,
            route=route,
        )
        for user_id, key, joined, left, source, route in rows
    ]


def room_tally_totals(room_id: int) -> dict:
    """Reactions and hands in all, and each speaker's talk time (ms), from the room's tallies."""
    totals = {"reactions": 0, "hands": 0, "talk_ms": {}}
    rows = (
        RoomTally.objects.filter(room_id=room_id)
        .values_list("kind", "user_id")
        .annotate(total=Sum("count"))
        .order_by()
    )
    for kind, user_id, count in rows:
        if kind == RoomTally.Kind.REACTION:
            totals["reactions"] += count
        elif kind == RoomTally.Kind.HAND:
            totals["hands"] += count
        elif kind == RoomTally.Kind.TALK_MS and user_id is not None:
            totals["talk_ms"][str(user_id)] = totals["talk_ms"].get(str(user_id), 0) + count
    return totals


def room_minute_tallies(room_id: int, since: datetime | None = None) -> dict[float, dict[str, int]]:
    out: dict[float, dict[str, int]] = {}
    rows = RoomTally.objects.filter(room_id=room_id, kind__in=["reaction", "hand"])
    if since is not None:
        rows = rows.filter(minute__gte=since)
    for minute, kind, count in rows.values_list("minute", "kind").annotate(total=Sum("count")).order_by():
        slot = out.setdefault(minute.timestamp(), {"reaction": 0, "hand": 0})
        slot[kind] += count
    return out


def room_summary(
    room, now: datetime | None = None, *, last: int | None = None, figures: bool = True
) -> tuple[dict, list[dict]]:
    """The room's figures (with its tallies; {} without `figures`) and its minutes as the rollups
    hold them (only the `last` minutes, with it), computed now from the raw rows: by PostgreSQL in
    one query (aggregates.py), else in Python (figures.py)."""
    window = room_window(room, now)
    if window is None:
        empty = compute.Figures().as_dict() | {"reactions": 0, "hands": 0, "talk_ms": {}}
        return (empty if figures else {}), []
    window_start = room.started_at
    since = None
    if last is not None:
        start = max(window[0], (int(window[1] // 60) - last + 1) * 60)
        if start > window[0]:
            window_start = since = _at(start)
        window = (start, window[1])
    if aggregates.available():
        computed, minutes = aggregates.room_summary(
            room.pk, (window_start, _at(window[1])), since=since, figures=figures
        )
    else:
        sessions = room_sessions(room.pk, since)
        computed = compute.compute(sessions, *window).as_dict() if figures else None
        minutes = compute.minutes(sessions, *window)
    counted = room_minute_tallies(room.pk, since)
    rows = [
        {
            "minute": minute.start,
            "listeners": minute.listeners,
            "joins": minute.joins,
            "leaves": minute.leaves,
            "reactions": counted.get(minute.start, {}).get("reaction", 0),
            "hands": counted.get(minute.start, {}).get("hand", 0),
        }
        for minute in minutes
    ]
    return ((computed | room_tally_totals(room.pk)) if figures else {}), rows


def room_live_minutes(room, now: datetime | None = None, last: int | None = None) -> list[dict]:
    """The room's minutes as the rollups hold them, computed from the raw rows now (only the `last`
    minutes, with it)."""
    return room_summary(room, now, last=last, figures=False)[1]


def room_compute_figures(room, now: datetime | None = None) -> dict:
    return room_summary(room, now)[0]


def analytics_recompute_room(*, room_id: int) -> None:
    """Roll the room's minutes up again from its raw rows; once it has ended, keep its figures."""
    room = Room.objects.filter(pk=room_id).first()
    if room is None or room.started_at is None:
        return
    now = timezone.now()
    figures, minutes = room_summary(room, now, figures=room.ended_at is not None)
    rows = [
        ListenerMinute(
            room_id=room_id,
            minute=_at(m["minute"]),
            listeners=m["listeners"],
            joins=m["joins"],
            leaves=m["leaves"],
            reactions=m["reactions"],
            hands=m["hands"],
        )
        for m in minutes
    ]
    with transaction.atomic():
        ListenerMinute.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["room", "minute"],
            update_fields=["listeners", "joins", "leaves", "reactions", "hands"],
            batch_size=500,
        )
        if rows:
            ListenerMinute.objects.filter(room_id=room_id).exclude(
                minute__gte=rows[0].minute, minute__lte=rows[-1].minute
            ).delete()
        if room.ended_at is not None:
            RoomFigures.objects.update_or_create(
                room_id=room_id, defaults={"figures": figures, "computed_at": now}
            )


def analytics_room_ended(*, room_id: int) -> None:
    """The room ended: write what is waiting and keep its figures (rooms.tasks, after the commit)."""
    analytics_flush()
    analytics_recompute_room(room_id=room_id)


# -- followers gained, the purge --------------------------------------------------------------------


def followers_gained(*, host: User, rooms: list) -> dict[int, int]:
    """For each of `host`'s rooms: people who listened to it and followed the host during it or in
    the FOLLOW_WINDOW after it (each follow counts for the last such room they listened to)."""
    ended = {room.pk: room for room in rooms if room.started_at is not None}
    if not ended:
        return {}
    first_joins: dict[tuple[int, int], datetime] = {}
    rows = ListenerSession.objects.filter(
        room_id__in=list(ended), user__isnull=False, on_stage=False, joined_at__isnull=False
    ).values_list("room_id", "user_id", "joined_at")
    for room_id, user_id, joined in rows:
        key = (room_id, user_id)
        if key not in first_joins or joined < first_joins[key]:
            first_joins[key] = joined
    followers = {user_id for _, user_id in first_joins}
    follows = dict(
        Follow.objects.filter(followee=host, follower_id__in=followers).values_list(
            "follower_id", "created_at"
        )
    )
    gained = dict.fromkeys(ended, 0)
    for user_id, followed_at in follows.items():
        candidates = [
            (joined, room_id)
            for (room_id, listener), joined in first_joins.items()
            if listener == user_id
            and joined <= followed_at
            and followed_at <= (ended[room_id].ended_at or followed_at) + FOLLOW_WINDOW
        ]
        if candidates:
            gained[max(candidates)[1]] += 1
    return gained


def analytics_purge(*, now: datetime | None = None) -> int:
    """Delete raw sessions and tallies older than ANALYTICS_RAW_DAYS of rooms that are over; their
    figures (and followers gained) are kept first. Returns how many sessions went."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.ANALYTICS_RAW_DAYS)
    old = ListenerSession.objects.filter(joined_at__lt=cutoff).exclude(room__state="live")
    room_ids = set(old.values_list("room_id", flat=True).distinct())
    for room in Room.objects.filter(pk__in=room_ids).select_related("host"):
        stored = RoomFigures.objects.filter(room=room).first()
        if stored is None or "followers_gained" not in stored.figures:
            figures = room_compute_figures(room, now)
            figures["followers_gained"] = followers_gained(host=room.host, rooms=[room]).get(room.pk, 0)
            RoomFigures.objects.update_or_create(room=room, defaults={"figures": figures, "computed_at": now})
    deleted, _ = old.delete()
    RoomTally.objects.filter(minute__lt=cutoff).exclude(room__state="live").delete()
    return deleted
