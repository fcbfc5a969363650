"""The notification settings page's script turns Web Push on and off for its device here: it posts
the browser's `PushSubscription.toJSON()` as JSON, with the CSRF token in its header. Both answer
JSON; a refusal is JSON too (400 for malformed data, 403 otherwise: spaces_project/refusals.py)."""

import json

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from spaces_project.errors import Invalid
from spaces_project.refusals import refusal_json

from . import services
from .models import PUSH_KINDS, Notification
from .services.push import SESSION_ENDPOINTS, push_available

# What each kind of PUSH_KINDS pushes (a ticket's push is its room starting, not a refund).
PUSH_LABELS = {
    Notification.Kind.HOST_LIVE: gettext_lazy("Someone you follow goes live"),
    Notification.Kind.REMINDER: gettext_lazy("A room you set a reminder for starts"),
    Notification.Kind.ROOM_INVITE: gettext_lazy("Someone invites you to a room"),
    Notification.Kind.SPEAK_INVITE: gettext_lazy("Someone invites you to speak"),
    Notification.Kind.TICKET: gettext_lazy("A room you hold a ticket for starts"),
}

# toJSON() of a subscription is well under 1 KB; the endpoint alone may have 2 KB.
BODY_MAX_BYTES = 8 * 1024


def _json_body(request: HttpRequest) -> dict:
    if len(request.body) > BODY_MAX_BYTES:
        raise Invalid("too_large", _("The subscription is too large."))
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise Invalid("bad_json", _("Send the subscription as JSON.")) from None
    if not isinstance(data, dict):
        raise Invalid("bad_json", _("Send the subscription as a JSON object."))
    return data


@require_POST
@refusal_json
def push_subscribe(request: HttpRequest) -> JsonResponse:
    data = _json_body(request)
    subscription = services.push_subscription_save(
        user=request.user, endpoint=data.get("endpoint"), keys=data.get("keys"), kinds=data.get("kinds")
    )
    remembered = [e for e in request.session.get(SESSION_ENDPOINTS, []) if e != subscription.endpoint]
    request.session[SESSION_ENDPOINTS] = [*remembered, subscription.endpoint][
        -settings.PUSH_SUBSCRIPTIONS_PER_USER :
    ]
    return JsonResponse({"endpoint": subscription.endpoint, "kinds": subscription.kinds})


@require_POST
@refusal_json
def push_unsubscribe(request: HttpRequest) -> JsonResponse:
    data = _json_body(request)
    endpoint = data.get("endpoint")
    deleted = services.push_subscription_delete(user=request.user, endpoint=endpoint)
    request.session[SESSION_ENDPOINTS] = [
        e for e in request.session.get(SESSION_ENDPOINTS, []) if e != endpoint
    ]
    return JsonResponse({"deleted": deleted})


def push_settings(request: HttpRequest) -> dict:
    """The notification settings page's "Push on this device" section: the site's VAPID public key
    (none: push is off here, and the section is left out) and the kinds a device may take."""
    if not push_available():
        return {"push_public_key": ""}
    return {
        "push_public_key": settings.VAPID_PUBLIC_KEY,
        "push_kinds": [(kind.value, PUSH_LABELS[kind]) for kind in PUSH_KINDS],
    }
