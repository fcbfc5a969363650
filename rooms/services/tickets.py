"""Ticketed rooms: every write about tickets. Views, the webhook, tasks and the room services call these.

The rules (PRODUCT "Ticketed rooms"):
- A host sells seats of a scheduled room: a price (1.00 to 999.00 in settings.CURRENCY) and a
  capacity (1 to 10,000), which never drops below the seats already taken.
- A ticket takes a seat the moment checkout starts, with one conditional UPDATE
  (`tickets_taken < ticket_capacity`) that PostgreSQL serializes on the room's row, and a check
  constraint behind it: however many buy at once, the room is never oversold. A pending ticket
  holds its seat for TICKET_HOLD_MINUTES; then the periodic task gives the seat back.
- Fulfilment is keyed on the provider's checkout id: the webhook, the buyer's return from the
  provider and the hold's end can all call `ticket_fulfil`; the first one wins, the others find the
  ticket paid. Webhook events are recorded under a unique constraint, so a replay does nothing.
- Refunds go through the provider that sold the ticket, from a task, with an idempotency key.

Seats: `Room.tickets_taken` counts the tickets that are pending or paid. Every change of a
ticket's status into or out of those two moves the counter in the same transaction; the one
exception is a buyer deleting their account (`tickets_account_deleting`): their paid ticket gives
its seat back (unless the room ended) but stays, without them, as the host's sale.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Notification, User
from accounts.services import notify
from spaces_project.errors import ServiceError
from spaces_project.tasks import dispatch

from ..live.seat_gate import seats_changed
from ..models import (
    MAX_TICKET_CAPACITY,
    MAX_TICKET_PRICE,
    MIN_TICKET_CAPACITY,
    MIN_TICKET_PRICE,
    Room,
    Ticket,
)
from ..money import format_amount, parse_amount
from ..payments import CheckoutRequest, PaymentError, get_provider
from ..selectors.discovery import room_get_for_host, room_get_for_viewer
from ._common import _when
from .ticket_notices import host_notice_on_commit

logger = logging.getLogger(__name__)

SEAT_HOLDING = (Ticket.Status.PENDING, Ticket.Status.PAID)
# Pending tickets handled per run of the periodic task.
RELEASE_BATCH = 200
# A refund decided this long ago and still not done lost its task (the broker was down): queue it again.
REFUND_STUCK_AFTER = timedelta(minutes=10)


def price_label(amount: int | None, currency: str | None = None) -> str:
    return format_amount(amount, currency or settings.CURRENCY)


# -- the host sets the terms ------------------------------------------------------------------


def _clean_price(price) -> int:
    cents = parse_amount(price)
    if cents is None or not MIN_TICKET_PRICE <= cents <= MAX_TICKET_PRICE:
        raise ServiceError(
            "bad_price",
            _("A ticket costs from %(lowest)s to %(highest)s.")
            % {"lowest": price_label(MIN_TICKET_PRICE), "highest": price_label(MAX_TICKET_PRICE)},
            field="price",
        )
    return cents


def _clean_capacity(capacity) -> int:
    try:
        seats = int(str(capacity).strip())
    except (TypeError, ValueError):
        seats = 0
    if not MIN_TICKET_CAPACITY <= seats <= MAX_TICKET_CAPACITY:
        raise ServiceError(
            "bad_capacity",
            _("A room has from %(least)s to %(most)s seats.")
            % {"least": MIN_TICKET_CAPACITY, "most": number_format(MAX_TICKET_CAPACITY, force_grouping=True)},
            field="capacity",
        )
    return seats


def _sold_out(capacity: int) -> ServiceError:
    seats = number_format(capacity, force_grouping=True)
    return ServiceError("sold_out", _("Sold out: all %(capacity)s seats are taken.") % {"capacity": seats})


@transaction.atomic
def ticket_sales_set(*, room_id: int, actor: User, price, capacity) -> Room:
    """Sell tickets for a scheduled room at `price` (a decimal in settings.CURRENCY) for `capacity`
    seats, or change the capacity of a room already on sale. The price is fixed once a ticket is
    sold; the capacity never drops below the seats sold or held."""
    room = room_get_for_host(room_id=room_id, actor=actor)
    room = Room.objects.select_for_update().get(pk=room.pk)
    if room.state != Room.State.SCHEDULED:
        raise ServiceError("bad_state", _("Tickets are sold for scheduled rooms only, before they start."))
    cents = _clean_price(price)
    seats = _clean_capacity(capacity)
    sold_any = Ticket.objects.filter(room=room).exclude(status=Ticket.Status.EXPIRED).exists()
    if room.ticket_price is not None and cents != room.ticket_price and sold_any:
        raise ServiceError(
            "price_locked",
            _("Tickets are already sold at %(price)s: the price cannot change.")
            % {"price": price_label(room.ticket_price)},
            field="price",
        )
    if seats < room.tickets_taken:
        raise ServiceError(
            "capacity_below_sold",
            _("%(taken)s seats are sold or held: the capacity cannot be lower.")
            % {"taken": number_format(room.tickets_taken, force_grouping=True)},
            field="capacity",
        )
    # Conditional, like every change of the seats: the check constraint would refuse it anyway.
    Room.objects.filter(pk=room.pk, tickets_taken__lte=seats).update(
        ticket_price=cents, ticket_capacity=seats
    )
    seats_changed(room.pk)
    room.refresh_from_db()
    return room


@transaction.atomic
def ticket_sales_stop(*, room_id: int, actor: User) -> Room:
    """Make a scheduled room free again; only while nobody holds a ticket."""
    room = room_get_for_host(room_id=room_id, actor=actor)
    room = Room.objects.select_for_update().get(pk=room.pk)
    if room.state != Room.State.SCHEDULED:
        raise ServiceError("bad_state", _("Only a scheduled room's tickets can be changed."))
    if room.tickets_taken:
        raise ServiceError("tickets_sold", _("People hold tickets for this room: it stays ticketed."))
    room.ticket_price = None
    room.ticket_capacity = None
    room.save(update_fields=["ticket_price", "ticket_capacity"])
    seats_changed(room.pk)
    return room


# -- buying ------------------------------------------------------------------------------------


def _sales_closed(room: Room) -> ServiceError:
    if room.state == Room.State.LIVE:
        return ServiceError("sales_closed", _("Tickets are sold until the room starts, and it is live now."))
    if room.state == Room.State.ENDED:
        return ServiceError("sales_closed", _("This room has ended: tickets are no longer sold."))
    return ServiceError("sales_closed", _("This room was cancelled: tickets are no longer sold."))


def _site_url(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def ticket_purchase(*, room_id: int, buyer: User) -> Ticket:
    """Get `buyer` a ticket for the scheduled room: take a seat, then start the provider's
    checkout. Return the ticket: paid at once (development provider), or pending with the
    `checkout_url` to send the buyer to. Buying again returns the ticket they have.

    Not inside a transaction: the seat is committed before the provider is asked, so no database
    lock is held while the provider answers.
    """
    if not getattr(buyer, "is_authenticated", False):
        raise ServiceError("sign_in_required", _("Sign in to get a ticket."))
    room = room_get_for_viewer(room_id=room_id, viewer=buyer)
    if buyer.is_suspended:
        raise ServiceError("suspended", _("Your account is suspended."))
    if not room.is_ticketed:
        raise ServiceError("not_ticketed", _("This room is free: no ticket needed."))
    if buyer.pk == room.host_id:
        raise ServiceError("own_room", _("You host this room: you need no ticket."))
    if room.state != Room.State.SCHEDULED:
        seats_changed(room.pk)
        raise _sales_closed(room)
    existing = _current_ticket(room.pk, buyer.pk)
    if existing is not None:
        return existing
    if room.tickets_left == 0:
        # Read before any write, to answer a sold-out rush cheaply; the conditional UPDATE in
        # _take_seat is what decides. The seat gate hears of it (rooms/live/seat_gate.py), so the rest
        # of the rush is answered before Django.
        seats_changed(room.pk)
        raise _sold_out(room.ticket_capacity)
    try:
        provider = get_provider()
    except PaymentError as error:
        logger.error("ticket sales refused: %s", error)
        raise ServiceError("payment_unavailable", _("Payments are not available right now.")) from error
    ticket = _take_seat(room, buyer, provider)
    if ticket.status != Ticket.Status.PENDING or ticket.checkout_id:
        # Paid at once (development provider), or the same person twice at once: the other
        # request has it.
        return ticket
    request = CheckoutRequest(
        ticket_id=ticket.pk,
        room_title=room.title,
        amount=ticket.amount,
        currency=ticket.currency,
        buyer_email=buyer.email,
        success_url=_site_url(reverse("tickets:return", args=[ticket.pk]))
        + "?session_id={CHECKOUT_SESSION_ID}",
        cancel_url=_site_url(reverse("rooms:detail", args=[room.pk])),
        expires_at=int(ticket.hold_until.timestamp()),
    )
    try:
        checkout = provider.start_checkout(request)
    except PaymentError as error:
        logger.warning("checkout for ticket %s failed: %s", ticket.pk, error)
        _expire_pending(ticket.pk)
        raise ServiceError(
            "payment_unavailable",
            _("The payment could not start; nothing was charged. Try again in a minute."),
        ) from error
    Ticket.objects.filter(pk=ticket.pk, checkout_id__isnull=True).update(
        checkout_id=checkout.checkout_id, checkout_url=checkout.url
    )
    if checkout.paid:
        return ticket_fulfil(checkout_id=checkout.checkout_id, payment_id=checkout.payment_id) or ticket
    ticket.refresh_from_db()
    return ticket


def _current_ticket(room_id: int, buyer_id: int) -> Ticket | None:
    return Ticket.objects.filter(room_id=room_id, buyer_id=buyer_id, status__in=SEAT_HOLDING).first()


def _take_seat(room: Room, buyer: User, provider) -> Ticket:
    """Take a seat and create its ticket, in one transaction, or raise `sold_out`. One conditional
    UPDATE decides: PostgreSQL re-checks `tickets_taken < ticket_capacity` on the row as the
    previous buyer's transaction left it, so the room is never oversold.

    The ticket is pending, holding its seat while the buyer pays, or paid at once when the
    provider needs nobody to pay anywhere (development)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            taken = Room.objects.filter(
                pk=room.pk,
                state=Room.State.SCHEDULED,
                ticket_capacity__isnull=False,
                tickets_taken__lt=F("ticket_capacity"),
            ).update(tickets_taken=F("tickets_taken") + 1)
            if not taken:
                state = Room.objects.filter(pk=room.pk).values_list("state", "ticket_capacity").first()
                if state and state[0] != Room.State.SCHEDULED:
                    raise _sales_closed(Room(state=state[0]))
                capacity = state[1] if state else room.ticket_capacity
                raise _sold_out(capacity)
            seats_changed(room.pk)
            instant = provider.instant_checkout()
            ticket = Ticket.objects.create(
                room=room,
                buyer=buyer,
                status=Ticket.Status.PAID if instant else Ticket.Status.PENDING,
                amount=room.ticket_price,
                currency=settings.CURRENCY,
                provider=provider.name,
                checkout_id=instant.checkout_id if instant else None,
                payment_id=instant.payment_id if instant else "",
                paid_at=now if instant else None,
                hold_until=None if instant else now + timedelta(minutes=settings.TICKET_HOLD_MINUTES),
            )
            if instant:
                host_notice_on_commit(ticket.pk, what="sold")
            return ticket
    except IntegrityError:
        # One ticket per person and room: they are buying in another tab. The seat taken above
        # was rolled back with the ticket.
        existing = _current_ticket(room.pk, buyer.pk)
        if existing is None:
            raise
        return existing


def _free_seat(room_id: int) -> None:
    Room.objects.filter(pk=room_id, tickets_taken__gt=0).update(tickets_taken=F("tickets_taken") - 1)
    seats_changed(room_id)


def _take_seat_again(room_id: int) -> bool:
    """A late payment for a ticket whose hold lapsed: take a seat again if one is free."""
    taken = Room.objects.filter(
        pk=room_id,
        state__in=[Room.State.SCHEDULED, Room.State.LIVE],
        ticket_capacity__isnull=False,
        tickets_taken__lt=F("ticket_capacity"),
    ).update(tickets_taken=F("tickets_taken") + 1)
    seats_changed(room_id)
    return bool(taken)


@transaction.atomic
def _expire_pending(ticket_id: int) -> bool:
    """Give a pending ticket's seat back. False if it was not pending any more."""
    ticket = Ticket.objects.select_for_update().filter(pk=ticket_id).first()
    if ticket is None or ticket.status != Ticket.Status.PENDING:
        return False
    ticket.status = Ticket.Status.EXPIRED
    ticket.save(update_fields=["status"])
    _free_seat(ticket.room_id)
    return True


# -- fulfilment ----------------------------------------------------------------------------------


@transaction.atomic
def ticket_fulfil(*, checkout_id: str, payment_id: str = "") -> Ticket | None:
    """The checkout `checkout_id` was paid: make its ticket valid. Safe to call any number of times
    from anywhere (webhook, the buyer's return, the hold's end). None for an unknown checkout.

    A payment that arrives after the hold lapsed takes a seat again if one is free; otherwise, or
    when the room was cancelled meanwhile, the money goes back.
    """
    ticket = Ticket.objects.select_for_update().select_related("room").filter(checkout_id=checkout_id).first()
    if ticket is None:
        logger.warning("payment for an unknown checkout %s: nothing to fulfil", checkout_id)
        return None
    if ticket.status in (Ticket.Status.PAID, Ticket.Status.REFUNDED) or ticket.refund_requested_at:
        return ticket
    now = timezone.now()
    ticket.payment_id = payment_id or ticket.payment_id
    ticket.paid_at = now
    if ticket.status == Ticket.Status.PENDING:
        ticket.status = Ticket.Status.PAID
        ticket.save(update_fields=["status", "payment_id", "paid_at"])
        host_notice_on_commit(ticket.pk, what="sold")
        return ticket
    # Expired: its seat went back on sale before the payment came. A buyer who deleted their
    # account meanwhile has nobody to hold the seat for: the money goes back.
    if (
        ticket.buyer_id is not None
        and _current_ticket(ticket.room_id, ticket.buyer_id) is None
        and _take_seat_again(ticket.room_id)
    ):
        ticket.status = Ticket.Status.PAID
        ticket.save(update_fields=["status", "payment_id", "paid_at"])
        host_notice_on_commit(ticket.pk, what="sold")
        return ticket
    ticket.save(update_fields=["payment_id", "paid_at"])
    _request_refund(ticket, reason="late")
    return ticket


@transaction.atomic
def ticket_checkout_expired(*, checkout_id: str) -> Ticket | None:
    """The provider closed the checkout unpaid: the seat goes back on sale. A checkout that was
    paid first (the events came out of order) keeps its ticket."""
    ticket = Ticket.objects.filter(checkout_id=checkout_id).only("pk").first()
    if ticket is None:
        logger.warning("expiry of an unknown checkout %s: nothing to do", checkout_id)
        return None
    _expire_pending(ticket.pk)
    return Ticket.objects.get(pk=ticket.pk)


def ticket_confirm_return(*, ticket: Ticket) -> Ticket:
    """The buyer came back from the provider's page: ask the provider, and fulfil if it was paid
    (the webhook may not have come yet)."""
    if ticket.status != Ticket.Status.PENDING or not ticket.checkout_id:
        return ticket
    try:
        state = get_provider(ticket.provider).checkout_state(ticket.checkout_id)
    except PaymentError as error:
        logger.warning("could not confirm checkout %s: %s", ticket.checkout_id, error)
        return ticket
    if state.paid:
        return ticket_fulfil(checkout_id=ticket.checkout_id, payment_id=state.payment_id) or ticket
    return ticket


# -- holds that lapse, refunds ---------------------------------------------------------------------


def tickets_release_expired_holds(*, now: datetime | None = None) -> int:
    """Give back the seats of pending tickets whose hold lapsed; return how many. Called by the
    periodic task. The provider's checkout is closed first, so nobody pays for a seat that went
    back on sale; a checkout that was paid meanwhile is fulfilled instead. Also queues again the
    refunds whose task was lost."""
    now = now or timezone.now()
    due = list(
        Ticket.objects.filter(status=Ticket.Status.PENDING, hold_until__lte=now)
        .order_by("hold_until")
        .values_list("pk", "provider", "checkout_id")[:RELEASE_BATCH]
    )
    released = 0
    for ticket_id, provider_name, checkout_id in due:
        if checkout_id:
            try:
                state = get_provider(provider_name).close_checkout(checkout_id)
            except PaymentError as error:
                logger.warning("could not close checkout %s, next run tries again: %s", checkout_id, error)
                continue
            if state.paid:
                ticket_fulfil(checkout_id=checkout_id, payment_id=state.payment_id)
                continue
        released += _expire_pending(ticket_id)
    _requeue_stuck_refunds(now)
    return released


def _requeue_stuck_refunds(now: datetime) -> None:
    stuck = Ticket.objects.filter(
        refund_requested_at__lte=now - REFUND_STUCK_AFTER, refunded_at__isnull=True
    ).values_list("pk", flat=True)[:RELEASE_BATCH]
    for ticket_id in stuck:
        dispatch("rooms.tasks.refund_ticket", ticket_id, after_commit=False)


def _request_refund(ticket: Ticket, *, reason: str) -> None:
    """Decide to give `ticket`'s money back: it stops letting its holder in now, and a task asks
    the provider (after commit). Call inside `transaction.atomic`, with the ticket locked."""
    if ticket.refund_requested_at is not None:
        return
    ticket.refund_requested_at = timezone.now()
    ticket.refund_reason = reason
    ticket.save(update_fields=["refund_requested_at", "refund_reason"])
    dispatch("rooms.tasks.refund_ticket", ticket.pk)


REFUND_TEXT = {
    "cancelled": gettext_lazy("%(host)s cancelled %(title)s: your ticket (%(amount)s) was refunded"),
    "late": gettext_lazy(
        "Your payment for %(title)s came after your seat was released: %(amount)s was refunded"
    ),
}
REFUND_TEXT_DEFAULT = gettext_lazy("Your ticket for %(title)s was refunded (%(amount)s)")


def ticket_refund(*, ticket_id: int) -> Ticket | None:
    """Carry out a refund that was decided (`refund_requested_at`): ask the ticket's provider (with
    an idempotency key, so a retry never refunds twice), then mark the ticket refunded, free its
    seat and tell the buyer. Safe to run twice (tasks.refund_ticket)."""
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None or ticket.refund_requested_at is None or ticket.refunded_at is not None:
        return ticket
    refund_id = ""
    if ticket.payment_id or ticket.provider != "development":
        refund_id = get_provider(ticket.provider).refund(ticket_id=ticket.pk, payment_id=ticket.payment_id)
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().select_related("room__host").get(pk=ticket_id)
        if ticket.refunded_at is not None:
            return ticket
        # A deleted buyer's ticket gave its seat back when they left (tickets_account_deleting).
        held_a_seat = ticket.status in SEAT_HOLDING and ticket.buyer_id is not None
        ticket.status = Ticket.Status.REFUNDED
        ticket.refund_id = refund_id
        ticket.refunded_at = timezone.now()
        ticket.save(update_fields=["status", "refund_id", "refunded_at"])
        if held_a_seat:
            _free_seat(ticket.room_id)
        host_notice_on_commit(ticket.pk, what="refunded")
        room = ticket.room
        if ticket.buyer_id is None:  # the buyer deleted their account: nobody to tell
            return ticket
        words = {
            "host": room.host.name,
            "title": room.title,
            "amount": price_label(ticket.amount, ticket.currency),
        }
        template = REFUND_TEXT.get(ticket.refund_reason, REFUND_TEXT_DEFAULT)

        def text(_zone, template=template, words=words):
            return str(template) % words

        notify(
            recipients=[ticket.buyer_id],
            kind=Notification.Kind.TICKET,
            actor=room.host,
            room=room,
            text=text,
            url=reverse("tickets:mine"),
            key=f"ticket-refunded:{ticket.pk}",
        )
    return ticket


# -- what the room services call when a ticketed room changes -------------------------------------


def tickets_room_cancelled(*, room: Room) -> int:
    """The host cancelled `room`: refund every paid ticket (each holder is told when their money
    is back) and release the pending ones. Return how many refunds were started. Call inside the
    cancelling transaction."""
    if not room.is_ticketed:
        return 0
    refunds = 0
    for ticket in Ticket.objects.select_for_update().filter(room=room, status__in=SEAT_HOLDING):
        if ticket.status == Ticket.Status.PENDING:
            # A payment that still lands for it finds the room cancelled and is refunded.
            _expire_pending(ticket.pk)
        elif ticket.refund_requested_at is None:
            _request_refund(ticket, reason="cancelled")
            refunds += 1
    return refunds


def tickets_room_rescheduled(*, room: Room) -> None:
    """The host moved `room`: every ticket stays valid, and each holder is told the new time.
    Call inside the transaction that moved it."""
    if not room.is_ticketed:
        return
    holders = Ticket.objects.filter(
        room=room, status=Ticket.Status.PAID, refund_requested_at__isnull=True, buyer__isnull=False
    ).values_list("buyer_id", flat=True)
    notify(
        recipients=holders,
        kind=Notification.Kind.TICKET,
        actor=room.host,
        room=room,
        text=lambda zone: (
            _("%(host)s moved %(title)s to %(when)s; your ticket is still valid")
            % {"host": room.host.name, "title": room.title, "when": _when(room.scheduled_for, zone)}
        ),
        url=reverse("rooms:detail", args=[room.pk]),
        key=f"ticket-moved:{room.pk}:{room.calendar_sequence}",
    )


def tickets_holder_blocked(*, host: User, blocked: User) -> int:
    """`host` blocked `blocked`: their tickets for the host's rooms that have not ended are
    refunded (and stop letting them in at once). Call inside the blocking transaction."""
    refunds = 0
    for ticket in Ticket.objects.select_for_update().filter(
        room__host=host,
        room__state__in=[Room.State.SCHEDULED, Room.State.LIVE],
        buyer=blocked,
        status__in=SEAT_HOLDING,
    ):
        if ticket.status == Ticket.Status.PENDING:
            _expire_pending(ticket.pk)
        else:
            _request_refund(ticket, reason="blocked")
            refunds += 1
    return refunds


def tickets_account_deleting(*, user: User) -> None:
    """`user` is deleting their account. Call inside the deleting transaction, before the user row
    goes.

    As a host: refuse while they host a room not over that people hold tickets for (or paid for,
    buyers since deleted included): cancelling it first refunds every buyer, and a deleted room
    could not. Their ended rooms go with them, sales included.

    As a buyer: a sale stays in the host's accounts (sold, revenue, the buyers' CSV) without them,
    and so does anything a payment may still reach: a paid or refunded ticket, a refund on its way,
    a hold whose checkout is open (it expires now; a payment still landing for it is refunded).
    Their seats go back, but in ended rooms. A lapsed hold that moved no money goes."""
    held = (
        Room.objects.filter(host=user, state__in=[Room.State.SCHEDULED, Room.State.LIVE])
        .filter(
            Q(tickets_taken__gt=0)
            | Q(tickets__status=Ticket.Status.PAID, tickets__refund_requested_at__isnull=True)
        )
        .first()
    )
    if held is not None:
        raise ServiceError(
            "tickets_sold",
            _(
                "People hold tickets for your room %(title)s: cancel it first, so that every buyer is refunded."
            )
            % {"title": held.title},
        )
    if Ticket.objects.filter(
        room__host=user, refund_requested_at__isnull=False, refunded_at__isnull=True
    ).exists():
        raise ServiceError(
            "refunds_pending", _("Refunds for your rooms are still being made: try again in a few minutes.")
        )
    mine = Ticket.objects.select_for_update(of=("self",)).select_related("room").filter(buyer=user)
    for ticket in mine:
        if (
            ticket.status == Ticket.Status.EXPIRED
            and ticket.paid_at is None
            and not ticket.refund_requested_at
        ):
            ticket.delete()
            continue
        if ticket.status in SEAT_HOLDING and ticket.room.state != Room.State.ENDED:
            # Nobody holds it any more. An ended room keeps its count: nothing is sold there again,
            # and its page shows the seats sold. A refund still on its way frees nothing (ticket_refund).
            _free_seat(ticket.room_id)
        if ticket.status == Ticket.Status.PENDING:
            ticket.status = Ticket.Status.EXPIRED
        ticket.buyer = None
        ticket.save(update_fields=["status", "buyer"])
