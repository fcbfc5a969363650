"""``/healthz`` for load balancers and monitoring: is this web process able to serve?

200 when the database and Redis both answer, 503 naming the one that does not. Cheap enough to
call every second: one ``SELECT 1`` and one ``PING``, each bounded by a short timeout, no session,
no template. The body also counts the room sockets this process holds (as the room bus counts them,
spaces_project/realtime.py), so an operator (and the fault tests) can see that sockets that went
away do not stay attached.
"""

import json
import logging
import threading

from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import realtime
from .redis_clients import sync_client

logger = logging.getLogger(__name__)

REDIS_TIMEOUT_S = 1.0
_redis_client = None
_redis_lock = threading.Lock()


def _redis():
    global _redis_client
    with _redis_lock:
        if _redis_client is None:
            # One retry, at once: after a Redis restart the pooled connection is dead and the
            # retry takes a fresh one; a Redis that is really down fails both, quickly.
            _redis_client = sync_client(
                settings.REDIS_URL,
                socket_connect_timeout=REDIS_TIMEOUT_S,
                socket_timeout=REDIS_TIMEOUT_S,
                retry=Retry(NoBackoff(), 1),
            )
        return _redis_client


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # any failure is the answer, not an error of this check
        return f"down: {type(error).__name__}: {str(error).strip()[:200]}"
    return "ok"


def check_redis() -> str:
    if not settings.REDIS_URL:
        return "not used"
    try:
        _redis().ping()
    except Exception as error:
        return f"down: {type(error).__name__}: {str(error).strip()[:200]}"
    return "ok"


def health_response() -> HttpResponse:
    checks = {"database": check_database(), "redis": check_redis()}
    healthy = all(value in ("ok", "not used") for value in checks.values())
    if not healthy:
        logger.warning("health check failing: %s", checks)
    body = {
        "status": "ok" if healthy else "failing",
        **checks,
        "room_sockets": realtime.room_sockets_attached(),
    }
    response = HttpResponse(json.dumps(body), content_type="application/json", status=200 if healthy else 503)
    response["Cache-Control"] = "no-store"
    return response
