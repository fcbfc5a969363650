"""Content-Security-Policy with a fresh nonce per response.

Scripts run only from our own origin or with this response's nonce: no `unsafe-inline`, no
`eval`. Styles may be inline (templates carry small <style> blocks and computed `style=`
positions); that is not a script-injection path. Sockets may go to this host only.
"""

import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.functional import SimpleLazyObject

from . import media


def _origin(url: str) -> str:
    """scheme://host[:port] of an absolute URL, "" for a path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


def _policy(request, nonce: str) -> str:
    host = request.get_host()
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", f"'nonce-{nonce}'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "media-src": ["'self'", "blob:"],
        "font-src": ["'self'"],
        # 'self' covers ws: on the same host in CSP 3; browsers that predate it need it spelled out.
        "connect-src": ["'self'", f"ws://{host}", f"wss://{host}"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    hls_origin = _origin(settings.HLS_URL_PREFIX)
    if hls_origin:
        # Live HLS from a CDN (docs/hls.md): the player fetches it, the <audio> element plays it.
        directives["connect-src"].append(hls_origin)
        directives["media-src"].append(hls_origin)
    for origin in media.origins():
        # Media in object storage (docs/production.md): replays, covers and avatars come from there.
        directives["img-src"].append(origin)
        directives["media-src"].append(origin)
    for name, extra in getattr(settings, "CSP_EXTRA_SOURCES", {}).items():
        directives.setdefault(name, []).extend(extra)
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


class ContentSecurityPolicyMiddleware:
    """Give each request `request.csp_nonce` and send the policy with every HTML response."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        request.csp_nonce = SimpleLazyObject(lambda: secrets.token_urlsafe(18))
        response = self.get_response(request)
        if "Content-Security-Policy" not in response and response.get("Content-Type", "").startswith(
            "text/html"
        ):
            response["Content-Security-Policy"] = _policy(request, str(request.csp_nonce))
        return response


def csp(request) -> dict:
    """Templates write `<script nonce="{{ csp_nonce }}">` for the rare inline script."""
    return {"csp_nonce": getattr(request, "csp_nonce", "")}
