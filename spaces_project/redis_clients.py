"""Every Redis client of the project is made here: the one server REDIS_URL names, or, with
REDIS_SENTINELS, the master that the Sentinels name REDIS_SENTINEL_MASTER (docs/production.md).

With Sentinel, REDIS_URL still gives the database number and the password; its host and port are not
used. A client asks the Sentinels where the master is each time it opens a connection, so after a
failover the next connection goes to the new master: a command that fails on the dead master is
retried on a new connection (the retry policy of spaces_project/redis_options.py), and a command
issued while no master is elected yet fails with ``MasterNotFoundError`` ("No master found for
'<name>'"), which every caller already treats as Redis being away. A connection to a master that was
demoted to a replica answers READONLY: redis-py drops it and the next attempt asks the Sentinels again.
"""

from urllib.parse import unquote, urlparse

import redis
import redis.asyncio as aioredis
from django.conf import settings
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.asyncio.sentinel import SentinelConnectionPool as AsyncSentinelConnectionPool
from redis.sentinel import Sentinel

# A Sentinel that does not answer in this long is skipped for the next one.
SENTINEL_TIMEOUT_S = 0.5


def sentinel_kwargs() -> dict:
    """Options of the connections to the Sentinels themselves."""
    return {"socket_timeout": SENTINEL_TIMEOUT_S, "socket_connect_timeout": SENTINEL_TIMEOUT_S}


def master_kwargs(url: str) -> dict:
    """The database number and credentials of `url`, for a connection to the Sentinels' master."""
    parsed = urlparse(url)
    kwargs = {"db": int((parsed.path or "/0").strip("/") or 0)}
    if parsed.username:
        kwargs["username"] = unquote(parsed.username)
    if parsed.password:
        kwargs["password"] = unquote(parsed.password)
    return kwargs


def uses_sentinel() -> bool:
    return bool(getattr(settings, "REDIS_SENTINELS", None))


def sync_client(url: str | None = None, **options) -> redis.Redis:
    """A blocking client of the Redis of `url` (REDIS_URL by default), or of the Sentinels' master."""
    url = url or settings.REDIS_URL
    if not uses_sentinel():
        return redis.Redis.from_url(url, **options)
    sentinel = Sentinel(settings.REDIS_SENTINELS, sentinel_kwargs=sentinel_kwargs())
    return sentinel.master_for(settings.REDIS_SENTINEL_MASTER, **master_kwargs(url), **options)


class _BlockingSentinelConnectionPool(AsyncSentinelConnectionPool, aioredis.BlockingConnectionPool):
    """The Sentinels' master, with a pool that waits for a free connection instead of refusing."""


def async_client(
    url: str | None = None,
    *,
    max_connections: int | None = None,
    blocking_timeout: float | None = None,
    **options,
) -> aioredis.Redis:
    """An asyncio client of the Redis of `url` (REDIS_URL by default), or of the Sentinels' master.

    With `blocking_timeout`, its pool waits that long for a free connection (of `max_connections`)
    rather than raising at once. A client belongs to the event loop that first uses it.
    """
    url = url or settings.REDIS_URL
    if max_connections is not None:
        options["max_connections"] = max_connections
    if not uses_sentinel():
        if blocking_timeout is None:
            return aioredis.Redis.from_url(url, **options)
        pool = aioredis.BlockingConnectionPool.from_url(url, timeout=blocking_timeout, **options)
        return aioredis.Redis(connection_pool=pool)
    sentinel = AsyncSentinel(settings.REDIS_SENTINELS, sentinel_kwargs=sentinel_kwargs())
    if blocking_timeout is None:
        pool_class = AsyncSentinelConnectionPool
    else:
        pool_class = _BlockingSentinelConnectionPool
        options["timeout"] = blocking_timeout
    return sentinel.master_for(
        settings.REDIS_SENTINEL_MASTER, connection_pool_class=pool_class, **master_kwargs(url), **options
    )
