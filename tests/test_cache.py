"""The cache degrades to "no cache" while Redis is away (spaces_project/cache.py)."""

import time

import pytest

from spaces_project.cache import ResilientRedisCache

DEAD = "redis://127.0.0.1:9/0"  # nothing listens on the discard port


@pytest.fixture
def dead_cache():
    return ResilientRedisCache(DEAD, {})


def test_reads_miss_and_writes_are_dropped_while_redis_is_down(dead_cache):
    assert dead_cache.get("topics", "missing") == "missing"
    assert dead_cache.get_many(["a", "b"]) == {}
    dead_cache.set("topics", [1, 2])
    assert dead_cache.get_or_set("topics", lambda: ["computed"], 30) == ["computed"]
    assert dead_cache.delete("topics") is False


def test_after_a_failure_redis_is_left_alone_for_a_moment(dead_cache):
    dead_cache.get("warm")  # the first call tries Redis and fails
    started = time.monotonic()
    for _ in range(200):
        assert dead_cache.get("topics") is None
    assert time.monotonic() - started < 0.2  # no connection attempt per call


@pytest.mark.django_db
def test_the_home_page_answers_with_the_cache_down(client, settings):
    if not settings.REDIS_URL:
        pytest.skip("without REDIS_URL the cache is in memory")
    settings.CACHES = {"default": {"BACKEND": "spaces_project.cache.ResilientRedisCache", "LOCATION": DEAD}}
    assert client.get("/").status_code == 200
