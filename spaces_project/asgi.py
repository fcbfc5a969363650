"""ASGI entry point: Daphne serves pages and websockets from this application."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings.local")

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from rooms.live.seat_gate import SeatGateMiddleware  # noqa: E402
from rooms.middleware import SessionAuthMiddleware  # noqa: E402
from rooms.routing import websocket_urlpatterns  # noqa: E402
from spaces_project.embedded_beat import start_embedded_beat  # noqa: E402
from spaces_project.http_limit import ConcurrencyLimit  # noqa: E402
from spaces_project.metrics.http import CountedWebsockets  # noqa: E402
from spaces_project.middleware import WebsocketClientAddressMiddleware  # noqa: E402
from spaces_project.websocket import ExactOriginValidator, unknown_path_route  # noqa: E402
from spaces_project.websocket_tuning import quiet_autobahn_debug_formatting  # noqa: E402

quiet_autobahn_debug_formatting()

# Everything imported so far lives as long as the process: keep the garbage collector's full
# collections from walking it again and again (they show up as latency spikes).
gc.collect()
gc.freeze()

application = ProtocolTypeRouter(
    {
        # The seat gate answers a sold-out ticket rush before the queue into Django.
        "http": SeatGateMiddleware(ConcurrencyLimit(django_asgi_app, settings.HTTP_MAX_CONCURRENT)),
        "websocket": CountedWebsockets(
            WebsocketClientAddressMiddleware(
                ExactOriginValidator(
                    SessionAuthMiddleware(URLRouter([*websocket_urlpatterns, unknown_path_route]))
                )
            )
        ),
    }
)

# Without Redis there is no Celery beat: this process runs the periodic work itself.
start_embedded_beat()
