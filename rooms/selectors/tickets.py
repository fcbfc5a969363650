"""Reads about tickets: who a ticketed room admits, a buyer's tickets, a host's sales."""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, QuerySet, Sum
from django.utils.translation import gettext as _

from spaces_project.errors import NotFound

from ..models import Participant, Room, RoomInvitation, Ticket


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
        raise NotFound(_("This ticket does not exist."))
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
    rows = (
        Ticket.objects.filter(room=room)
        .values("status")
        .annotate(count=Count("pk"), amount=Sum("amount"))
        .order_by()
    )
    by_status = {row["status"]: (row["count"], row["amount"] or 0) for row in rows}
    sold, revenue = by_status.get(Ticket.Status.PAID, (0, 0))
    held, _ignored = by_status.get(Ticket.Status.PENDING, (0, 0))
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
