"""Ticketed rooms with the development provider: selling, seats, who gets in, changes, the host's
sales and the buyer's pages (rooms/services/tickets.py). Stripe's side is tests/rooms/test_stripe_tickets.py."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from accounts.models import Notification
from accounts.services import block_create, user_delete_account
from recordings.selectors import recording_get_for_listener, replays_visible_to
from rooms import selectors, services, tickets
from rooms.models import Participant, Room, RoomInvitation, RoomTopic, Tag, Ticket
from spaces_project.errors import NotFound, ServiceError
from tests.conftest import main_html
from tests.factories import PASSWORD, ReplayFactory, RoomFactory, UserFactory

from .conftest import csrf_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_sale(db):
    """A scheduled room with 3 seats at $5.00."""
    room = RoomFactory(scheduled=True)
    return tickets.ticket_sales_set(room_id=room.pk, actor=room.host, price="5.00", capacity=3)


def buy(room, buyer=None):
    return tickets.ticket_purchase(room_id=room.pk, buyer=buyer or UserFactory())


# -- the host sets the terms ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "price, capacity, code",
    [
        ("0.99", 10, "bad_price"),
        ("999.01", 10, "bad_price"),
        ("5.005", 10, "bad_price"),
        ("five", 10, "bad_price"),
        ("5", 0, "bad_capacity"),
        ("5", 10_001, "bad_capacity"),
        ("5", "lots", "bad_capacity"),
    ],
)
def test_a_price_or_capacity_out_of_range_is_refused_on_its_field(price, capacity, code):
    room = RoomFactory(scheduled=True)
    with pytest.raises(ServiceError) as refused:
        tickets.ticket_sales_set(room_id=room.pk, actor=room.host, price=price, capacity=capacity)
    assert refused.value.code == code
    assert refused.value.field == ("price" if code == "bad_price" else "capacity")
    room.refresh_from_db()
    assert not room.is_ticketed


def test_the_bounds_themselves_are_accepted():
    room = RoomFactory(scheduled=True)
    room = tickets.ticket_sales_set(room_id=room.pk, actor=room.host, price=Decimal("1.00"), capacity=1)
    assert (room.ticket_price, room.ticket_capacity) == (100, 1)
    room = tickets.ticket_sales_set(room_id=room.pk, actor=room.host, price="999", capacity=10_000)
    assert (room.ticket_price, room.ticket_capacity) == (99_900, 10_000)


def test_only_the_host_sells_and_only_before_the_room_starts():
    room = RoomFactory(scheduled=True)
    with pytest.raises(ServiceError) as refused:
        tickets.ticket_sales_set(room_id=room.pk, actor=UserFactory(), price="5", capacity=5)
    assert refused.value.code == "not_allowed"
    live = RoomFactory()
    with pytest.raises(ServiceError) as refused:
        tickets.ticket_sales_set(room_id=live.pk, actor=live.host, price="5", capacity=5)
    assert refused.value.code == "bad_state"


def test_the_capacity_never_drops_below_the_tickets_sold_and_the_price_is_fixed_once_sold(on_sale):
    buy(on_sale)
    buy(on_sale)
    with pytest.raises(ServiceError) as refused:
        tickets.ticket_sales_set(room_id=on_sale.pk, actor=on_sale.host, price="5", capacity=1)
    assert refused.value.code == "capacity_below_sold"
    assert "2 seats are sold" in refused.value.message
    with pytest.raises(ServiceError) as refused:
        tickets.ticket_sales_set(room_id=on_sale.pk, actor=on_sale.host, price="6", capacity=3)
    assert refused.value.code == "price_locked"
    room = tickets.ticket_sales_set(room_id=on_sale.pk, actor=on_sale.host, price="5", capacity=2)
    assert room.ticket_capacity == 2 and room.tickets_left == 0
    with pytest.raises(ServiceError) as refused:
        tickets.ticket_sales_stop(room_id=on_sale.pk, actor=on_sale.host)
    assert refused.value.code == "tickets_sold"


# -- buying ---------------------------------------------------------------------------------------


def test_the_development_provider_sells_a_paid_ticket_at_once(on_sale):
    buyer = UserFactory()
    ticket = buy(on_sale, buyer)
    assert ticket.status == Ticket.Status.PAID and ticket.provider == "development"
    assert (ticket.amount, ticket.currency) == (500, "USD")
    on_sale.refresh_from_db()
    assert on_sale.tickets_taken == 1 and on_sale.tickets_left == 2
    assert selectors.ticket_is_valid(room=on_sale, user=buyer)


def test_buying_twice_is_still_one_ticket(on_sale):
    buyer = UserFactory()
    first = buy(on_sale, buyer)
    again = buy(on_sale, buyer)
    assert again.pk == first.pk
    assert Ticket.objects.filter(room=on_sale, buyer=buyer).count() == 1
    on_sale.refresh_from_db()
    assert on_sale.tickets_taken == 1


def test_the_fourth_buyer_of_three_seats_is_told_it_is_sold_out(on_sale):
    for _ in range(3):
        buy(on_sale)
    with pytest.raises(ServiceError) as refused:
        buy(on_sale)
    assert refused.value.code == "sold_out"
    assert refused.value.message == "Sold out: all 3 seats are taken."
    assert Ticket.objects.filter(room=on_sale).count() == 3


@pytest.mark.parametrize("state", ["live", "ended", "cancelled"])
def test_tickets_are_not_sold_for_a_live_ended_or_cancelled_room(on_sale, state):
    now = timezone.now()
    Room.objects.filter(pk=on_sale.pk).update(
        state=state,
        started_at=None if state == "cancelled" else now,
        ended_at=now if state == "ended" else None,
    )
    with pytest.raises(ServiceError) as refused:
        buy(on_sale)
    assert refused.value.code == "sales_closed"
    assert not Ticket.objects.filter(room=on_sale).exists()


def test_the_host_a_blocked_person_and_a_free_room_get_clear_answers(on_sale):
    with pytest.raises(ServiceError) as refused:
        buy(on_sale, on_sale.host)
    assert refused.value.code == "own_room"
    blocked = UserFactory()
    block_create(blocker=on_sale.host, blocked=blocked)
    with pytest.raises(NotFound):
        buy(on_sale, blocked)
    with pytest.raises(ServiceError) as refused:
        buy(RoomFactory(scheduled=True))
    assert refused.value.code == "not_ticketed"


def test_the_development_provider_is_refused_under_production_settings_and_nothing_is_lost(on_sale, settings):
    settings.PAYMENTS_DEVELOPMENT_ALLOWED = False
    with pytest.raises(ServiceError) as refused:
        buy(on_sale)
    assert refused.value.code == "payment_unavailable"
    on_sale.refresh_from_db()
    assert on_sale.tickets_taken == 0
    assert not Ticket.objects.exists()


def test_a_pending_hold_lapses_and_the_seat_goes_back_on_sale(on_sale, settings):
    ticket = buy(on_sale)
    # As if its checkout had never started (the process died in between): pending, its hold lapsed.
    # (A checkout the provider still has is closed first: tests/rooms/test_stripe_tickets.py.)
    Ticket.objects.filter(pk=ticket.pk).update(
        status=Ticket.Status.PENDING,
        paid_at=None,
        checkout_id=None,
        hold_until=timezone.now() - timedelta(seconds=1),
    )
    assert tickets.tickets_release_expired_holds() == 1
    ticket.refresh_from_db()
    on_sale.refresh_from_db()
    assert ticket.status == Ticket.Status.EXPIRED and on_sale.tickets_taken == 0
    assert tickets.tickets_release_expired_holds() == 0  # twice is harmless


def test_the_release_task_is_on_the_beat_schedule(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "rooms.tasks.release_expired_ticket_holds" in tasks


# -- who gets in ------------------------------------------------------------------------------------


def go_live(room):
    return services.room_start(room=room, actor=room.host)


def test_only_ticket_holders_and_the_stage_may_join(on_sale):
    holder, stranger, guest = UserFactory(), UserFactory(), UserFactory()
    buy(on_sale, holder)
    RoomInvitation.objects.create(room=on_sale, invitee=guest, invited_by=on_sale.host)
    room = go_live(on_sale)
    assert services.participant_join_refusal(room=room, user=holder) is None
    assert services.participant_join_refusal(room=room, user=room.host) is None
    assert services.participant_join_refusal(room=room, user=guest) is None
    refusal = services.participant_join_refusal(room=room, user=stranger)
    assert refusal.code == "ticket_required"
    anonymous = services.participant_join_refusal(room=room, user=None)
    assert anonymous is None or anonymous.code == "sign_in_required"
    with pytest.raises(ServiceError) as refused:
        services.participant_join(room_id=room.pk, user=stranger)
    assert refused.value.code == "ticket_required"
    assert services.participant_join(room_id=room.pk, user=holder).role == Participant.Role.LISTENER


def test_a_visitor_who_is_not_signed_in_is_asked_to_sign_in(on_sale):
    room = go_live(on_sale)
    assert services.participant_join_refusal(room=room, user=AnonymousUser()).code == "sign_in_required"


def test_the_room_page_refuses_a_non_holder_and_shows_the_ticket(client, on_sale):
    room = go_live(on_sale)
    client.force_login(UserFactory())
    html = main_html(client.get(f"/rooms/{room.pk}/"))
    assert "This room is for ticket holders." in html
    assert 'data-testid="ticket-refusal"' in html
    assert "$5.00" in html
    assert "data-live-shell" not in html or "data-join-refusal" in html


def test_only_holders_and_the_stage_may_replay(on_sale):
    holder, stranger, speaker = UserFactory(), UserFactory(), UserFactory()
    buy(on_sale, holder)
    replay = ReplayFactory(room=on_sale)
    Room.objects.filter(pk=on_sale.pk).update(
        state=Room.State.ENDED, started_at=timezone.now() - timedelta(hours=1), ended_at=timezone.now()
    )
    Participant.objects.create(room=on_sale, user=speaker, role=Participant.Role.SPEAKER)
    for allowed in (holder, speaker, on_sale.host):
        assert recording_get_for_listener(recording_id=replay.pk, viewer=allowed) == replay
        assert replay in replays_visible_to(viewer=allowed)
    with pytest.raises(ServiceError) as refused:
        recording_get_for_listener(recording_id=replay.pk, viewer=stranger)
    assert refused.value.code == "ticket_required"
    assert replay not in replays_visible_to(viewer=stranger)

    assert replay not in replays_visible_to(viewer=AnonymousUser())


# -- changes ---------------------------------------------------------------------------------------


def test_cancelling_refunds_every_ticket_and_tells_each_holder(on_sale, django_capture_on_commit_callbacks):
    holders = [UserFactory(), UserFactory()]
    for holder in holders:
        buy(on_sale, holder)
    with django_capture_on_commit_callbacks(execute=True):
        services.room_cancel(room=on_sale, actor=on_sale.host)
    assert set(Ticket.objects.filter(room=on_sale).values_list("status", flat=True)) == {"refunded"}
    assert all(t.refund_id.startswith("dev_re_") for t in Ticket.objects.filter(room=on_sale))
    for holder in holders:
        notice = Notification.objects.get(recipient=holder, kind=Notification.Kind.TICKET)
        assert "cancelled" in notice.text and "refunded" in notice.text and "$5.00" in notice.text


def test_rescheduling_keeps_tickets_valid_and_tells_each_holder(on_sale):
    holder = UserFactory()
    buy(on_sale, holder)
    later = on_sale.scheduled_for + timedelta(days=2)
    services.room_update(
        room=on_sale,
        actor=on_sale.host,
        title=on_sale.title,
        description="",
        topics=[],
        speaker_policy=on_sale.speaker_policy,
        allow_anonymous=True,
        scheduled_for=later,
    )
    assert selectors.ticket_is_valid(room=on_sale, user=holder)
    notice = Notification.objects.get(recipient=holder, kind=Notification.Kind.TICKET)
    assert "moved" in notice.text and "still valid" in notice.text


def test_a_holder_blocked_by_the_host_is_refunded_and_refused(on_sale, django_capture_on_commit_callbacks):
    holder = UserFactory()
    ticket = buy(on_sale, holder)
    room = go_live(on_sale)
    with django_capture_on_commit_callbacks(execute=True):
        block_create(blocker=room.host, blocked=holder)
    ticket.refresh_from_db()
    room.refresh_from_db()
    assert ticket.status == Ticket.Status.REFUNDED and room.tickets_taken == 0
    assert services.participant_join_refusal(room=room, user=holder).code == "not_found"


# -- the host's and the buyer's pages -------------------------------------------------------------


def test_the_room_page_shows_price_seats_left_and_get_a_ticket(client, on_sale):
    buy(on_sale)
    client.force_login(UserFactory())
    html = main_html(client.get(f"/rooms/{on_sale.pk}/"))
    assert "$5.00" in html and "2 of 3 seats left" in html and "Get a ticket" in html


def test_the_host_sees_sales_and_downloads_the_buyers(client, on_sale, django_capture_on_commit_callbacks):
    buyers = [UserFactory(handle="ann"), UserFactory(handle="bob")]
    for buyer in buyers:
        buy(on_sale, buyer)
    with django_capture_on_commit_callbacks(execute=True):
        block_create(blocker=on_sale.host, blocked=buyers[1])  # bob is refunded
    client.force_login(on_sale.host)
    html = main_html(client.get(f"/rooms/{on_sale.pk}/"))
    assert 'data-testid="tickets-sold">1<' in html
    assert 'data-testid="ticket-revenue">$5.00<' in html
    assert 'data-testid="ticket-refunds">1 ($5.00)<' in html
    response = client.get(f"/rooms/{on_sale.pk}/tickets/buyers.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["handle", "time", "amount", "currency", "status"]
    assert [(r[0], r[2], r[4]) for r in rows[1:]] == [("@ann", "5.00", "paid"), ("@bob", "5.00", "refunded")]
    client.force_login(buyers[0])
    assert client.get(f"/rooms/{on_sale.pk}/tickets/buyers.csv").status_code == 403


def test_buying_through_the_page_and_my_tickets(signed_in, user, on_sale):
    response = csrf_post(signed_in, f"/rooms/{on_sale.pk}/tickets/buy/", page=f"/rooms/{on_sale.pk}/")
    ticket = Ticket.objects.get(buyer=user)
    assert response.status_code == 302 and response["Location"] == f"/tickets/{ticket.pk}/"
    page = main_html(signed_in.get(f"/tickets/{ticket.pk}/"))
    assert on_sale.title in page and "$5.00" in page
    assert f"/rooms/{on_sale.pk}/calendar.ics" in page
    assert signed_in.get(f"/rooms/{on_sale.pk}/calendar.ics")["Content-Type"].startswith("text/calendar")
    mine = main_html(signed_in.get("/tickets/"))
    assert f"/tickets/{ticket.pk}/" in mine and on_sale.title in mine


def test_a_refused_purchase_comes_back_with_its_message(signed_in, on_sale):
    for _ in range(3):
        buy(on_sale)
    response = csrf_post(signed_in, f"/rooms/{on_sale.pk}/tickets/buy/", page=f"/rooms/{on_sale.pk}/")
    assert response.status_code == 302 and response["Location"] == f"/rooms/{on_sale.pk}/"
    assert "Sold out: all 3 seats are taken." in signed_in.get(response["Location"]).content.decode()


def test_the_host_puts_a_room_on_sale_from_its_page(client, on_sale):
    room = RoomFactory(scheduled=True)
    client.force_login(room.host)
    response = csrf_post(
        client,
        f"/rooms/{room.pk}/tickets/sales/",
        {"price": "12.50", "capacity": "40"},
        page=f"/rooms/{room.pk}/",
    )
    assert response.status_code == 302
    room.refresh_from_db()
    assert (room.ticket_price, room.ticket_capacity) == (1250, 40)
    response = csrf_post(
        client,
        f"/rooms/{room.pk}/tickets/sales/",
        {"price": "0.50", "capacity": "40"},
        page=f"/rooms/{room.pk}/",
    )
    assert "A ticket costs from $1.00 to $999.00." in client.get(response["Location"]).content.decode()


def test_home_topic_and_search_mark_ticketed_rooms(client, on_sale):
    services.tags_from_names(["jazz"])

    RoomTopic.objects.create(room=on_sale, tag=Tag.objects.get(slug="jazz"), position=1)
    for url in ("/", "/rooms/topics/jazz/", f"/rooms/search/?q={on_sale.title}"):
        html = main_html(client.get(url))
        assert 'class="pill pill-ticket"' in html and "Ticket $5.00" in html, url


def test_a_host_with_tickets_sold_cannot_delete_their_account_until_the_room_is_cancelled(on_sale):
    buyer = UserFactory()
    buy(on_sale, buyer)
    with pytest.raises(ServiceError) as refused:
        user_delete_account(user=on_sale.host, password=PASSWORD)
    assert refused.value.code == "tickets_sold" and on_sale.title in refused.value.message
    services.room_cancel(room=on_sale, actor=on_sale.host)  # its refund task has not run yet
    with pytest.raises(ServiceError) as refused:
        user_delete_account(user=on_sale.host, password=PASSWORD)
    assert refused.value.code == "refunds_pending"
    tickets.ticket_refund(ticket_id=Ticket.objects.get(buyer=buyer).pk)
    assert user_delete_account(user=on_sale.host, password=PASSWORD)


def test_a_buyer_who_deletes_their_account_gives_their_seat_back(on_sale):
    buyer = UserFactory()
    buy(on_sale, buyer)
    assert user_delete_account(user=buyer, password=PASSWORD)
    on_sale.refresh_from_db()
    assert on_sale.tickets_taken == 0 and on_sale.tickets_left == 3


# -- a buyer who deletes their account (issue 21) ---------------------------------------------------


def _host_sees(client, room) -> tuple[str, str, list[tuple[str, str, str]], str]:
    """Tickets sold and revenue on the room's page, and the buyers' CSV (rows and raw text)."""
    client.force_login(room.host)
    html = main_html(client.get(f"/rooms/{room.pk}/"))
    sold = html.split('data-testid="tickets-sold">', 1)[1].split("<", 1)[0]
    revenue = html.split('data-testid="ticket-revenue">', 1)[1].split("<", 1)[0]
    text = client.get(f"/rooms/{room.pk}/tickets/buyers.csv").content.decode()
    rows = [(r[0], r[2], r[4]) for r in list(csv.reader(io.StringIO(text)))[1:]]
    return sold, revenue, rows, text


def test_a_buyer_who_deletes_their_account_leaves_the_hosts_sale_without_their_name(client, on_sale):
    ann = UserFactory(handle="ann")
    bob = UserFactory(handle="bobfinch", display_name="Bob Finch", email="bob.finch@example.com")
    buy(on_sale, ann)
    buy(on_sale, bob)
    room = services.room_end(room=go_live(on_sale), actor=on_sale.host)
    before = _host_sees(client, room)
    assert before[:3] == ("2", "$10.00", [("@ann", "5.00", "paid"), ("@bobfinch", "5.00", "paid")])

    assert user_delete_account(user=bob, password=PASSWORD)

    sold, revenue, rows, text = _host_sees(client, room)
    assert (sold, revenue) == ("2", "$10.00")
    assert rows == [("@ann", "5.00", "paid"), ("Deleted account", "5.00", "paid")]
    assert "bobfinch" not in text and "Bob Finch" not in text and "bob.finch" not in text
    sales = selectors.ticket_sales(room=room)
    assert (sales.sold, sales.revenue) == (2, 1000)
    kept = Ticket.objects.get(room=room, buyer__isnull=True)
    assert kept.status == Ticket.Status.PAID and kept.amount == 500 and kept.paid_at is not None
    assert "Deleted account" in str(kept)


def test_a_deleted_buyers_unpaid_hold_goes_and_a_payment_landing_for_it_is_refunded(
    on_sale, django_capture_on_commit_callbacks
):
    """A hold whose checkout is still open is kept without its buyer, so that a payment still
    landing for it is recognised and given back; a lapsed hold that moved no money goes."""
    buyer = UserFactory()
    terms = {"room": on_sale, "buyer": buyer, "amount": 500, "currency": "USD", "provider": "development"}
    lapsed = Ticket.objects.create(**terms, status=Ticket.Status.EXPIRED, checkout_id="dev_cs_lapsed")
    held = Ticket.objects.create(
        **terms,
        status=Ticket.Status.PENDING,
        checkout_id="dev_cs_still_open",
        hold_until=timezone.now() + timedelta(minutes=10),
    )
    Room.objects.filter(pk=on_sale.pk).update(tickets_taken=1)

    assert user_delete_account(user=buyer, password=PASSWORD)

    assert not Ticket.objects.filter(pk=lapsed.pk).exists()
    held.refresh_from_db()
    on_sale.refresh_from_db()
    assert held.buyer_id is None and held.status == Ticket.Status.EXPIRED
    assert on_sale.tickets_taken == 0
    with django_capture_on_commit_callbacks(execute=True):
        tickets.ticket_fulfil(checkout_id="dev_cs_still_open", payment_id="dev_pi_late")
    held.refresh_from_db()
    on_sale.refresh_from_db()
    assert held.status == Ticket.Status.REFUNDED and held.refund_reason == "late"
    assert on_sale.tickets_taken == 0 and not Notification.objects.filter(kind=Notification.Kind.TICKET)


def test_a_deleted_buyers_seat_goes_back_and_their_money_still_comes_back_if_the_room_is_cancelled(
    on_sale, django_capture_on_commit_callbacks
):
    buyer = UserFactory()
    ticket = buy(on_sale, buyer)
    assert user_delete_account(user=buyer, password=PASSWORD)
    on_sale.refresh_from_db()
    assert on_sale.tickets_left == 3 and selectors.ticket_sales(room=on_sale).revenue == 500
    with pytest.raises(ServiceError) as refused:  # the sale is not the host's to drop with the room
        user_delete_account(user=on_sale.host, password=PASSWORD)
    assert refused.value.code == "tickets_sold"
    with django_capture_on_commit_callbacks(execute=True):
        services.room_cancel(room=on_sale, actor=on_sale.host)
    ticket.refresh_from_db()
    on_sale.refresh_from_db()
    assert ticket.status == Ticket.Status.REFUNDED and ticket.refund_id.startswith("dev_re_")
    assert on_sale.tickets_taken == 0
    assert user_delete_account(user=on_sale.host, password=PASSWORD)
