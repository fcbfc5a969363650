"""Ticketed rooms' writes live in rooms/services/tickets.py (the provider's webhook in
rooms/services/payments.py); their reads in rooms/selectors/tickets.py. Re-exported here under the
names views, tasks and tests use (``rooms.tickets.ticket_purchase``)."""

from spaces_project.errors import ServiceError

from .payments import PaymentError
from .services.payments import (
    WebhookOutcome,
    payment_webhook_receive,
)
from .services.tickets import (
    REFUND_STUCK_AFTER,
    REFUND_TEXT,
    REFUND_TEXT_DEFAULT,
    RELEASE_BATCH,
    SEAT_HOLDING,
    price_label,
    ticket_checkout_expired,
    ticket_confirm_return,
    ticket_fulfil,
    ticket_purchase,
    ticket_refund,
    ticket_sales_set,
    ticket_sales_stop,
    tickets_account_deleting,
    tickets_holder_blocked,
    tickets_release_expired_holds,
    tickets_room_cancelled,
    tickets_room_rescheduled,
)

__all__ = [
    "PaymentError",
    "ServiceError",
    "WebhookOutcome",
    "payment_webhook_receive",
    "REFUND_STUCK_AFTER",
    "REFUND_TEXT",
    "REFUND_TEXT_DEFAULT",
    "RELEASE_BATCH",
    "SEAT_HOLDING",
    "price_label",
    "ticket_checkout_expired",
    "ticket_confirm_return",
    "ticket_fulfil",
    "ticket_purchase",
    "ticket_refund",
    "ticket_sales_set",
    "ticket_sales_stop",
    "tickets_account_deleting",
    "tickets_holder_blocked",
    "tickets_release_expired_holds",
    "tickets_room_cancelled",
    "tickets_room_rescheduled",
]
