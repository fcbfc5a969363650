"""A payment provider's webhook: each delivery verified, recorded once, and applied to its ticket."""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from ..models import PaymentEvent, Ticket
from ..payments import PaymentError, WebhookEvent, WebhookRejected, get_provider
from .tickets import ticket_checkout_expired, ticket_fulfil

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookOutcome:
    accepted: bool  # False: the delivery is not from the provider (answer 400)
    result: str  # "fulfilled", "expired", "duplicate", "unknown checkout", "ignored", or why it was rejected


def payment_webhook_receive(*, provider_name: str, payload: bytes, signature: str) -> WebhookOutcome:
    """Verify and apply one webhook delivery. Each event is applied once: its id is recorded in the
    same transaction as its effect, under a unique constraint, so a replay (or two deliveries at
    once) finds it there and changes nothing."""
    try:
        provider = get_provider(provider_name)
        event = provider.parse_webhook(payload, signature)
        _refuse_what_does_not_fit(event)
    except (WebhookRejected, PaymentError) as error:
        logger.warning("%s webhook rejected: %s", provider_name, error)
        return WebhookOutcome(False, str(error))
    with transaction.atomic():
        try:
            with transaction.atomic():
                PaymentEvent.objects.create(
                    provider=provider.name,
                    event_id=event.event_id,
                    type=event.type,
                    checkout_id=event.checkout_id,
                )
        except IntegrityError:
            return WebhookOutcome(True, "duplicate")
        if not event.checkout_id:
            return WebhookOutcome(True, "ignored")
        if event.outcome == "paid":
            ticket = ticket_fulfil(checkout_id=event.checkout_id, payment_id=event.payment_id)
            return WebhookOutcome(True, "fulfilled" if ticket else "unknown checkout")
        if event.outcome == "expired":
            ticket = ticket_checkout_expired(checkout_id=event.checkout_id)
            return WebhookOutcome(True, "expired" if ticket else "unknown checkout")
    return WebhookOutcome(True, "ignored")


# What a webhook event's values are stored in; a longer value is no event of the provider's.
_WEBHOOK_COLUMNS = (
    ("event_id", PaymentEvent._meta.get_field("event_id")),
    ("type", PaymentEvent._meta.get_field("type")),
    ("checkout_id", PaymentEvent._meta.get_field("checkout_id")),
    ("payment_id", Ticket._meta.get_field("payment_id")),
)


def _refuse_what_does_not_fit(event: WebhookEvent) -> None:
    """Raise WebhookRejected if a value of `event` is longer than its column: a correctly signed
    delivery is still not written if the database would refuse it."""
    for name, column in _WEBHOOK_COLUMNS:
        if len(getattr(event, name)) > column.max_length:
            raise WebhookRejected(f"its {name} is longer than {column.max_length} characters")
