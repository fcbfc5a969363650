"""A token bucket shared by all web processes (Redis), or by one (memory).

GCRA form: one key per bucket holds the "theoretical arrival time"; a request is allowed when
it is no later than `burst` intervals ahead of now.
"""

import threading
import time

from django.conf import settings

from spaces_project.redis_clients import sync_client

# KEYS[1]: bucket. ARGV: now (ms), interval (ms), burst. Returns 1 when allowed.
_GCRA = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > interval * (burst - 1) then return 0 end
redis.call('SET', KEYS[1], tat + interval, 'PX', interval * burst + 1000)
return 1
"""


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, *, per_second: float, burst: int, now: float | None = None) -> bool:
        now_ms = (time.time() if now is None else now) * 1000
        interval = 1000 / per_second
        with self._lock:
            tat = max(self._tat.get(key, now_ms), now_ms)
            if tat - now_ms > interval * (burst - 1):
                return False
            self._tat[key] = tat + interval
            return True


class RedisRateLimiter:
    def __init__(self, url: str) -> None:
        self.redis = sync_client(url)
        self._script = self.redis.register_script(_GCRA)

    def allow(self, key: str, *, per_second: float, burst: int, now: float | None = None) -> bool:
        now_ms = int((time.time() if now is None else now) * 1000)
        interval = int(1000 / per_second)
        return bool(self._script(keys=[f"spaces:rate:{key}"], args=[now_ms, interval, burst]))


_limiter: MemoryRateLimiter | RedisRateLimiter | None = None


def get_rate_limiter() -> MemoryRateLimiter | RedisRateLimiter:
    global _limiter
    if _limiter is None:
        _limiter = RedisRateLimiter(settings.REDIS_URL) if settings.REDIS_URL else MemoryRateLimiter()
    return _limiter
