"""What a host hears of their sales: a notice in the bell for each ticket sold and each refund,
with the running total ("Ana bought a ticket to Jazz night — 12 sold, €120.00"), and by email only
for a host who switches it on (kind TICKET_SALE, off by default).

The notices are written after the commit that sold or refunded, so the total counts every sale
committed by then (two sales committed together both see both). Each carries its ticket's key, so a
webhook delivered twice, or a refund task run again, tells the host once.
"""

from django.db import transaction
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.models import Notification
from accounts.services import notify
from spaces_project import metrics
from spaces_project.tasks import dispatch

from ..models import Ticket
from ..money import format_amount
from ..selectors.tickets import ticket_sales


def host_notice_on_commit(ticket_id: int, *, what: str) -> None:
    """After the current transaction commits, have a worker tell the host of ticket `ticket_id`'s
    room that it was sold (`what="sold"`) or refunded (`"refunded"`). A task, not the request: the
    notice reads the room's sales and writes the bell (and maybe an email), work a buyer in a rush
    must not wait for (bench/tickets.py). Robust: a broker that is away never cancels the hooks
    after it (the sale itself is committed). Counted then in the ticket sales metric too."""
    transaction.on_commit(metrics.TICKETS.labels(event=what).inc, robust=True)
    dispatch("rooms.tasks.ticket_host_notify", ticket_id, what)


def _total(sales) -> str:
    return _("%(sold)s sold, %(revenue)s") % {
        "sold": number_format(sales.sold, force_grouping=True),
        "revenue": format_amount(sales.revenue, sales.currency),
    }


def ticket_host_notify(*, ticket_id: int, what: str) -> None:
    """Tell the host of the ticket's room of its sale or refund, with the room's running total.

    A refund because the host cancelled the room is theirs already: they hear once, when the last
    of the room's refunds is done, that every buyer has their money back. A refund of a late
    payment (the seat had gone back on sale) was never a sale: nothing to tell."""
    ticket = Ticket.objects.select_related("room__host", "buyer").filter(pk=ticket_id).first()
    if ticket is None:
        return
    room = ticket.room
    buyer = ticket.buyer.name if ticket.buyer_id else gettext_lazy("Deleted account")
    url = reverse("rooms:detail", args=[room.pk])
    actor = ticket.buyer
    if what == "sold":
        if ticket.status != Ticket.Status.PAID:
            return
        sales = ticket_sales(room=room)

        def text(_zone):
            return _("%(buyer)s bought a ticket to %(title)s — %(total)s") % {
                "buyer": buyer,
                "title": room.title,
                "total": _total(sales),
            }

        key = f"ticket-sold:{ticket.pk}"
    elif ticket.refund_reason == "cancelled":
        if Ticket.objects.filter(
            room=room, refund_requested_at__isnull=False, refunded_at__isnull=True
        ).exists():
            return  # the last refund of the room tells
        sales = ticket_sales(room=room)

        def text(_zone):
            return ngettext(
                "Every buyer of %(title)s has their money back: %(count)s refund, %(amount)s",
                "Every buyer of %(title)s has their money back: %(count)s refunds, %(amount)s",
                sales.refunds,
            ) % {
                "title": room.title,
                "count": number_format(sales.refunds, force_grouping=True),
                "amount": format_amount(sales.refunded, sales.currency),
            }

        key = f"ticket-refunds-done:{room.pk}"
        actor = None
    elif ticket.refund_reason == "late":
        return
    else:
        amount = format_amount(ticket.amount, ticket.currency)
        sales = ticket_sales(room=room)

        def text(_zone):
            return _("%(buyer)s's ticket to %(title)s was refunded (%(amount)s) — %(total)s") % {
                "buyer": buyer,
                "title": room.title,
                "amount": amount,
                "total": _total(sales),
            }

        key = f"ticket-refunded-host:{ticket.pk}"
    notify(
        recipients=[room.host_id],
        kind=Notification.Kind.TICKET_SALE,
        actor=actor,
        room=room,
        text=text,
        url=url,
        key=key,
    )
