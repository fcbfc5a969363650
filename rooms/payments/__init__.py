"""Payment providers behind one interface (base.PaymentProvider), chosen by settings.PAYMENT_PROVIDER.

Only rooms/services/tickets.py and payments.py call them. A ticket remembers the provider that sold
it, so a refund goes back through the same one even after the site switched providers.
"""

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

__all__ = [
    "Checkout",
    "CheckoutRequest",
    "CheckoutState",
    "PaymentError",
    "PaymentProvider",
    "WebhookEvent",
    "WebhookRejected",
    "get_provider",
]


def get_provider(name: str | None = None) -> PaymentProvider:
    """The provider called `name` (a ticket's), or the one the site sells with now."""
    name = name or settings.PAYMENT_PROVIDER
    # Each provider is imported when chosen, not at the top: a process loads only the library of the
    # provider it uses (stripe's takes 0.2 s to import, in every process that imports the services).
    if name == "development":
        from .development import DevelopmentProvider  # noqa: PLC0415 (the provider chosen, see above)

        return DevelopmentProvider()
    if name == "stripe":
        from .stripe_checkout import StripeCheckoutProvider  # noqa: PLC0415 (stripe: 0.2 s to import)

        return StripeCheckoutProvider()
    raise PaymentError(f"Unknown payment provider {name!r} (PAYMENT_PROVIDER is 'development' or 'stripe').")
