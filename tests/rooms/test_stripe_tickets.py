"""Tickets through Stripe Checkout (rooms/payments/stripe_checkout.py). Stripe's API is never called:
`stripe.default_http_client` is replaced at the transport level by a fake that records every request
(method, path, form fields, idempotency key) and answers as Stripe would. Webhooks are signed here
with the configured secret, as Stripe signs them."""

import json
import time
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
import stripe
from django.utils import timezone

from accounts.models import Notification
from rooms import services, tickets
from rooms.models import PaymentEvent, Ticket
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db

WEBHOOK_SECRET = "whsec_test_secret_for_spaces"
WEBHOOK_URL = "/payments/stripe/webhook/"


class FakeStripe(stripe.HTTPClient):
    """Stripe's API as far as the provider uses it, at the HTTP client's level."""

    name = "fake-stripe"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[dict] = []
        self.sessions: dict[str, dict] = {}
        self.fail_next: int | None = None  # answer the next request with this status

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        path = urlsplit(url).path
        fields = dict(parse_qsl(post_data or "", keep_blank_values=True))
        self.requests.append(
            {
                "method": method.upper(),
                "path": path,
                "fields": fields,
                "idempotency_key": headers.get("Idempotency-Key"),
            }
        )
        if self.fail_next:
            status, self.fail_next = self.fail_next, None
            return json.dumps({"error": {"type": "api_error", "message": "Stripe is down"}}), status, {}
        if method == "post" and path == "/v1/checkout/sessions":
            session_id = f"cs_test_{len(self.sessions) + 1}"
            self.sessions[session_id] = {
                "id": session_id,
                "object": "checkout.session",
                "url": f"https://checkout.stripe.com/c/pay/{session_id}",
                "status": "open",
                "payment_status": "unpaid",
                "payment_intent": None,
            }
            return json.dumps(self.sessions[session_id]), 200, {}
        if path.startswith("/v1/checkout/sessions/"):
            session_id = path.split("/")[4]
            session = self.sessions[session_id]
            if path.endswith("/expire"):
                if session["status"] != "open":
                    error = {"type": "invalid_request_error", "message": "Only open sessions can be expired."}
                    return json.dumps({"error": error}), 400, {}
                session["status"] = "expired"
            return json.dumps(session), 200, {}
        if method == "post" and path == "/v1/refunds":
            return (
                json.dumps({"id": f"re_{len(self.requests)}", "object": "refund", "status": "succeeded"}),
                200,
                {},
            )
        return json.dumps({"error": {"type": "invalid_request_error", "message": "unknown"}}), 404, {}

    def close(self):
        pass

    def pay(self, session_id: str) -> dict:
        """The buyer paid on Stripe's page."""
        self.sessions[session_id].update(
            status="complete", payment_status="paid", payment_intent=f"pi_{session_id}"
        )
        return self.sessions[session_id]

    def sent(self, method: str, path: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == method and r["path"] == path]


@pytest.fixture
def fake_stripe(settings, monkeypatch):
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_spaces"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    fake = FakeStripe()
    monkeypatch.setattr(stripe, "default_http_client", fake)
    return fake


@pytest.fixture
def on_sale(db):
    room = RoomFactory(scheduled=True)
    return tickets.ticket_sales_set(room_id=room.pk, actor=room.host, price="7.50", capacity=2)


def event_for(session: dict, kind: str, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_{kind.replace('.', '_')}_{session['id']}",
        "object": "event",
        "type": kind,
        "data": {"object": dict(session)},
    }


def post_webhook(client, event: dict, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None):
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(
        payload, secret, timestamp=timestamp or int(time.time())
    )
    return client.post(WEBHOOK_URL, payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


def seats(room) -> int:
    room.refresh_from_db()
    return room.tickets_taken


def test_buying_opens_one_checkout_session_with_an_idempotency_key(fake_stripe, on_sale):
    buyer = UserFactory(email="ann@example.com")
    ticket = tickets.ticket_purchase(room_id=on_sale.pk, buyer=buyer)
    assert ticket.status == Ticket.Status.PENDING and ticket.provider == "stripe"
    assert ticket.checkout_id == "cs_test_1"
    assert ticket.checkout_url == "https://checkout.stripe.com/c/pay/cs_test_1"
    [created] = fake_stripe.sent("POST", "/v1/checkout/sessions")
    assert created["idempotency_key"] == f"spaces-ticket-{ticket.pk}-checkout"
    fields = created["fields"]
    assert fields["mode"] == "payment"
    assert fields["line_items[0][price_data][unit_amount]"] == "750"
    assert fields["line_items[0][price_data][currency]"] == "usd"
    assert fields["client_reference_id"] == str(ticket.pk)
    assert fields["customer_email"] == "ann@example.com"
    assert fields["success_url"].endswith(f"/tickets/{ticket.pk}/return/?session_id={{CHECKOUT_SESSION_ID}}")
    assert int(fields["expires_at"]) >= time.time() + 30 * 60  # Stripe's minimum
    assert seats(on_sale) == 1
    # Buying again is the same ticket: no second session.
    assert tickets.ticket_purchase(room_id=on_sale.pk, buyer=buyer).pk == ticket.pk
    assert len(fake_stripe.sent("POST", "/v1/checkout/sessions")) == 1


def test_the_buy_button_sends_the_buyer_to_stripe(fake_stripe, on_sale, client):
    client.force_login(UserFactory())
    response = client.post(f"/rooms/{on_sale.pk}/tickets/buy/")
    assert response.status_code == 302
    assert response["Location"].startswith("https://checkout.stripe.com/c/pay/cs_test_")


def test_a_signed_completed_event_fulfils_and_a_replay_changes_nothing(fake_stripe, on_sale, client):
    ticket = tickets.ticket_purchase(room_id=on_sale.pk, buyer=UserFactory())
    event = event_for(fake_stripe.pay(ticket.checkout_id), "checkout.session.completed")
    response = post_webhook(client, event)
    assert response.status_code == 200 and response.content == b"fulfilled"
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.PAID and ticket.payment_id == f"pi_{ticket.checkout_id}"
    assert ticket.paid_at is not None
    replay = post_webhook(client, event)
    assert replay.status_code == 200 and replay.content == b"duplicate"
    assert PaymentEvent.objects.filter(event_id=event["id"]).count() == 1
    assert Ticket.objects.filter(room=on_sale).count() == 1 and seats(on_sale) == 1
    # The same payment reported by another event (async_payment_succeeded) is still one ticket.
    again = post_webhook(
        client,
        event_for(fake_stripe.sessions[ticket.checkout_id], "checkout.session.async_payment_succeeded"),
    )
    assert again.status_code == 200
    assert Ticket.objects.filter(room=on_sale, status=Ticket.Status.PAID).count() == 1


def test_a_bad_signature_is_refused_and_nothing_changes(fake_stripe, on_sale, client):
    ticket = tickets.ticket_purchase(room_id=on_sale.pk, buyer=UserFactory())
    event = event_for(fake_stripe.pay(ticket.checkout_id), "checkout.session.completed")
    assert post_webhook(client, event, secret="whsec_someone_else").status_code == 400
    no_header = client.post(WEBHOOK_URL, json.dumps(event), content_type="application/json")
    assert no_header.status_code == 400
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.PENDING
    assert not PaymentEvent.objects.exists()


def test_a_stale_timestamp_is_refused(fake_stripe, on_sale, client):
    ticket = tickets.ticket_purchase(room_id=on_sale.pk, buyer=UserFactory())
    event = event_for(fake_stripe.pay(ticket.checkout_id), "checkout.session.completed")
    # Stripe's default tolerance is 5 minutes.
    assert post_webhook(client, event, timestamp=int(time.time()) - 400).status_code == 400
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.PENDING and not PaymentEvent.objects.exists()


def test_an_expired_event_after_completed_keeps_the_ticket(fake_stripe, on_sale, client):
    ticket = tickets.ticket_purchase(room_id=on_sale.pk, buyer=UserFactory())
    session = fake_stripe.pay(ticket.checkout_id)
    assert post_webhook(client, event_for(session, "checkout.session.completed")).status_code == 200
    late = event_for({**session, "status": "expired"}, "checkout.session.expired")
    assert post_webhook(client, late).status_code == 200
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.PAID and seats(on_sale) == 1


def test_an_expired_checkout_frees_its_seat(fake_stripe, on_sale, client):
    ticket = tickets.ticket_purchase(room_id=on_sale.pk, buyer=UserFactory())
    session = {**fake_stripe.sessions[ticket.checkout_id], "status": "expired"}
    assert post_webhook(client, event_for(session, "checkout.session.expired")).content == b"expired"
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.EXPIRED and seats(on_sale) == 0
    # A payment that still lands later takes a seat again while one is free.
    paid = event_for(fake_stripe.pay(ticket.checkout_id), "checkout.session.completed")
    assert post_webhook(client, paid).content == b"fulfilled"
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.PAID and seats(on_sale) == 1


def test_a_completed_session_whose_payment_is_still_pending_does_not_fulfil(fake_stripe, on_sale, client):
    ticket = tickets.ticket_purchase(room_id=on_sale.pk, buyer=UserFactory())
    session = {**fake_stripe.sessions[ticket.checkout_id], "status": "complete", "payment_status": "unpaid"}
    assert post_webhook(client, event_for(session, "checkout.session.completed")).status_code == 200
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.PENDING
    succeeded = event_for(fake_stripe.pay(ticket.checkout_id), "checkout.session.async_payment_succeeded")
    assert post_webhook(client, succeeded).content == b"fulfilled"
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.PAID


def test_a_webhook_for_an_unknown_session_is_logged_and_changes_nothing(fake_stripe, on_sale, client, caplog):
    session = {
        "id": "cs_test_nobody",
        "object": "checkout.session",
        "status": "complete",
        "payment_status": "paid",
    }
    response = post_webhook(client, event_for(session, "checkout.session.completed"))
    assert response.status_code == 200 and response.content == b"unknown checkout"
    assert "unknown checkout cs_test_nobody" in caplog.text
    assert not Ticket.objects.exists() and seats(on_sale) == 0


def test_the_success_redirect_and_the_webhook_both_fulfil_safely(fake_stripe, on_sale, client):
    buyer = UserFactory()
    ticket = tickets.ticket_purchase(room_id=on_sale.pk, buyer=buyer)
    session = fake_stripe.pay(ticket.checkout_id)
    client.force_login(buyer)
    response = client.get(f"/tickets/{ticket.pk}/return/?session_id={ticket.checkout_id}")
    assert response.status_code == 302 and response["Location"] == f"/tickets/{ticket.pk}/"
    assert fake_stripe.sent("GET", f"/v1/checkout/sessions/{ticket.checkout_id}")
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.PAID
    assert post_webhook(client, event_for(session, "checkout.session.completed")).status_code == 200
    assert Ticket.objects.filter(room=on_sale).count() == 1 and seats(on_sale) == 1


def test_a_lapsed_hold_expires_the_session_at_stripe_and_frees_the_seat(fake_stripe, on_sale):
    ticket = tickets.ticket_purchase(room_id=on_sale.pk, buyer=UserFactory())
    Ticket.objects.filter(pk=ticket.pk).update(hold_until=timezone.now() - timedelta(seconds=1))
    assert tickets.tickets_release_expired_holds() == 1
    [expire] = fake_stripe.sent("POST", f"/v1/checkout/sessions/{ticket.checkout_id}/expire")
    assert expire["idempotency_key"] == f"spaces-checkout-{ticket.checkout_id}-expire"
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.EXPIRED and seats(on_sale) == 0


def test_a_hold_that_lapses_just_after_payment_is_fulfilled_not_released(fake_stripe, on_sale):
    ticket = tickets.ticket_purchase(room_id=on_sale.pk, buyer=UserFactory())
    fake_stripe.pay(ticket.checkout_id)  # the webhook has not come yet
    Ticket.objects.filter(pk=ticket.pk).update(hold_until=timezone.now() - timedelta(seconds=1))
    assert tickets.tickets_release_expired_holds() == 0
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.PAID and seats(on_sale) == 1


def test_a_checkout_stripe_refuses_to_open_gives_the_seat_back(fake_stripe, on_sale):
    fake_stripe.fail_next = 500
    with pytest.raises(tickets.ServiceError) as refused:
        tickets.ticket_purchase(room_id=on_sale.pk, buyer=UserFactory())
    assert refused.value.code == "payment_unavailable" and "nothing was charged" in refused.value.message
    assert seats(on_sale) == 0
    assert not Ticket.objects.filter(status__in=["pending", "paid"]).exists()


def test_cancelling_refunds_each_payment_through_stripe_once(
    fake_stripe, on_sale, client, django_capture_on_commit_callbacks
):
    holders = [UserFactory(), UserFactory()]
    sold = []
    for holder in holders:
        ticket = tickets.ticket_purchase(room_id=on_sale.pk, buyer=holder)
        post_webhook(client, event_for(fake_stripe.pay(ticket.checkout_id), "checkout.session.completed"))
        sold.append(ticket)
    with django_capture_on_commit_callbacks(execute=True):
        services.room_cancel(room=on_sale, actor=on_sale.host)
    refunds = fake_stripe.sent("POST", "/v1/refunds")
    assert sorted((r["fields"]["payment_intent"], r["idempotency_key"]) for r in refunds) == sorted(
        (f"pi_{t.checkout_id}", f"spaces-ticket-{t.pk}-refund") for t in sold
    )
    for ticket in sold:
        ticket.refresh_from_db()
        assert ticket.status == Ticket.Status.REFUNDED and ticket.refund_id.startswith("re_")
        assert Notification.objects.filter(recipient=ticket.buyer, kind=Notification.Kind.TICKET).count() == 1
    # A refund task delivered again asks nothing more of Stripe.
    tickets.ticket_refund(ticket_id=sold[0].pk)
    assert len(fake_stripe.sent("POST", "/v1/refunds")) == 2


def test_a_refund_that_fails_at_stripe_is_retried_with_the_same_key(fake_stripe, on_sale, client):
    ticket = tickets.ticket_purchase(room_id=on_sale.pk, buyer=UserFactory())
    post_webhook(client, event_for(fake_stripe.pay(ticket.checkout_id), "checkout.session.completed"))
    Ticket.objects.filter(pk=ticket.pk).update(refund_requested_at=timezone.now(), refund_reason="cancelled")
    fake_stripe.fail_next = 500
    with pytest.raises(tickets.PaymentError):
        tickets.ticket_refund(ticket_id=ticket.pk)
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.PAID and not ticket.is_valid
    tickets.ticket_refund(ticket_id=ticket.pk)
    keys = {r["idempotency_key"] for r in fake_stripe.sent("POST", "/v1/refunds")}
    assert keys == {f"spaces-ticket-{ticket.pk}-refund"}
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.REFUNDED and seats(on_sale) == 0


# -- malformed but correctly signed deliveries (issue 21, item 8) ------------------------------------


def post_signed(client, payload: str, *, timestamp: int | None = None):
    """POST `payload` exactly as given, signed with the configured secret as Stripe signs."""
    header = stripe.WebhookSignature.generate_signature_header(
        payload, WEBHOOK_SECRET, timestamp=timestamp or int(time.time())
    )
    return client.post(WEBHOOK_URL, payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)


def _completed(session: dict, **changes) -> dict:
    return {**event_for(session, "checkout.session.completed"), **changes}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(lambda session: json.dumps([_completed(session)]), id="a JSON array"),
        pytest.param(lambda session: json.dumps("evt_1"), id="a JSON string"),
        pytest.param(lambda session: "null", id="null"),
        pytest.param(lambda session: json.dumps(_completed(session, id="e" * 256)), id="an id of 256 chars"),
        pytest.param(lambda session: json.dumps(_completed(session, id=12345)), id="a numeric id"),
        pytest.param(lambda session: json.dumps(_completed(session, id="")), id="an empty id"),
        pytest.param(lambda session: json.dumps(_completed(session, type=["x"])), id="a list as type"),
        pytest.param(lambda session: json.dumps(_completed(session, type="t" * 101)), id="a type too long"),
        pytest.param(lambda session: json.dumps(_completed(session, data=[session])), id="data a list"),
        pytest.param(
            lambda session: json.dumps(_completed(session, data={"object": [session]})), id="object a list"
        ),
        pytest.param(
            lambda session: json.dumps(_completed({**session, "id": "cs_" + "x" * 300})),
            id="a session id too long",
        ),
        pytest.param(lambda session: json.dumps(_completed({**session, "id": 7})), id="a numeric session id"),
    ],
)
def test_a_signed_but_malformed_event_is_refused_logged_and_changes_nothing(
    fake_stripe, on_sale, client, caplog, body
):
    ticket = tickets.ticket_purchase(room_id=on_sale.pk, buyer=UserFactory())
    session = fake_stripe.pay(ticket.checkout_id)
    with caplog.at_level("WARNING", logger="rooms.services.payments"):
        response = post_signed(client, body(session))
    assert response.status_code == 400
    assert "stripe webhook rejected" in caplog.text
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.PENDING and seats(on_sale) == 1
    assert not PaymentEvent.objects.exists()
    # The same payment, well formed, is still fulfilled afterwards.
    assert post_webhook(client, event_for(session, "checkout.session.completed")).content == b"fulfilled"


def test_an_event_id_of_255_characters_is_accepted(fake_stripe, on_sale, client):
    ticket = tickets.ticket_purchase(room_id=on_sale.pk, buyer=UserFactory())
    event = event_for(fake_stripe.pay(ticket.checkout_id), "checkout.session.completed", "e" * 255)
    assert post_webhook(client, event).content == b"fulfilled"
    assert PaymentEvent.objects.get().event_id == "e" * 255


def test_a_timestamp_in_the_future_is_refused_like_a_stale_one(fake_stripe, on_sale, client):
    ticket = tickets.ticket_purchase(room_id=on_sale.pk, buyer=UserFactory())
    event = event_for(fake_stripe.pay(ticket.checkout_id), "checkout.session.completed")
    # A signature made for later is a signature someone can replay until then.
    assert post_webhook(client, event, timestamp=int(time.time()) + 400).status_code == 400
    assert post_webhook(client, event, timestamp=int(time.time()) + 10 * 365 * 86400).status_code == 400
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.PENDING and not PaymentEvent.objects.exists()
    # A clock a little ahead of ours is within the tolerance.
    assert post_webhook(client, event, timestamp=int(time.time()) + 60).content == b"fulfilled"
