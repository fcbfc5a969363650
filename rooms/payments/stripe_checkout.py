"""Stripe Checkout (the `stripe` package). A ticket is one Checkout Session in payment mode; the
webhook (/payments/stripe/webhook/) tells when it is paid or expired, and the buyer's return from
Stripe asks the same question directly, so whichever comes first fulfils the ticket.

Every call that changes something at Stripe carries an idempotency key derived from the ticket, so
a retry (ours, or the library's own network retries) never opens a second session or refunds twice.
"""

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
            # Stripe's default tolerance (5 minutes) refuses a stale timestamp: a replay attack.
            event = stripe.Webhook.construct_event(payload, signature, secret)
        except stripe.SignatureVerificationError as error:
            raise WebhookRejected(f"bad signature: {error}") from error
        except ValueError as error:
            raise WebhookRejected(f"unreadable payload: {error}") from error
        # Stripe's objects are not dicts (stripe 13+): read plain data.
        obj = event.to_dict().get("data", {}).get("object", {})
        is_session = obj.get("object") == "checkout.session"
        outcome = ""
        if is_session and event.type in FULFILLING_EVENTS:
            # "completed" with a payment still on its way (a bank debit) fulfils only when
            # async_payment_succeeded follows.
            if obj.get("payment_status") in ("paid", "no_payment_required"):
                outcome = "paid"
        elif is_session and event.type in EXPIRING_EVENTS:
            outcome = "expired"
        return WebhookEvent(
            event_id=event.id,
            type=event.type,
            checkout_id=obj.get("id", "") if is_session else "",
            outcome=outcome,
            payment_id=_payment_id(obj) if is_session else "",
        )


def _payment_id(session) -> str:
    intent = session.get("payment_intent")
    if isinstance(intent, dict):
        return intent.get("id", "")
    return intent or ""


def _state(session) -> CheckoutState:
    session = session.to_dict()
    return CheckoutState(
        paid=session.get("payment_status") in ("paid", "no_payment_required"),
        open=session.get("status") == "open",
        payment_id=_payment_id(session),
    )
