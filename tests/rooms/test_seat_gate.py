"""The seat gate (rooms/live/seat_gate.py): a sold-out ticket rush is answered before Django, from the
seats the database last reported; it never sells and never oversells. Requests go through the
same ASGI stack as daphne's (gate, then Django's ASGI handler) with the real database and, when
REDIS_URL is set, the real Redis."""

import asyncio
import secrets

import pytest
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.test import Client

from rooms import services, tickets
from rooms.live import seat_gate
from rooms.live.seat_gate import COUNTED, REFUSE, THROUGH, SeatGateMiddleware, get_seat_gate
from rooms.models import Ticket
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def app():
    return SeatGateMiddleware(get_asgi_application())


@pytest.fixture
def on_sale():
    room = RoomFactory(scheduled=True)
    return tickets.ticket_sales_set(room_id=room.pk, actor=room.host, price="5.00", capacity=2)


def session_of(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def buy(app, room, user, *, csrf: bool = True, language: str = "") -> tuple[int, dict]:
    """POST "Get a ticket" as a browser would (session and CSRF cookie and token), through the ASGI
    stack. Returns the status and the headers (names lowercased; set-cookie values joined)."""
    token = secrets.token_hex(16)
    cookies = f"{settings.SESSION_COOKIE_NAME}={session_of(user)}; {settings.CSRF_COOKIE_NAME}={token}"
    headers = [(b"host", b"testserver"), (b"cookie", cookies.encode())]
    if csrf:
        headers.append((b"x-csrftoken", token.encode()))
    if language:
        headers.append((b"accept-language", language.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/rooms/{room.pk}/tickets/buy/",
        "raw_path": f"/rooms/{room.pk}/tickets/buy/".encode(),
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def run():
        communicator = ApplicationCommunicator(app, scope)
        await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
        start = await communicator.receive_output(10)
        await communicator.receive_output(10)  # the body
        await communicator.wait(5)
        return start

    start = asyncio.run(run())
    answer: dict[str, str] = {}
    for name, value in start["headers"]:
        key = name.decode().lower()
        answer[key] = f"{answer[key]}\n{value.decode()}" if key in answer else value.decode()
    return start["status"], answer


def test_the_gate_learns_the_seats_left_when_sales_open_and_as_seats_are_taken(app, on_sale):
    gate = get_seat_gate()
    assert asyncio.run(gate.admit(on_sale.pk)) == COUNTED  # 2 left, none in flight
    asyncio.run(gate.release(on_sale.pk))
    status, headers = buy(app, on_sale, UserFactory())
    assert (status, headers["location"].split("/")[1]) == (302, "tickets")
    status, headers = buy(app, on_sale, UserFactory())
    assert (status, headers["location"].split("/")[1]) == (302, "tickets")
    assert asyncio.run(gate.admit(on_sale.pk)) == REFUSE  # 0 left


def test_a_sold_out_room_is_answered_by_the_gate_before_django(app, on_sale):
    for _ in range(2):
        buy(app, on_sale, UserFactory())
    late = UserFactory()
    # No CSRF token: Django would answer 403. The gate answers first: back to the room, sold out.
    status, headers = buy(app, on_sale, late, csrf=False)
    assert status == 302
    assert headers["location"] == f"/rooms/{on_sale.pk}/"
    assert "messages=" in headers["set-cookie"]
    assert not Ticket.objects.filter(buyer=late).exists()
    # The message is Django's own flash message, shown once on the room page.
    client = Client()
    client.force_login(late)
    client.cookies.load(headers["set-cookie"].split(";")[0])
    page = client.get(headers["location"]).content.decode()
    assert seat_gate.SOLD_OUT in page
    assert "Sold out" in client.get(headers["location"]).content.decode()  # the seats box


def test_the_gates_sold_out_message_is_in_the_buyers_language(app, on_sale):
    for _ in range(2):
        buy(app, on_sale, UserFactory())
    late = UserFactory()
    status, headers = buy(app, on_sale, late, csrf=False, language="es")
    assert status == 302 and not Ticket.objects.filter(buyer=late).exists()
    client = Client(HTTP_ACCEPT_LANGUAGE="es")
    client.force_login(late)
    client.cookies.load(headers["set-cookie"].split(";")[0])
    page = client.get(headers["location"]).content.decode()
    assert "Agotado: todas las plazas están ocupadas o en proceso de pago." in page
    assert seat_gate.SOLD_OUT not in page


def test_a_seat_given_back_opens_the_gate_again(app, on_sale):
    buy(app, on_sale, UserFactory())
    holder = UserFactory()
    buy(app, on_sale, holder)
    assert asyncio.run(get_seat_gate().admit(on_sale.pk)) == REFUSE
    # The holder's ticket is refunded (decided, then carried out as the refund task does).
    ticket = Ticket.objects.get(buyer=holder)
    Ticket.objects.filter(pk=ticket.pk).update(refund_requested_at=ticket.created_at, refund_reason="test")
    tickets.ticket_refund(ticket_id=ticket.pk)
    status, headers = buy(app, on_sale, UserFactory())
    assert headers["location"].startswith("/tickets/")
    on_sale.refresh_from_db()
    assert on_sale.tickets_taken == on_sale.ticket_capacity == 2


def test_a_purchase_the_gate_knows_nothing_about_goes_to_django(app, on_sale):
    get_seat_gate().forget()  # lapsed, or Redis was restarted
    assert asyncio.run(get_seat_gate().admit(on_sale.pk)) == THROUGH
    status, _ = buy(app, on_sale, UserFactory(), csrf=False)
    assert status == 403  # Django's CSRF check answered


def test_refused_purchases_give_their_place_back(app, on_sale):
    """The host's own purchase (refused by Django) was let through and counted; once answered it
    no longer counts, so the two seats still go to two buyers."""
    for _ in range(5):
        status, headers = buy(app, on_sale, on_sale.host)
        assert headers["location"] == f"/rooms/{on_sale.pk}/"
    buy(app, on_sale, UserFactory())
    buy(app, on_sale, UserFactory())
    assert Ticket.objects.filter(room=on_sale, status=Ticket.Status.PAID).count() == 2


def test_a_started_room_is_not_gated_so_django_says_why(app, on_sale):
    buy(app, on_sale, UserFactory())
    buy(app, on_sale, UserFactory())
    assert asyncio.run(get_seat_gate().admit(on_sale.pk)) == REFUSE
    services.room_start(room=on_sale, actor=on_sale.host)
    # The next purchase is let through; Django says the sales are over and the gate forgets the room.
    status, headers = buy(app, on_sale, UserFactory())
    assert headers["location"] == f"/rooms/{on_sale.pk}/"
    assert asyncio.run(get_seat_gate().admit(on_sale.pk)) == THROUGH


def test_the_gate_never_sells_more_than_the_database_has(app, on_sale):
    """The gate's count says 5 seats left, the database 2 (a write that lapsed late): Django's
    conditional update still decides every seat."""
    get_seat_gate().set_left(on_sale.pk, 5)
    answers = [buy(app, on_sale, UserFactory()) for _ in range(4)]
    assert sum(1 for _, h in answers if h["location"].startswith("/tickets/")) == 2
    on_sale.refresh_from_db()
    assert on_sale.tickets_taken == 2
    assert Ticket.objects.filter(room=on_sale, status=Ticket.Status.PAID).count() == 2


def test_a_gate_whose_redis_is_down_lets_everyone_through(settings, on_sale):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    gate = get_seat_gate()
    assert isinstance(gate, seat_gate.RedisSeatGate)
    gate.set_left(on_sale.pk, 0)  # logged, not raised
    assert asyncio.run(gate.admit(on_sale.pk)) == THROUGH


def test_a_count_the_database_stopped_writing_lapses(settings, on_sale, monkeypatch):
    """A seat freed by a process that could not reach the gate: the count lapses and the next
    purchase is Django's to answer."""
    settings.REDIS_URL = ""
    gate = get_seat_gate()
    assert isinstance(gate, seat_gate.MemorySeatGate)
    gate.set_left(on_sale.pk, 0)
    assert asyncio.run(gate.admit(on_sale.pk)) == REFUSE
    later = seat_gate._now() + seat_gate.LEFT_TTL_S + 1
    monkeypatch.setattr(seat_gate, "_now", lambda: later)
    assert asyncio.run(gate.admit(on_sale.pk)) == THROUGH
