"""How every Redis client of the project connects: the same timeouts and retries everywhere.

A Redis restart leaves every pooled connection dead. redis-py only retries a command on a fresh
connection when the pool was built with a retry policy, and a pool built with ``from_url`` (the
presence store, Django's cache, the channel layer) gets none: each dead connection then fails one
command, which cost a room join its socket (1011) long after Redis was back. Every client here
retries a failed command on a new connection, gives up on an unreachable server within about a
second, and checks an idle connection before using it.
"""

from urllib.parse import unquote, urlparse

from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError, TimeoutError
from redis.retry import Retry

# Connecting to a Redis that is down is refused at once; one that does not answer (a network
# partition) must not hold a page or a socket for long.
CONNECT_TIMEOUT_S = 1.0
# A connection idle this long is PINGed before it is used again.
HEALTH_CHECK_S = 10
RETRIES = 3


def _backoff() -> ExponentialWithJitterBackoff:
    return ExponentialWithJitterBackoff(base=0.05, cap=0.5)


def sync_options(*, socket_timeout: float | None = 5.0) -> dict:
    """Keyword arguments for ``redis.Redis`` / ``redis.ConnectionPool`` (blocking clients)."""
    return {
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_timeout": socket_timeout,
        "health_check_interval": HEALTH_CHECK_S,
        "retry": Retry(_backoff(), RETRIES),
        "retry_on_error": [ConnectionError, TimeoutError],
        # No CLIENT SETINFO: two round trips more for every new connection, and redis-py reads its
        # own package metadata from disk for each (a reconnect storm opens hundreds at once).
        "driver_info": None,
    }


def async_options(*, socket_timeout: float | None = None) -> dict:
    """Keyword arguments for ``redis.asyncio.Redis`` and its pools.

    ``socket_timeout`` stays None for connections that block on reads (pub/sub): redis-py 8's
    default of 5 s would cut them (django/channels_redis#422).
    """
    return {
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_timeout": socket_timeout,
        "health_check_interval": HEALTH_CHECK_S,
        "retry": AsyncRetry(_backoff(), RETRIES),
        "retry_on_error": [ConnectionError, TimeoutError],
        # No CLIENT SETINFO: two round trips more for every new connection, and redis-py reads its
        # own package metadata from disk for each (a reconnect storm opens hundreds at once).
        "driver_info": None,
    }


def parse_sentinels(value: str) -> list[tuple[str, int]]:
    """REDIS_SENTINELS ("host:port,host:port,...") as (host, port) pairs; a bad entry raises ValueError
    naming it, so a typo stops the process at start rather than at the first failover."""
    sentinels = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"REDIS_SENTINELS: {entry!r} is not host:port")
        sentinels.append((host.strip("[]"), int(port)))
    return sentinels


def sentinel_checked_url(url: str, sentinels: list[tuple[str, int]], master: str) -> str:
    """REDIS_URL, checked against the Sentinel settings: both of them or neither (ValueError naming the
    one missing); with Sentinels and no REDIS_URL, database 0 of the master."""
    if sentinels and not master:
        raise ValueError(
            "REDIS_SENTINELS is set: REDIS_SENTINEL_MASTER must name the master the Sentinels watch"
        )
    if master and not sentinels:
        raise ValueError(
            "REDIS_SENTINEL_MASTER is set: REDIS_SENTINELS must list the Sentinels (host:port,...)"
        )
    return url or (f"redis://{master}/0" if sentinels else "")


def redis_endpoints(url: str, sentinels: list[tuple[str, int]], master: str) -> tuple[dict, str]:
    """The channel layer's host entry and Celery's broker (and result backend) URL for REDIS_URL, or,
    with Sentinels, for the master they name (REDIS_URL then gives the database and password)."""
    if not sentinels:
        return {"address": url}, url
    parsed = urlparse(url)
    db = int((parsed.path or "/0").strip("/") or 0)
    layer_host = {
        "sentinels": sentinels,
        "master_name": master,
        "sentinel_kwargs": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5},
        "db": db,
        **({"password": unquote(parsed.password)} if parsed.password else {}),
    }
    # kombu and Celery's result backend take the Sentinels as `;`-separated sentinel:// URLs and the
    # master's name as a transport option.
    auth = f":{parsed.password}@" if parsed.password else ""
    return layer_host, ";".join(f"sentinel://{auth}{host}:{port}/{db}" for host, port in sentinels)
