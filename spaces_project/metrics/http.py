"""What the web processes measure of their requests and sockets."""

import time

from django.http import HttpRequest, HttpResponse

from spaces_project.protocol import USER_SOCKET_PATH

from . import HTTP_DURATION, HTTP_RESPONSES, WEBSOCKETS_OPEN

# Answered before a view was chosen: /healthz, a redirect to HTTPS, a static file, a host refused.
NO_VIEW = "(none)"
# No URL pattern matched.
NOT_FOUND = "(not found)"


def view_label(request: HttpRequest, status: int) -> str:
    """The name of the URL pattern that answered (``rooms:detail``), never the path: one series
    per view however many rooms there are. A view without a name goes by its function's path."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return NOT_FOUND if status == 404 else NO_VIEW
    return match.view_name or match._func_path


class RequestMetricsMiddleware:
    """Time every request from here to its response, and count responses by view and status class.
    First in MIDDLEWARE, so that the time includes the other middleware."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        # Each view's series, looked up once (prometheus-client's `labels` takes a lock each time).
        self.durations: dict[str, object] = {}
        self.responses: dict[tuple[str, int], object] = {}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        view = view_label(request, response.status_code)
        duration = self.durations.get(view)
        if duration is None:
            duration = self.durations[view] = HTTP_DURATION.labels(view=view)
        duration.observe(elapsed)
        key = (view, response.status_code // 100)
        responses = self.responses.get(key)
        if responses is None:
            responses = self.responses[key] = HTTP_RESPONSES.labels(view=view, status=f"{key[1]}xx")
        responses.inc()
        return response


def socket_kind(path: str) -> str:
    if path.startswith("/ws/rooms/"):
        return "room"
    return "personal" if path == USER_SOCKET_PATH else "other"


class CountedWebsockets:
    """ASGI middleware: how many websockets this process has open, by kind, from the handshake to
    the end of the connection, whatever way it ends."""

    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope, receive, send):
        gauge = WEBSOCKETS_OPEN.labels(kind=socket_kind(scope.get("path", "")))
        gauge.inc()
        try:
            return await self.inner(scope, receive, send)
        finally:
            gauge.dec()
