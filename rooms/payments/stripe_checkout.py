"""Stripe Checkout (the `stripe` package). A ticket is one Checkout Session in payment mode; the
webhook (/payments/stripe/webhook/) tells when it is paid or expired, and the buyer's return from
Stripe asks the same question directly, so whichever comes first fulfils the ticket.

Every call that changes something at Stripe carries an idempotency key derived from the ticket, so
a retry (ours, or the library's own network retries) never opens a second session or refunds twice.
"""

import json
import time

import stripe
from django.conf import settings

from .base import (
    Checkout,
    CheckoutRequest,
    CheckoutState,
    PaymentError,
    PaymentProvider,
    WebhookEvent,
    WebhookRejected,
)

# Stripe accepts a session's expires_at from 30 minutes to 24 hours ahead. Holds are shorter
# (TICKET_HOLD_MINUTES): the hold's end closes the session explicitly (close_checkout); this is only
# Stripe's own backstop.
MIN_SESSION_LIFETIME_S = 30 * 60 + 60

FULFILLING_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
EXPIRING_EVENTS = ("checkout.session.expired",)
# A delivery's signed timestamp may be this far from our clock, either way (Stripe's default: 5 min).
WEBHOOK_TOLERANCE_S = stripe.Webhook.DEFAULT_TOLERANCE


def checkout_key(ticket_id: int) -> str:
    return f"spaces-ticket-{ticket_id}-checkout"


def refund_key(ticket_id: int) -> str:
    return f"spaces-ticket-{ticket_id}-refund"


def expire_key(ticket_id_or_session: str) -> str:
    return f"spaces-checkout-{ticket_id_or_session}-expire"


class StripeCheckoutProvider(PaymentProvider):
    name = "stripe"

    def __init__(self) -> None:
        if not settings.STRIPE_SECRET_KEY:
            raise PaymentError("Set STRIPE_SECRET_KEY to sell tickets through Stripe.")
        self.options = {"api_key": settings.STRIPE_SECRET_KEY}
        stripe.max_network_retries = settings.STRIPE_MAX_NETWORK_RETRIES
        stripe.api_base = settings.STRIPE_API_BASE

    def start_checkout(self, request: CheckoutRequest) -> Checkout:
        expires_at = max(request.expires_at, int(time.time()) + MIN_SESSION_LIFETIME_S)
        try:
            session = stripe.checkout.Session.create(
                mode="payment",
                line_items=[
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": request.currency.lower(),
                            "unit_amount": request.amount,
                            "product_data": {"name": f"Ticket: {request.room_title}"[:250]},
                        },
                    }
                ],
                client_reference_id=str(request.ticket_id),
                metadata={"ticket_id": str(request.ticket_id)},
                customer_email=request.buyer_email or None,
                success_url=request.success_url,
                cancel_url=request.cancel_url,
                expires_at=expires_at,
                idempotency_key=checkout_key(request.ticket_id),
                **self.options,
            )
        except stripe.StripeError as error:
            raise PaymentError(f"Stripe refused the checkout: {error.user_message or error}") from error
        return Checkout(checkout_id=session.id, url=session.url or "")

    def checkout_state(self, checkout_id: str) -> CheckoutState:
        try:
            session = stripe.checkout.Session.retrieve(checkout_id, **self.options)
        except stripe.StripeError as error:
            raise PaymentError(f"Stripe did not answer: {error.user_message or error}") from error
        return _state(session)

    def close_checkout(self, checkout_id: str) -> CheckoutState:
        try:
            session = stripe.checkout.Session.expire(
                checkout_id, idempotency_key=expire_key(checkout_id), **self.options
            )
        except stripe.InvalidRequestError:
            # Only an open session can be expired: it was paid (or expired) meanwhile. Ask.
            return self.checkout_state(checkout_id)
        except stripe.StripeError as error:
            raise PaymentError(f"Stripe did not answer: {error.user_message or error}") from error
        return _state(session)

    def refund(self, *, ticket_id: int, payment_id: str) -> str:
        if not payment_id:
            raise PaymentError("This ticket has no payment to refund.")
        try:
            refund = stripe.Refund.create(
                payment_intent=payment_id,
                metadata={"ticket_id": str(ticket_id)},
                idempotency_key=refund_key(ticket_id),
                **self.options,
            )
        except stripe.StripeError as error:
            raise PaymentError(f"Stripe refused the refund: {error.user_message or error}") from error
        return refund.id

    def parse_webhook(self, payload: bytes, signature: str) -> WebhookEvent:
        secret = settings.STRIPE_WEBHOOK_SECRET
        if not secret:
            raise WebhookRejected("STRIPE_WEBHOOK_SECRET is not set")
        try:
            # Stripe's check refuses a timestamp older than the tolerance: a replayed delivery.
            stripe.WebhookSignature.verify_header(payload, signature, secret, WEBHOOK_TOLERANCE_S)
        except stripe.SignatureVerificationError as error:
            raise WebhookRejected(f"bad signature: {error}") from error
        except ValueError as error:  # not UTF-8
            raise WebhookRejected(f"unreadable payload: {error}") from error
        # It lets any timestamp ahead of our clock through: a delivery signed for later could be
        # replayed until then. Refused the same way.
        signed_at = _signed_at(signature)
        if signed_at > time.time() + WEBHOOK_TOLERANCE_S:
            raise WebhookRejected(f"timestamp {signed_at} is in the future")
        try:
            event = json.loads(payload)
        except ValueError as error:
            raise WebhookRejected(f"unreadable payload: {error}") from error
        return _read_event(event)


def _signed_at(header: str) -> int:
    """The timestamp of a verified Stripe-Signature header, read as Stripe reads it (the first t=)."""
    for item in header.split(","):
        parts = item.split("=", 2)
        if parts[0] == "t" and len(parts) > 1:
            return int(parts[1])
    raise WebhookRejected("no timestamp")


def _read_event(event) -> WebhookEvent:
    """The parts of a signed event fulfilment needs. Signed is not well formed: anything that is not
    an event with an id, a type and an object is refused, not guessed at."""
    if not isinstance(event, dict):
        raise WebhookRejected(f"the payload is a JSON {type(event).__name__}, not an event")
    event_id, kind, data = event.get("id"), event.get("type"), event.get("data")
    if not isinstance(event_id, str) or not event_id:
        raise WebhookRejected("the event has no id")
    if not isinstance(kind, str) or not kind:
        raise WebhookRejected(f"event {event_id[:80]} has no type")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise WebhookRejected(f"event {event_id[:80]} carries no object")
    if obj.get("object") != "checkout.session":
        return WebhookEvent(event_id=event_id, type=kind, checkout_id="")
    checkout_id = obj.get("id")
    if not isinstance(checkout_id, str) or not checkout_id:
        raise WebhookRejected(f"event {event_id[:80]} names no checkout session")
    outcome = ""
    if kind in FULFILLING_EVENTS:
        # "completed" with a payment still on its way (a bank debit) fulfils only when
        # async_payment_succeeded follows.
        if obj.get("payment_status") in ("paid", "no_payment_required"):
            outcome = "paid"
    elif kind in EXPIRING_EVENTS:
        outcome = "expired"
    return WebhookEvent(
        event_id=event_id,
        type=kind,
        checkout_id=checkout_id,
        outcome=outcome,
        payment_id=_payment_id(obj),
    )


def _payment_id(session: dict) -> str:
    intent = session.get("payment_intent")
    if isinstance(intent, dict):
        intent = intent.get("id")
    return intent if isinstance(intent, str) else ""


def _state(session) -> CheckoutState:
    session = session.to_dict()
    return CheckoutState(
        paid=session.get("payment_status") in ("paid", "no_payment_required"),
        open=session.get("status") == "open",
        payment_id=_payment_id(session),
    )
