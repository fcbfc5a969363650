"""Middleware that must run before everything else: the client's real address, and /healthz."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def client_address(request: HttpRequest) -> str:
    """The address of the person making the request, as the trusted proxies saw it.

    Behind ``TRUSTED_PROXY_COUNT`` proxies that each append the address they received the request
    from to ``X-Forwarded-For`` (nginx's ``$proxy_add_x_forwarded_for``), the client is the entry
    that many places from the right: everything left of it was written by the client and proves
    nothing. With no trusted proxy, or no header, the socket's peer is the client. An empty string
    when neither says (daphne on a unix socket with no proxy in front).
    """
    count = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
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
    return request.META.get("REMOTE_ADDR") or ""


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


class HealthCheckMiddleware:
    """Answer ``/healthz`` before sessions, host checks and HTTPS redirects: a load balancer calls it
    every second, by address, over plain HTTP (see spaces_project/health.py)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            from .health import health_response

            return health_response()
        return self.get_response(request)
