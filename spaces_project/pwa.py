"""What makes Spaces an installable web app: the manifest, the service worker at the root (so that
its scope is the whole site) and the offline page it shows when there is no network (docs/push.md).

None of these reads the session: the offline page is the only page the worker keeps, and it is the
same for everyone.
"""

import hashlib
import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

THEME_COLOR = "#0f0d15"  # --bg of static/css/site.css: the status bar and splash match the pages


@require_GET
@cache_control(max_age=3600, public=True)
def manifest(request: HttpRequest) -> JsonResponse:
    icon = {"type": "image/png"}
    data = {
        "id": "/",
        "name": "Spaces",
        "short_name": "Spaces",
        "description": "Live audio rooms: listen, talk and host.",
        "start_url": "/?src=homescreen",
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": THEME_COLOR,
        "theme_color": THEME_COLOR,
        "icons": [
            {**icon, "src": static("icons/icon-192.png"), "sizes": "192x192", "purpose": "any"},
            {**icon, "src": static("icons/icon-512.png"), "sizes": "512x512", "purpose": "any"},
            {**icon, "src": static("icons/icon-maskable-512.png"), "sizes": "512x512", "purpose": "maskable"},
        ],
    }
    return JsonResponse(data, content_type="application/manifest+json")


def _precached() -> list[str]:
    return [reverse("offline"), static("css/site.css"), static("icons/icon-192.png")]


@require_GET
@cache_control(no_cache=True)
def service_worker(request: HttpRequest) -> HttpResponse:
    precache = _precached()
    # A new stylesheet or icon (hashed names in production) makes a new worker, which caches them anew.
    version = hashlib.sha256(json.dumps(precache).encode()).hexdigest()[:12]
    body = render_to_string(
        "pwa/sw.js",
        {
            "version": version,
            "offline_url": json.dumps(reverse("offline")),
            "precache": json.dumps(precache),
            "icon_url": json.dumps(static("icons/icon-192.png")),
        },
    )
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    return response


@require_GET
@cache_control(max_age=3600, public=True)
def offline(request: HttpRequest) -> HttpResponse:
    # Rendered without the request: no context processor reads the session, so it is the same page
    # for everyone (the worker keeps it).
    return HttpResponse(render_to_string("pwa/offline.html", {"theme_color": THEME_COLOR}))
