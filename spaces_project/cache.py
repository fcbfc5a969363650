"""Django's Redis cache, degraded to "no cache" while Redis is away instead of raising.

Everything cached here can be computed again (topic lists, rate-limit histories), so a page that
only reads must not answer 500 because Redis restarted: reads miss, writes are dropped, and the
page computes what it needs. Rate limits that keep their history in the cache (allauth's) do not
count while Redis is down: people can still sign in during an outage, and the limits hold again
once it is back. That is the trade this project makes; the outage is logged.

With Redis Sentinel (REDIS_SENTINELS) the cache talks to the Sentinels' master through
`SentinelCacheClient`: Django's RedisCache knows only addresses, and this small client class keeps
its backend (and the degradation above) instead of switching to django-redis, another backend with
its own options, for the one thing missing.
"""

import logging
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

from .redis_clients import sync_client, uses_sentinel

logger = logging.getLogger(__name__)

LOG_EVERY_S = 10.0
RETRY_AFTER_S = 2.0


class _Unavailable(RedisError):
    """Redis failed a moment ago: this request does not wait for it to fail again."""


class SentinelCacheClient(RedisCacheClient):
    """Django's Redis cache client on the master the Sentinels name (one pool: reads go there too)."""

    def _get_connection_pool(self, write):
        if 0 not in self._pools:
            self._pools[0] = sync_client(self._servers[0], **self._pool_options).connection_pool
        return self._pools[0]


class ResilientRedisCache(RedisCache):
    _last_logged = 0.0
    # After a failure, this Redis is left alone this long: every page of an outage would otherwise
    # pay for a connection attempt (and its retries) per cache call.
    _down_until = 0.0

    @property
    def _cache(self):
        if time.monotonic() < self._down_until:
            raise _Unavailable("Redis failed a moment ago")
        client = self.__dict__.get("_client")
        if client is None:
            client_class = SentinelCacheClient if uses_sentinel() else self._class
            client = self.__dict__["_client"] = client_class(self._servers, **self._options)
        return client

    def _unavailable(self, operation: str, error: Exception) -> None:
        now = time.monotonic()
        if not isinstance(error, _Unavailable):
            self._down_until = now + RETRY_AFTER_S
        if now - ResilientRedisCache._last_logged >= LOG_EVERY_S:
            ResilientRedisCache._last_logged = now
            logger.warning("cache unavailable (%s): %s: %s", operation, type(error).__name__, error)

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except RedisError as error:
            self._unavailable("get", error)
            return default

    def get_many(self, keys, version=None):
        try:
            return super().get_many(keys, version)
        except RedisError as error:
            self._unavailable("get_many", error)
            return {}

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except RedisError as error:
            self._unavailable("has_key", error)
            return False

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            super().set(key, value, timeout, version)
        except RedisError as error:
            self._unavailable("set", error)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        # Reported as added: callers that use `add` as a lock (allauth's rate limits) go ahead.
        try:
            return super().add(key, value, timeout, version)
        except RedisError as error:
            self._unavailable("add", error)
            return True

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().set_many(data, timeout, version)
        except RedisError as error:
            self._unavailable("set_many", error)
            return list(data)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().touch(key, timeout, version)
        except RedisError as error:
            self._unavailable("touch", error)
            return False

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except RedisError as error:
            self._unavailable("delete", error)
            return False

    def delete_many(self, keys, version=None):
        try:
            super().delete_many(keys, version)
        except RedisError as error:
            self._unavailable("delete_many", error)
