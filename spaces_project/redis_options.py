"""How every Redis client of the project connects: the same timeouts and retries everywhere.

A Redis restart leaves every pooled connection dead. redis-py only retries a command on a fresh
connection when the pool was built with a retry policy, and a pool built with ``from_url`` (the
presence store, Django's cache, the channel layer) gets none: each dead connection then fails one
command, which cost a room join its socket (1011) long after Redis was back. Every client here
retries a failed command on a new connection, gives up on an unreachable server within about a
second, and checks an idle connection before using it.
"""

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
