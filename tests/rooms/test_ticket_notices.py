"""Tickets from the start and what the host hears of them (issue 28, item 4): the "Start a room"
form puts a scheduled room on sale through the ticket service, and the host is told of each sale
and refund with the running total (rooms/services/ticket_notices.py)."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification
from accounts.services import block_create, notification_preferences_set
from rooms import services, tickets
from rooms.models import Room, Ticket
from spaces_project.errors import ServiceError
from tests.factories import RoomFactory, UserFactory

from .conftest import csrf_post

pytestmark = pytest.mark.django_db

SALE = Notification.Kind.TICKET_SALE
CREATE = reverse("rooms:create")


def _tomorrow_form(**extra) -> dict:
    when = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    return {
        "title": "Jazz night",
        "when": "schedule",
        "scheduled_for": when,
        "tz": "UTC",
        "speaker_policy": "everyone",
        "allow_anonymous": "on",
        **extra,
    }


def host_notices(host) -> list[str]:
    return list(
        Notification.objects.filter(recipient=host, kind=SALE)
        .order_by("created_at", "pk")
        .values_list("text", flat=True)
    )


# -- the "Start a room" form ------------------------------------------------------------------------


def test_a_scheduled_room_goes_on_sale_from_the_start_a_room_form(signed_in, user):
    response = csrf_post(signed_in, CREATE, _tomorrow_form(price="12.50", capacity="40"))
    room = Room.objects.get(host=user)
    assert response.status_code == 302 and response["Location"] == f"/rooms/{room.pk}/"
    assert (room.state, room.ticket_price, room.ticket_capacity) == ("scheduled", 1250, 40)
    page = signed_in.get(response["Location"]).content.decode()
    assert "Your room is scheduled, with tickets on sale: $12.50, 40 seats." in page


def test_the_start_a_room_form_shows_price_and_seats_with_the_schedule(signed_in):
    page = signed_in.get(CREATE).content.decode()
    start = page.index("data-schedule-field")
    schedule = page[start : page.index("</fieldset>", start)]
    assert 'name="price"' in schedule and 'name="capacity"' in schedule
    assert "Ticket price (USD)" in schedule
    # Editing a room changes its tickets on the room page, not here.
    room = RoomFactory(scheduled=True)
    signed_in.force_login(room.host)
    assert 'name="price"' not in signed_in.get(f"/rooms/{room.pk}/edit/").content.decode()


@pytest.mark.parametrize(
    "price, capacity, field, message",
    [
        ("0.50", "40", "price", "A ticket costs from $1.00 to $999.00."),
        ("12", "", "capacity", "A room has from 1 to 10,000 seats."),
        ("", "40", "price", "A ticket costs from $1.00 to $999.00."),
    ],
)
def test_terms_the_ticket_service_refuses_create_no_room_and_name_their_field(
    signed_in, user, price, capacity, field, message
):
    response = csrf_post(signed_in, CREATE, _tomorrow_form(price=price, capacity=capacity))
    assert response.status_code == 200
    assert response.context["form"].errors == {field: [message]}
    assert not Room.objects.filter(host=user).exists()


def test_price_and_seats_left_filled_while_starting_now_are_ignored(signed_in, user):
    response = csrf_post(signed_in, CREATE, _tomorrow_form(when="now", price="12", capacity="40"))
    assert response.status_code == 302
    room = Room.objects.get(host=user)
    assert room.state == "live" and not room.is_ticketed


def test_the_service_refuses_tickets_for_a_room_that_starts_now(user):
    with pytest.raises(ServiceError) as refused:
        services.room_create(host=user, title="Now", start_now=True, ticket_price="5", ticket_capacity="5")
    assert (refused.value.code, refused.value.field) == ("tickets_need_schedule", "price")
    assert not Room.objects.exists()


# -- the host hears of each sale and refund --------------------------------------------------------


@pytest.fixture
def on_sale(db):
    host = UserFactory(display_name="Hana Host")
    return services.room_create(
        host=host,
        title="Jazz night",
        start_now=False,
        scheduled_for=timezone.now() + timedelta(days=1),
        ticket_price="10",
        ticket_capacity="20",
    )


def test_each_sale_tells_the_host_with_the_running_total(on_sale, django_capture_on_commit_callbacks):
    ana, ben = UserFactory(display_name="Ana"), UserFactory(display_name="Ben")
    with django_capture_on_commit_callbacks(execute=True):
        tickets.ticket_purchase(room_id=on_sale.pk, buyer=ana)
    with django_capture_on_commit_callbacks(execute=True):
        tickets.ticket_purchase(room_id=on_sale.pk, buyer=ben)
        tickets.ticket_purchase(room_id=on_sale.pk, buyer=ben)  # buying again is the same ticket
    assert host_notices(on_sale.host) == [
        "Ana bought a ticket to Jazz night — 1 sold, $10.00",
        "Ben bought a ticket to Jazz night — 2 sold, $20.00",
    ]
    notice = Notification.objects.filter(recipient=on_sale.host, kind=SALE).first()
    assert notice.url == f"/rooms/{on_sale.pk}/" and notice.in_app and notice.read_at is None


def test_a_sale_through_the_providers_checkout_tells_the_host_once(
    on_sale, django_capture_on_commit_callbacks
):
    buyer = UserFactory(display_name="Cleo")
    Room.objects.filter(pk=on_sale.pk).update(tickets_taken=F("tickets_taken") + 1)
    ticket = Ticket.objects.create(
        room=on_sale,
        buyer=buyer,
        amount=1000,
        currency="USD",
        provider="stripe",
        checkout_id="cs_test_1",
        hold_until=timezone.now() + timedelta(minutes=30),
    )
    assert host_notices(on_sale.host) == []  # a seat held while they pay is no sale yet
    for _ in range(2):  # the webhook, then the buyer's return: the second finds it paid
        with django_capture_on_commit_callbacks(execute=True):
            tickets.ticket_fulfil(checkout_id="cs_test_1", payment_id="pi_1")
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.PAID
    assert host_notices(on_sale.host) == ["Cleo bought a ticket to Jazz night — 1 sold, $10.00"]


def test_a_refund_tells_the_host_with_the_new_total(on_sale, django_capture_on_commit_callbacks):
    ana, ben = UserFactory(display_name="Ana"), UserFactory(display_name="Ben")
    with django_capture_on_commit_callbacks(execute=True):
        tickets.ticket_purchase(room_id=on_sale.pk, buyer=ana)
        tickets.ticket_purchase(room_id=on_sale.pk, buyer=ben)
    with django_capture_on_commit_callbacks(execute=True):
        block_create(blocker=on_sale.host, blocked=ben)  # a blocked holder is refunded
    assert (
        host_notices(on_sale.host)[-1] == "Ben's ticket to Jazz night was refunded ($10.00) — 1 sold, $10.00"
    )
    # The refund task run again tells nobody again.
    with django_capture_on_commit_callbacks(execute=True):
        tickets.ticket_refund(ticket_id=Ticket.objects.get(buyer=ben).pk)
    assert len(host_notices(on_sale.host)) == 3


def test_cancelling_tells_the_host_once_when_every_buyer_has_their_money_back(
    on_sale, django_capture_on_commit_callbacks
):
    for name in ("Ana", "Ben", "Cleo"):
        with django_capture_on_commit_callbacks(execute=True):
            tickets.ticket_purchase(room_id=on_sale.pk, buyer=UserFactory(display_name=name))
    with django_capture_on_commit_callbacks(execute=True):
        services.room_cancel(room=on_sale, actor=on_sale.host)
    notices = host_notices(on_sale.host)
    assert len(notices) == 4, notices  # three sales, then one line for the three refunds
    assert notices[-1] == "Every buyer of Jazz night has their money back: 3 refunds, $30.00"


def test_a_hosts_sales_come_by_email_only_if_they_switch_it_on(on_sale, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        tickets.ticket_purchase(room_id=on_sale.pk, buyer=UserFactory(display_name="Ana"))
    assert [message for message in mail.outbox if message.to == [on_sale.host.email]] == []
    notification_preferences_set(user=on_sale.host, choices={SALE: (True, True)})
    with django_capture_on_commit_callbacks(execute=True):
        tickets.ticket_purchase(room_id=on_sale.pk, buyer=UserFactory(display_name="Ben"))
    to_host = [message.subject for message in mail.outbox if message.to == [on_sale.host.email]]
    assert to_host == ["Spaces: Ben bought a ticket to Jazz night — 2 sold, $20.00"]


def test_the_settings_page_has_the_sales_switch_with_email_off(signed_in):
    response = signed_in.get(reverse("accounts:notification_settings"))
    assert "Tickets sold and refunded for your rooms" in response.content.decode()
    form = response.context["form"]
    assert form["ticket_sale_in_app"].value() is True
    assert form["ticket_sale_email"].value() is False
