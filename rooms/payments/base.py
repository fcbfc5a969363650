"""What every payment provider offers the ticket services. No Django models here: providers get
plain values and answer with plain values, and rooms/services/tickets.py keeps the state."""

from abc import ABC, abstractmethod
from dataclasses import dataclass


class PaymentError(Exception):
    """The provider could not do what was asked (unreachable, refused, misconfigured)."""


class WebhookRejected(Exception):
    """A webhook delivery that is not from the provider (bad or stale signature) or not readable."""


@dataclass(frozen=True)
class Checkout:
    """A checkout just started: where to send the buyer, or, for a provider that needs no visit
    (the development one), the payment already made."""

    checkout_id: str
    url: str = ""
    paid: bool = False
    payment_id: str = ""


@dataclass(frozen=True)
class CheckoutState:
    """What the provider says of a checkout now."""

    paid: bool
    open: bool  # still payable
    payment_id: str = ""


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook event, reduced to what fulfilment needs."""

    event_id: str
    type: str  # the provider's own name for it, as recorded
    checkout_id: str
    # What it means for the ticket: "paid" (fulfil), "expired" (free the seat) or "" (nothing).
    outcome: str = ""
    payment_id: str = ""


@dataclass(frozen=True)
class CheckoutRequest:
    """What a provider needs to sell one ticket."""

    ticket_id: int
    room_title: str
    amount: int  # minor unit
    currency: str
    buyer_email: str
    success_url: str
    cancel_url: str
    expires_at: int  # Unix time when the seat's hold lapses


class PaymentProvider(ABC):
    name: str
    # Whether people are sent to the provider's own page to pay.
    redirects: bool = True

    def instant_checkout(self) -> Checkout | None:
        """A checkout that is paid the moment it is made (no money moves, nobody is sent anywhere),
        or None if the buyer has to pay at the provider. The ticket is then paid in the same
        transaction that takes its seat."""
        return None

    @abstractmethod
    def start_checkout(self, request: CheckoutRequest) -> Checkout:
        """Open a checkout for one ticket. Safe to call twice for the same ticket (idempotent)."""

    @abstractmethod
    def checkout_state(self, checkout_id: str) -> CheckoutState:
        """Ask the provider how a checkout stands (the buyer came back from paying)."""

    @abstractmethod
    def close_checkout(self, checkout_id: str) -> CheckoutState:
        """Stop a checkout from being paid (its hold lapsed); return how it stands afterwards: a
        checkout that was paid meanwhile cannot be closed and says so."""

    @abstractmethod
    def refund(self, *, ticket_id: int, payment_id: str) -> str:
        """Give the whole payment back; return the refund's id. Safe to call twice."""

    def parse_webhook(self, payload: bytes, signature: str) -> WebhookEvent:
        """Verify and read one webhook delivery; raise WebhookRejected."""
        raise WebhookRejected(f"{self.name} sends no webhooks")
