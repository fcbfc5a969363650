"""The websocket Origin check: scheme, host and port must match exactly.

channels' AllowedHostsOriginValidator compares host names only, so a page on another port of the
same host (another application, another user's dev server) could open our sockets with the
visitor's cookies. Here the Origin must be one of WEBSOCKET_ALLOWED_ORIGINS or, when that is not
set, this very site as the socket reached it: `http://<Host>` for ws, `https://<Host>` for wss,
with a Host that ALLOWED_HOSTS accepts.

Behind the routes, `unknown_path_route` answers a socket to a path no route serves.
"""

import logging
from http.cookies import CookieError, SimpleCookie

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.urls import re_path
from django.utils import translation

from spaces_project.protocol import CLOSE_UNKNOWN_PATH

logger = logging.getLogger(__name__)


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin1")
    return None


def allowed_origins(scope) -> set[str]:
    configured = getattr(settings, "WEBSOCKET_ALLOWED_ORIGINS", [])
    if configured:
        return {origin.rstrip("/").lower() for origin in configured}
    host = (_header(scope, b"host") or "").lower()
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return set()
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    return {f"{scheme}://{host}"}


def origin_allowed(scope) -> bool:
    origin = _header(scope, b"origin")
    if not origin:
        return False
    return origin.rstrip("/").lower() in allowed_origins(scope)


class ExactOriginValidator:
    """Refuse the handshake (403) unless the Origin is exactly one we serve."""

    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.inner(scope, receive, send)


async def refuse_unknown_path(scope, receive, send) -> None:
    """Accept a socket to a path no route serves and close it at once with CLOSE_UNKNOWN_PATH, as every
    refused room socket is closed (so a client sees the code), and log one line. channels' URLRouter
    raises instead: daphne logs the traceback and answers 500."""
    if scope["type"] != "websocket":
        return
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    logger.warning("websocket refused, no route for %r", scope.get("path", ""))
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": CLOSE_UNKNOWN_PATH})


# Matches every path: it goes after the real routes.
unknown_path_route = re_path(r"", refuse_unknown_path)


def socket_language(scope) -> str:
    """The language of the page that opened a socket, as LocaleMiddleware chose it for that page: the
    language cookie, then Accept-Language, then LANGUAGE_CODE (docs/i18n.md)."""
    headers = {name.lower(): value.decode("latin-1") for name, value in scope.get("headers") or []}
    candidates = []
    try:
        cookie = SimpleCookie(headers.get(b"cookie", ""))
    except CookieError:
        cookie = SimpleCookie()
    if settings.LANGUAGE_COOKIE_NAME in cookie:
        candidates.append(cookie[settings.LANGUAGE_COOKIE_NAME].value)
    candidates += [part.split(";")[0].strip() for part in headers.get(b"accept-language", "").split(",")]
    for code in candidates:
        if code and code != "*":
            try:
                return translation.get_supported_language_variant(code)
            except LookupError:
                continue
    return settings.LANGUAGE_CODE
