"""Middleware that must run before everything else: the client's real address, and /healthz."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .health import health_response


def resolve_client_address(forwarded: str, peer: str) -> str:
    """The address of the person making a request, as the trusted proxies saw it.

    Behind ``TRUSTED_PROXY_COUNT`` proxies that each append the address they received the request
    from to ``X-Forwarded-For`` (nginx's ``$proxy_add_x_forwarded_for``), the client is the entry
    that many places from the right: everything left of it was written by the client and proves
    nothing. With no trusted proxy, or no header, the socket's peer is the client. An empty string
    when neither says (daphne on a unix socket with no proxy in front).
    """
    count = settings.TRUSTED_PROXY_COUNT
    if count > 0 and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            # Fewer hops than trusted proxies: the request skipped a proxy (a health check from the
            # host itself); the leftmost is still the farthest anyone vouches for.
            candidate = hops[-count] if len(hops) >= count else hops[0]
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                pass
    return peer or ""


def client_address(request: HttpRequest) -> str:
    return resolve_client_address(
        request.META.get("HTTP_X_FORWARDED_FOR", ""), request.META.get("REMOTE_ADDR", "")
    )


class ClientAddressMiddleware:
    """Put the real client address in ``REMOTE_ADDR``, so that Django, allauth's rate limits, the
    admin's sign-in and every log agree on one address per person (the proxy's address shared by
    everyone locked real people out after ten failed sign-ins for made-up emails)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        address = client_address(request)
        if address:
            request.META["REMOTE_ADDR"] = address
        return self.get_response(request)


class WebsocketClientAddressMiddleware:
    """The same rule for websockets (ASGI): the scope's client becomes the real client address.
    daphne's ``--proxy-headers`` takes the leftmost X-Forwarded-For entry, which the client writes;
    the room's cap on anonymous sockets per address must not be that easy to get around."""

    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if settings.TRUSTED_PROXY_COUNT > 0:
            forwarded = b",".join(
                value for name, value in scope.get("headers", ()) if name == b"x-forwarded-for"
            )
            peer = (scope.get("client") or ("", 0))[0] or ""
            address = resolve_client_address(forwarded.decode("latin1"), peer)
            if address:
                scope = dict(scope, client=[address, 0])
            # daphne leaves the scheme out of a websocket's scope even with --proxy-headers; the
            # Origin check needs it (https pages open wss sockets through the proxy).
            proto = [value for name, value in scope.get("headers", ()) if name == b"x-forwarded-proto"]
            if proto:
                last = proto[-1].decode("latin1").split(",")[-1].strip().lower()
                if last in ("http", "https"):
                    scope = dict(scope, scheme="wss" if last == "https" else "ws")
        return await self.inner(scope, receive, send)


class HealthCheckMiddleware:
    """Answer ``/healthz`` before sessions, host checks and HTTPS redirects: a load balancer calls it
    every second, by address, over plain HTTP (see spaces_project/health.py)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            return health_response()
        return self.get_response(request)
