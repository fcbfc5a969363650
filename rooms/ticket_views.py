"""Pages and endpoints of ticketed rooms. Thin: each calls one service or selector of rooms/services/
(tickets, payments) and rooms/selectors/; refusals are answered by spaces_project/refusals.py as each
view declares."""

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from spaces_project.refusals import refusal_page, refusal_redirect

from . import selectors, services
from .models import Ticket


def _back_to_room(request: HttpRequest, pk: int) -> str:
    return reverse("rooms:detail", args=[pk])


@require_POST
@login_required
@refusal_redirect(to=_back_to_room)
def ticket_sales(request, pk):
    """The host puts a scheduled room on sale, or changes its capacity; or makes it free again."""
    if request.POST.get("action") == "stop":
        services.ticket_sales_stop(room_id=pk, actor=request.user)
        messages.success(request, _("This room is free again."))
    else:
        room = services.ticket_sales_set(
            room_id=pk,
            actor=request.user,
            price=request.POST.get("price", ""),
            capacity=request.POST.get("capacity", ""),
        )
        messages.success(
            request,
            _("Tickets on sale: %(price)s, %(capacity)s seats.")
            % {
                "price": services.price_label(room.ticket_price),
                "capacity": number_format(room.ticket_capacity, force_grouping=True),
            },
        )
    return redirect("rooms:detail", pk=pk)


@require_POST
@refusal_redirect(to=_back_to_room)
def ticket_buy(request, pk):
    """Get a ticket: paid at once (development provider) or off to the provider's checkout page."""
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("rooms:detail", args=[pk]))
    ticket = services.ticket_purchase(room_id=pk, buyer=request.user)
    if ticket.status == Ticket.Status.PENDING and ticket.checkout_url:
        return redirect(ticket.checkout_url)
    if ticket.status == Ticket.Status.PAID:
        messages.success(request, _("You have a ticket for this room."))
    return redirect("tickets:detail", pk=ticket.pk)


@require_GET
@login_required
def ticket_buyers_csv(request, pk):
    """The host's list of buyers: handle, time, amount, status. A sale whose buyer deleted their
    account stays, without them."""
    room = selectors.room_get_for_host(room_id=pk, actor=request.user)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="room-{room.pk}-buyers.csv"'
    writer = csv.writer(response)
    writer.writerow(["handle", "time", "amount", "currency", "status"])
    for ticket in selectors.ticket_buyers(room=room):
        writer.writerow(
            [
                ticket.buyer_label,  # "Deleted account" once the buyer deleted theirs
                (ticket.paid_at or ticket.created_at).isoformat(),
                f"{ticket.amount / 100:.2f}",
                ticket.currency,
                ticket.status,
            ]
        )
    return response


@login_required
def my_tickets(request):
    return render(
        request, "rooms/my_tickets.html", {"tickets": selectors.tickets_of_buyer(user=request.user)}
    )


@login_required
@refusal_page()
def ticket_detail(request, pk):
    ticket = selectors.ticket_get_for_buyer(ticket_id=pk, viewer=request.user)
    return render(request, "rooms/ticket_detail.html", {"ticket": ticket, "room": ticket.room})


@require_GET
@never_cache
@login_required
@refusal_page()
def ticket_return(request, pk):
    """The buyer is back from the provider's checkout page: confirm the payment, show the ticket."""
    ticket = selectors.ticket_get_for_buyer(ticket_id=pk, viewer=request.user)
    ticket = services.ticket_confirm_return(ticket=ticket)
    if ticket.status == Ticket.Status.PAID:
        messages.success(request, _("Payment received: you have a ticket."))
    elif ticket.status == Ticket.Status.PENDING:
        messages.info(request, _("Your payment is being confirmed; this page shows it once it is."))
    return redirect("tickets:detail", pk=ticket.pk)


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """Stripe's webhook: 400 unless the signature is good and fresh and the event well formed; 200
    once the event is applied (or was already, or concerns nothing we sold)."""
    outcome = services.payment_webhook_receive(
        provider_name="stripe",
        payload=request.body,
        signature=request.headers.get("Stripe-Signature", ""),
    )
    if not outcome.accepted:
        return HttpResponse(
            "Refused: not a fresh, signed, well-formed event.", status=400, content_type="text/plain"
        )
    return HttpResponse(outcome.result, content_type="text/plain")
