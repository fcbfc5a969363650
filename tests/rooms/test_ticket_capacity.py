"""A ticketed room is never oversold, however many buy at once: 50 buyers for 10 seats, at the same
moment, through the service from 50 threads and over HTTP through the live server. Needs a real
database that serializes the conditional UPDATE (PostgreSQL); SQLite would serialize whole writes."""

import http.cookiejar
import secrets
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.db import connection, connections

from rooms import tickets
from rooms.models import Ticket
from spaces_project.errors import ServiceError
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

BUYERS = 50
SEATS = 10


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is tested on PostgreSQL (DATABASE_URL=postgres://...)")


@pytest.fixture
def room():
    room = RoomFactory(scheduled=True)
    return tickets.ticket_sales_set(room_id=room.pk, actor=room.host, price="10", capacity=SEATS)


def assert_exactly_ten_sold(room):
    room.refresh_from_db()
    assert Ticket.objects.filter(room=room, status=Ticket.Status.PAID).count() == SEATS
    assert Ticket.objects.filter(room=room).exclude(status=Ticket.Status.PAID).count() == 0
    assert room.tickets_taken == SEATS and room.tickets_left == 0


def test_fifty_threads_buying_ten_seats_get_exactly_ten_tickets(room):
    buyers = [UserFactory() for _ in range(BUYERS)]
    start = threading.Barrier(BUYERS)

    def buy(buyer):
        start.wait()
        try:
            tickets.ticket_purchase(room_id=room.pk, buyer=buyer)
            return "sold"
        except ServiceError as error:
            return error.message
        finally:
            connections.close_all()

    with ThreadPoolExecutor(BUYERS) as pool:
        results = list(pool.map(buy, buyers))
    assert results.count("sold") == SEATS
    assert results.count(f"Sold out: all {SEATS} seats are taken.") == BUYERS - SEATS
    assert_exactly_ten_sold(room)


def session_cookie(user) -> str:
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return session.session_key


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_fifty_buyers_over_http_get_exactly_ten_tickets(room, live_server):
    """The same through the live server: each buyer posts the "Get a ticket" form at once and is
    sent to their ticket, or back to the room with the refusal."""
    buyers = []
    for _ in range(BUYERS):
        user = UserFactory()
        buyers.append((user, session_cookie(user)))
    start = threading.Barrier(BUYERS)
    url = f"{live_server.url}/rooms/{room.pk}/tickets/buy/"

    def buy(buyer):
        _, session_key = buyer
        token = secrets.token_hex(16)  # 32 characters: an unmasked CSRF secret, as the cookie holds
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
        request = urllib.request.Request(
            url,
            data=b"",
            method="POST",
            headers={
                "Cookie": f"{settings.SESSION_COOKIE_NAME}={session_key}; {settings.CSRF_COOKIE_NAME}={token}",
                "X-CSRFToken": token,
            },
        )
        start.wait()
        try:
            opener.open(request, timeout=30)
            return "no redirect"
        except urllib.error.HTTPError as response:
            location = response.headers.get("Location", "")
            if response.code == 302 and location.startswith("/tickets/"):
                return "sold"
            if response.code == 302 and location == f"/rooms/{room.pk}/":
                return "refused"
            return f"{response.code} {location}"

    with ThreadPoolExecutor(BUYERS) as pool:
        results = list(pool.map(buy, buyers))
    assert results.count("sold") == SEATS, results
    assert results.count("refused") == BUYERS - SEATS, results
    assert_exactly_ten_sold(room)
    # (What a refused buyer reads on the room page: tests/rooms/test_tickets.py.)
