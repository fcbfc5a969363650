"""Web Push: a person's devices (subscriptions), and each notification pushed to each device once.

A page sends its browser's `PushSubscription.toJSON()`; `notify` marks the notifications that a
device wants pushed; a Celery task per batch makes one `PushDelivery` per device and notification and
queues one task per delivery, so a slow or dead push service holds up only its own pushes, never an
email or an in-app notice. docs/push.md tells the whole path.
"""

import ipaddress
import json
import logging
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.db import transaction
from django.templatetags.static import static
from django.utils import timezone
from django.utils.translation import gettext as _
from pywebpush import WebPushException, webpush

from spaces_project.errors import Invalid, ServiceError
from spaces_project.tasks import dispatch
from spaces_project.vapid import b64url_decode

from ..models import PUSH_KINDS, Notification, PushDelivery, PushSubscription, User

logger = logging.getLogger(__name__)

ENDPOINT_MAX_CHARS = 2048
LOCALHOST_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
# How long a push service keeps a push for a device that is off: what happens now is worth 15
# minutes (a room that is live, a reminder or ticket of a room starting, an invitation to speak); an
# invitation to a later room, a day.
NOW_TTL_S = 15 * 60
LATER_TTL_S = 24 * 3600
# The session's list of the devices turned on in that browser (accounts/push_views.py), forgotten
# when the person signs out there (accounts.adapter.AccountAdapter.logout).
SESSION_ENDPOINTS = "push_endpoints"
# Tries of one push before it is given up (the task retries with backoff between them).
PUSH_MAX_ATTEMPTS = 5


# In PUSH_KINDS' order, as plain strings (what the JSON column keeps).
_KIND_VALUES = [str(kind.value) for kind in PUSH_KINDS]


class PushRetry(Exception):
    """The push service did not take the push this time (no answer in time, 429 or 5xx): try again."""


def push_available() -> bool:
    """Whether this site sends pushes: on, with its VAPID pair."""
    return bool(settings.PUSH_ENABLED and settings.VAPID_PUBLIC_KEY and settings.VAPID_PRIVATE_KEY)


# -- subscriptions -------------------------------------------------------------------------------


def _check_endpoint(endpoint: object) -> str:
    if not isinstance(endpoint, str) or not endpoint:
        raise Invalid("bad_endpoint", _("The subscription has no endpoint."))
    if len(endpoint) > ENDPOINT_MAX_CHARS:
        raise Invalid(
            "bad_endpoint",
            _("An endpoint has at most %(count)s characters.") % {"count": ENDPOINT_MAX_CHARS},
        )
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        raise Invalid("bad_endpoint", _("The endpoint is not a URL.")) from None
    if not host or parts.username or parts.password or any(c.isspace() for c in endpoint):
        raise Invalid("bad_endpoint", _("The endpoint is not a URL."))
    local = host in LOCALHOST_NAMES and settings.PUSH_ALLOW_INSECURE_LOCALHOST
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise Invalid("bad_endpoint", _("A push endpoint must be an https:// URL."))
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    # Push services have public names: the server must not be made to post to its own network.
    if address is not None and not address.is_global and not local:
        raise Invalid("bad_endpoint", _("A push endpoint must be a push service on the internet."))
    return endpoint


def _check_keys(keys: object) -> tuple[str, str]:
    if not isinstance(keys, dict):
        raise Invalid("bad_keys", _("The subscription's keys are missing."))
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    try:
        point = b64url_decode(p256dh)
        # Raises ValueError unless it is an uncompressed point on P-256 (RFC 8291's 65 bytes).
        if len(point) != 65:
            raise ValueError("not an uncompressed point")
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except (ValueError, TypeError):
        raise Invalid("bad_keys", _("The subscription's p256dh key is not a P-256 public key.")) from None
    try:
        if len(b64url_decode(auth)) != 16:
            raise ValueError("not 16 bytes")
    except (ValueError, TypeError):
        raise Invalid("bad_keys", _("The subscription's auth secret is not 16 bytes of base64url.")) from None
    return p256dh, auth


def _check_kinds(kinds: object) -> list[str]:
    if not isinstance(kinds, list) or not all(isinstance(kind, str) for kind in kinds):
        raise Invalid("bad_kinds", _("kinds is a list of kinds of notification."))
    unknown = set(kinds) - set(_KIND_VALUES)
    if unknown:
        raise Invalid(
            "bad_kinds",
            _("These are not kinds a device is pushed: %(kinds)s.") % {"kinds": ", ".join(sorted(unknown))},
        )
    return [kind for kind in _KIND_VALUES if kind in kinds]


@transaction.atomic
def push_subscription_save(
    *, user: User, endpoint: object, keys: object, kinds: object = None
) -> PushSubscription:
    """Take pushes on the device `endpoint` names for `user`: its keys, and `kinds` when given (a new
    device starts with every kind of PUSH_KINDS on; a known one keeps its choice). Saving again with
    new keys renews them. An endpoint another person had moves to `user`: one browser, whoever turned
    push on there last. Invalid (400) for malformed data or an 11th device."""
    if not getattr(user, "is_authenticated", False):
        raise ServiceError("sign_in_required", _("Sign in to get notifications on this device."))
    if not push_available():
        raise ServiceError("push_off", _("This site does not send push notifications."))
    endpoint = _check_endpoint(endpoint)
    p256dh, auth = _check_keys(keys)
    chosen = None if kinds is None else _check_kinds(kinds)
    # The person's row is the lock that keeps two devices saved at once within the limit.
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_suspended or not user.is_active:
        raise ServiceError("suspended", _("Your account is suspended."))
    existing = PushSubscription.objects.select_for_update().filter(endpoint=endpoint).first()
    if existing is not None and existing.user_id != user.pk:
        existing.delete()
        existing = None
    if existing is None:
        if PushSubscription.objects.filter(user=user).count() >= settings.PUSH_SUBSCRIPTIONS_PER_USER:
            raise Invalid(
                "too_many_devices",
                _("Push is on for %(count)s devices already: turn it off on one first.")
                % {"count": settings.PUSH_SUBSCRIPTIONS_PER_USER},
            )
        return PushSubscription.objects.create(
            user=user,
            endpoint=endpoint,
            p256dh=p256dh,
            auth=auth,
            kinds=list(_KIND_VALUES) if chosen is None else chosen,
        )
    existing.p256dh, existing.auth = p256dh, auth
    if chosen is not None:
        existing.kinds = chosen
    existing.save(update_fields=["p256dh", "auth", "kinds"])
    return existing


def push_subscription_delete(*, user: User, endpoint: object) -> bool:
    """Stop pushes to the device `endpoint` names (only one of `user`'s); whether there was one."""
    if not getattr(user, "is_authenticated", False):
        raise ServiceError("sign_in_required", _("Sign in to change notifications on this device."))
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > ENDPOINT_MAX_CHARS:
        raise Invalid("bad_endpoint", _("The subscription has no endpoint."))
    deleted, _ignored = PushSubscription.objects.filter(user=user, endpoint=endpoint).delete()
    return bool(deleted)


def push_subscriptions_sign_out(*, user: User, endpoints: object) -> int:
    """`user` signs out of a browser: forget the devices among `endpoints` (the ones turned on in that
    browser's session) so that whoever uses the browser next gets none of their notices; how many."""
    if not getattr(user, "is_authenticated", False) or not isinstance(endpoints, list):
        return 0
    endpoints = [e for e in endpoints if isinstance(e, str)][: settings.PUSH_SUBSCRIPTIONS_PER_USER * 2]
    if not endpoints:
        return 0
    _, deleted = PushSubscription.objects.filter(user=user, endpoint__in=endpoints).delete()
    return deleted.get(PushSubscription._meta.label, 0)


def push_subscriptions_delete_all(*, user: User) -> int:
    """Forget every device of `user` (suspended: nothing may reach them any more); how many."""
    _ignored, deleted = PushSubscription.objects.filter(user=user).delete()
    return deleted.get(PushSubscription._meta.label, 0)


# -- delivery ------------------------------------------------------------------------------------


def push_deliveries_queue(*, notification_ids: list[int]) -> int:
    """Make one delivery per notification of `notification_ids` that wants a push and per device of
    its recipient that wants its kind, and queue each one's task once the rows are saved; return how
    many were queued. Safe to run twice: a delivery is made once, and only unfinished ones are queued
    (their task skips what another has done)."""
    with transaction.atomic():
        notifications = list(
            Notification.objects.filter(pk__in=notification_ids, push_wanted=True).values_list(
                "pk", "recipient_id", "kind"
            )
        )
        devices: dict[int, list[tuple[int, list[str]]]] = {}
        for pk, user_id, kinds in PushSubscription.objects.filter(
            user_id__in={user_id for _, user_id, _ in notifications}
        ).values_list("pk", "user_id", "kinds"):
            devices.setdefault(user_id, []).append((pk, kinds))
        PushDelivery.objects.bulk_create(
            [
                PushDelivery(subscription_id=device, notification_id=pk)
                for pk, user_id, kind in notifications
                for device, kinds in devices.get(user_id, ())
                if kind in kinds
            ],
            ignore_conflicts=True,
        )
        pending = list(
            PushDelivery.objects.filter(
                notification_id__in=[pk for pk, _, _ in notifications], done_at__isnull=True
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for delivery_id in pending:
            dispatch("accounts.tasks.send_push", delivery_id)
    return len(pending)


def _absolute(url: str) -> str:
    return url if url.startswith(("https://", "http://")) else settings.SITE_URL.rstrip("/") + url


def push_payload(notification: Notification) -> dict[str, str]:
    """What the service worker shows (static/root/sw.js's push handler): a title, a body, the URL a
    click opens (the room, marked as reached from a push) and an icon."""
    actor = notification.actor
    path = notification.url if notification.url.startswith("/") else "/"
    url = _absolute(path) + ("&" if "?" in path else "?") + "src=push"
    if actor is not None and actor.avatar_256:
        icon = _absolute(actor.avatar_256.url)
    else:
        icon = _absolute(static("icons/icon-192.png"))
    return {
        "title": actor.name if actor is not None else "Spaces",
        "body": notification.text,
        "url": url,
        "icon": icon,
        # A newer notice about the same room replaces the older one on the device.
        "tag": f"room-{notification.room_id}" if notification.room_id else f"notification-{notification.pk}",
    }


def push_ttl_and_urgency(notification: Notification, *, now=None) -> tuple[int, str]:
    """How long a push service may keep this notification for an unreachable device (seconds left of
    what it is worth, 0 when it is worth nothing any more), and its urgency (RFC 8030): high while
    its room is live."""
    now = now or timezone.now()
    room = notification.room
    if room is not None and room.state in ("ended", "cancelled"):
        return 0, "normal"
    live = room is not None and room.state == "live"
    later = notification.kind == Notification.Kind.ROOM_INVITE and not live
    worth = LATER_TTL_S if later else NOW_TTL_S
    left = int(worth - (now - notification.created_at).total_seconds())
    return max(0, left), "high" if live else "normal"


def _post(subscription: PushSubscription, payload: dict, *, ttl: int, urgency: str) -> int | None:
    """Send one push; the push service's status, None when it did not answer in time."""
    try:
        response = webpush(
            subscription_info={
                "endpoint": subscription.endpoint,
                "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
            },
            data=json.dumps(payload),
            vapid_private_key=settings.VAPID_PRIVATE_KEY,
            vapid_claims={"sub": settings.VAPID_SUBJECT},
            ttl=ttl,
            headers={"Urgency": urgency},
            timeout=settings.PUSH_TIMEOUT_S,
        )
    except WebPushException as error:
        return error.response.status_code if error.response is not None else None
    except requests.RequestException as error:
        logger.warning("push to %s failed: %s", urlsplit(subscription.endpoint).hostname, error)
        return None
    return response.status_code


def _finish(delivery: PushDelivery, outcome: str) -> str:
    delivery.done_at = timezone.now()
    delivery.outcome = outcome
    delivery.save(update_fields=["attempts", "done_at", "outcome"])
    return outcome


def push_delivery_send(*, delivery_id: int) -> str:
    """Push one notification to one device, once; return what became of it.

    The delivery's row is locked while the push goes out (a second worker skips it) and marked in the
    same transaction. A device the push service no longer knows (404, 410) is forgotten. No answer in
    time, 429 or a 5xx raise PushRetry once the attempt is noted, for the task to retry with backoff;
    after PUSH_MAX_ATTEMPTS, or once the notice is worth nothing (its TTL has run out, its room is
    over), it is given up.
    """
    with transaction.atomic():
        delivery = (
            PushDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("subscription", "notification__actor", "notification__room")
            .filter(pk=delivery_id, done_at__isnull=True)
            .first()
        )
        if delivery is None:
            return "skipped"
        notification = delivery.notification
        ttl, urgency = push_ttl_and_urgency(notification)
        if ttl <= 0:
            return _finish(delivery, "expired")
        if delivery.attempts >= PUSH_MAX_ATTEMPTS:
            return _finish(delivery, "given up")
        delivery.attempts += 1
        status = _post(delivery.subscription, push_payload(notification), ttl=ttl, urgency=urgency)
        if status is not None and 200 <= status < 300:
            PushSubscription.objects.filter(pk=delivery.subscription_id).update(
                last_success_at=timezone.now()
            )
            return _finish(delivery, "sent")
        if status in (404, 410):
            # The browser unsubscribed or the subscription expired: it will never take a push again.
            delivery.subscription.delete()
            return "gone"
        if status is not None and status != 429 and status < 500:
            # The push service refuses this push for good (too large, bad key, forbidden).
            logger.warning("push service refused delivery %s with %s", delivery.pk, status)
            return _finish(delivery, f"refused {status}")
        delivery.save(update_fields=["attempts"])
    raise PushRetry(f"push service answered {status or 'nothing in time'}")


def push_delivery_give_up(*, delivery_id: int, reason: str) -> int:
    logger.error("giving up on push delivery %s: %s", delivery_id, reason)
    return PushDelivery.objects.filter(pk=delivery_id, done_at__isnull=True).update(
        done_at=timezone.now(), outcome="given up"
    )


def push_deliveries_purge(*, older_than: timedelta = timedelta(days=7)) -> int:
    """Forget the deliveries finished long ago (a notice is not pushed again after its TTL)."""
    deleted, _ignored = PushDelivery.objects.filter(done_at__lt=timezone.now() - older_than).delete()
    return deleted
