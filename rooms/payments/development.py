"""The development provider: every checkout is paid at once and no money moves, so `make run` sells
tickets with no account anywhere. Production settings refuse it (PAYMENTS_DEVELOPMENT_ALLOWED)."""

import uuid

from django.conf import settings

from .base import Checkout, CheckoutRequest, CheckoutState, PaymentError, PaymentProvider


class DevelopmentProvider(PaymentProvider):
    name = "development"
    redirects = False

    def __init__(self) -> None:
        if not settings.PAYMENTS_DEVELOPMENT_ALLOWED:
            raise PaymentError("The development payment provider is not allowed with these settings.")

    def instant_checkout(self) -> Checkout:
        token = uuid.uuid4().hex
        return Checkout(checkout_id=f"dev_cs_{token}", paid=True, payment_id=f"dev_pi_{token}")

    def start_checkout(self, request: CheckoutRequest) -> Checkout:
        return Checkout(
            checkout_id=f"dev_cs_{request.ticket_id}_{uuid.uuid4().hex[:12]}",
            paid=True,
            payment_id=f"dev_pi_{request.ticket_id}",
        )

    def checkout_state(self, checkout_id: str) -> CheckoutState:
        return CheckoutState(paid=True, open=False, payment_id="")

    def close_checkout(self, checkout_id: str) -> CheckoutState:
        return CheckoutState(paid=True, open=False, payment_id="")

    def refund(self, *, ticket_id: int, payment_id: str) -> str:
        return f"dev_re_{ticket_id}"
