"""Reading hosts' analytics: a room's report and a host's, aggregates only (docs/analytics.md).

Nobody's listening is shown to anyone else: the reports hold counts, times and shares; the only
people they name are the room's speakers (already public on its stage).
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from spaces_project.errors import NotFound

from ..models import Participant, Question, Room, RoomInvitation, Ticket
from ..selectors import ticket_sales
from .models import ListenerMinute, RoomFigures
from .services import followers_gained, room_compute_figures, room_live_minutes, room_summary

# The longest period a host's report covers, and the one it shows when none is asked for.
MAX_PERIOD_DAYS = 366
DEFAULT_PERIOD_DAYS = 30


@dataclass
class RoomReport:
    room: Room
    figures: dict
    minutes: list[dict]
    questions: int
    talk: list[tuple[str, int]]  # (speaker's name, ms), most first
    sales: list[tuple[date, int, int]] = field(default_factory=list)  # (day, tickets, amount)
    sales_total: object = None  # rooms.selectors.TicketSales, for a ticketed room

    @property
    def retention(self) -> list[tuple[int, int, float]]:
        """(minutes, listeners who stayed that long, their share of all listeners)."""
        unique = self.figures.get("unique", 0)
        return [
            (m, n, (n / unique) if unique else 0.0)
            for m, n in ((int(k), v) for k, v in self.figures.get("retention", {}).items())
        ]


def may_see_room_report(*, room: Room, viewer) -> bool:
    """The host, the room's co-hosts and staff."""
    if not getattr(viewer, "is_authenticated", False):
        return False
    if viewer.is_staff or viewer.pk == room.host_id:
        return True
    return Participant.objects.filter(
        room=room, user=viewer, role=Participant.Role.COHOST, is_removed=False
    ).exists()


def room_for_report(*, room_id: int, viewer) -> Room:
    """The room whose report `viewer` may see; NotFound for anyone else (they learn nothing)."""
    room = Room.objects.select_related("host").filter(pk=room_id).first()
    if room is None or room.started_at is None or not may_see_room_report(room=room, viewer=viewer):
        raise NotFound(_("This room does not exist."))
    return room


def room_minutes(*, room: Room) -> list[dict]:
    """The room's minutes: the rollups of a room that ended, computed now for a live one."""
    if room.ended_at is None:
        return room_live_minutes(room)
    return [
        {
            "minute": m.minute.timestamp(),
            "listeners": m.listeners,
            "joins": m.joins,
            "leaves": m.leaves,
            "reactions": m.reactions,
            "hands": m.hands,
        }
        for m in ListenerMinute.objects.filter(room=room).order_by("minute")
    ]


def room_figures(*, room: Room) -> dict:
    """The figures kept when the room ended; computed now for a live room (or one not yet kept)."""
    stored = RoomFigures.objects.filter(room=room).first() if room.ended_at else None
    return stored.figures if stored is not None else room_compute_figures(room)


def room_report(*, room: Room) -> RoomReport:
    if room.ended_at is None or not RoomFigures.objects.filter(room=room).exists():
        # Live (or not kept yet): figures and minutes computed now, in one query of the raw sessions.
        figures, minutes = room_summary(room, timezone.now())
    else:
        figures, minutes = room_figures(room=room), room_minutes(room=room)
    talk_ms = {int(k): v for k, v in figures.get("talk_ms", {}).items()}
    names = {u.pk: u.name for u in User.objects.filter(pk__in=list(talk_ms))}
    report = RoomReport(
        room=room,
        figures=figures,
        minutes=minutes,
        questions=Question.objects.filter(room=room).exclude(state=Question.State.REMOVED).count(),
        talk=sorted(
            ((names.get(pk, "Deleted account"), ms) for pk, ms in talk_ms.items()), key=lambda t: -t[1]
        ),
    )
    if room.is_ticketed:
        report.sales_total = ticket_sales(room=room)
        report.sales = [
            (row["day"], row["tickets"], row["amount"] or 0)
            for row in Ticket.objects.filter(room=room, status=Ticket.Status.PAID, paid_at__isnull=False)
            .annotate(day=TruncDate("paid_at"))
            .values("day")
            .annotate(tickets=Count("pk"), amount=Sum("amount"))
            .order_by("day")
        ]
    return report


def sparkline_minutes(*, room: Room, minutes: int = 10) -> list[dict]:
    """The last `minutes` minutes of a live room (for the host's sparkline)."""
    return room_live_minutes(room, last=minutes)[-minutes:]


# -- a host's report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    first: date
    last: date
    # Why the period asked for cannot be reported (the page says so, with status 400); "" when it can.
    error: str = ""


def report_period(*, start: str | None, end: str | None, today: date | None = None) -> Period:
    """The period a host asked for (?from=YYYY-MM-DD&to=YYYY-MM-DD), the last 30 days by default. A
    malformed date, a reversed period or one longer than a year comes back with its `error` (and the
    default period)."""
    today = today or timezone.now().date()
    default = Period(today - timedelta(days=DEFAULT_PERIOD_DAYS - 1), today)
    try:
        last = date.fromisoformat(end) if end else today
        first = date.fromisoformat(start) if start else last - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    except ValueError:
        return Period(default.first, default.last, _("Give the dates as YYYY-MM-DD."))
    if first > last:
        return Period(default.first, default.last, _("The period starts after it ends: swap the two dates."))
    if (last - first).days + 1 > MAX_PERIOD_DAYS:
        return Period(
            default.first, default.last, _("A report covers at most a year: choose a shorter period.")
        )
    return Period(first, last)


@dataclass
class HostRoomRow:
    room: Room
    peak: int
    unique: int
    listener_minutes: float
    followers_gained: int
    replay_plays: int = 0


@dataclass
class HostReport:
    host: User
    first: date
    last: date
    rows: list[HostRoomRow]

    @property
    def totals(self) -> dict:
        return {
            "rooms": len(self.rows),
            "unique": sum(r.unique for r in self.rows),
            "listener_minutes": sum(r.listener_minutes for r in self.rows),
            "followers_gained": sum(r.followers_gained for r in self.rows),
            "replay_plays": sum(r.replay_plays for r in self.rows),
            "peak": max((r.peak for r in self.rows), default=0),
        }


def host_for_report(*, handle: str, viewer) -> User:
    """The host whose report `viewer` may see: only their own. NotFound for anyone else's."""
    host = User.objects.filter(handle__iexact=handle).first()
    if host is None or not getattr(viewer, "is_authenticated", False) or viewer.pk != host.pk:
        raise NotFound(_("This page does not exist."))
    return host


def host_report(*, host: User, first: date, last: date) -> HostReport:
    """The host's rooms that went live in [first, last] (whole days, UTC), oldest first."""
    start = datetime.combine(first, time.min, tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)
    rooms = list(
        Room.objects.filter(host=host, started_at__gte=start, started_at__lt=end)
        .filter(Q(state=Room.State.LIVE) | Q(state=Room.State.ENDED))
        .order_by("started_at")
    )
    stored = {f.room_id: f.figures for f in RoomFigures.objects.filter(room__in=rooms)}
    missing = [room for room in rooms if room.pk not in stored or "followers_gained" not in stored[room.pk]]
    gained = followers_gained(host=host, rooms=missing) if missing else {}
    rows = []
    for room in rooms:
        figures = stored.get(room.pk) or room_compute_figures(room)
        rows.append(
            HostRoomRow(
                room=room,
                peak=figures.get("peak", 0),
                unique=figures.get("unique", 0),
                listener_minutes=figures.get("listener_seconds", 0) / 60,
                followers_gained=figures.get("followers_gained", gained.get(room.pk, 0)),
            )
        )
    return HostReport(host=host, first=first, last=last, rows=rows)


def peak_label(figures: dict) -> datetime | None:
    at = figures.get("peak_at")
    return datetime.fromtimestamp(at, UTC) if at is not None else None


def was_invited(*, room: Room, user) -> bool:
    """Whether `user` holds an invitation to `room` (a notification's link then counts as one)."""
    return (
        getattr(user, "is_authenticated", False)
        and RoomInvitation.objects.filter(room=room, invitee=user).exists()
    )
