"""Redis Sentinel (REDIS_SENTINELS, REDIS_SENTINEL_MASTER): the settings, and every kind of client the
project makes (spaces_project/redis_clients.py, the cache, the channel layer, Celery's broker and
result backend) following a failover of a real primary to its replica under three real Sentinels."""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery
from kombu import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.sentinel import MasterNotFoundError

from deploy import harness
from rooms.live import mixing
from rooms.live.lease import LeaseWorker
from spaces_project import health
from spaces_project.cache import ResilientRedisCache
from spaces_project.channel_layer import RECONNECTED, ResilientRedisChannelLayer
from spaces_project.redis_clients import async_client, sync_client
from spaces_project.redis_options import async_options, parse_sentinels, sync_options
from tests.faults.sentinel import SentinelSet

ROOT = Path(__file__).resolve().parent.parent


def settings_of(env: dict) -> subprocess.CompletedProcess:
    """The Redis settings that the local settings build from `env`, as JSON on the last line."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith("REDIS") and k != "DJANGO_SETTINGS_MODULE"
    }
    code = (
        "import json; from django.conf import settings as s; print(json.dumps({"
        "'layer': s.CHANNEL_LAYERS['default']['CONFIG']['hosts'][0], 'cache': s.CACHES['default']['LOCATION'],"
        "'broker': s.CELERY_BROKER_URL, 'backend': s.CELERY_RESULT_BACKEND, 'url': s.REDIS_URL,"
        "'broker_options': s.CELERY_BROKER_TRANSPORT_OPTIONS,"
        "'backend_options': getattr(s, 'CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS', None)}))"
    )
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "spaces_project.settings.local", **env},
        capture_output=True,
        text=True,
    )


def test_sentinels_are_read_as_host_port_pairs():
    assert parse_sentinels("") == []
    assert parse_sentinels("10.0.0.1:26379, sentinel-b:26380,") == [
        ("10.0.0.1", 26379),
        ("sentinel-b", 26380),
    ]
    for bad in ("10.0.0.1", "10.0.0.1:port", ":26379", "10.0.0.1:70000"):
        with pytest.raises(ValueError, match="REDIS_SENTINELS"):
            parse_sentinels(bad)


@pytest.mark.parametrize(
    "env, complaint",
    [
        ({"REDIS_SENTINELS": "127.0.0.1:26379"}, "REDIS_SENTINEL_MASTER must name"),
        ({"REDIS_SENTINEL_MASTER": "spaces"}, "REDIS_SENTINELS must list"),
        ({"REDIS_SENTINELS": "127.0.0.1", "REDIS_SENTINEL_MASTER": "spaces"}, "is not host:port"),
    ],
)
def test_a_half_or_wrong_sentinel_configuration_stops_the_process_at_start(env, complaint):
    result = settings_of(env)
    assert result.returncode != 0
    assert complaint in result.stderr


def test_with_sentinels_every_redis_setting_names_the_sentinels_and_the_master():
    result = settings_of(
        {
            "REDIS_SENTINELS": "10.0.0.1:26379,10.0.0.2:26379",
            "REDIS_SENTINEL_MASTER": "spaces",
            "REDIS_URL": "redis://:s3cret@spaces/2",
        }
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    layer = found["layer"]
    assert (
        layer["sentinels"] == [["10.0.0.1", 26379], ["10.0.0.2", 26379]] and layer["master_name"] == "spaces"
    )
    assert (layer["db"], layer["password"], layer["socket_timeout"]) == (2, "s3cret", None)
    assert "address" not in layer
    sentinel_urls = "sentinel://:s3cret@10.0.0.1:26379/2;sentinel://:s3cret@10.0.0.2:26379/2"
    assert found["broker"] == found["backend"] == sentinel_urls
    assert found["broker_options"]["master_name"] == found["backend_options"]["master_name"] == "spaces"
    assert found["broker_options"]["visibility_timeout"] == 60  # production's, kept
    # REDIS_URL may be left out: database 0 of the master.
    result = settings_of({"REDIS_SENTINELS": "10.0.0.1:26379", "REDIS_SENTINEL_MASTER": "spaces"})
    assert json.loads(result.stdout.strip().splitlines()[-1])["url"] == "redis://spaces/0"


@pytest.fixture(scope="module")
def sentinels(tmp_path_factory):
    if not shutil.which("redis-server"):
        pytest.skip("these tests start their own redis-server and Sentinels")
    directory = tmp_path_factory.mktemp("sentinel")
    with harness.Processes(directory / "logs") as processes:
        group = SentinelSet(processes, directory)
        group.start()
        yield group


def use_sentinels(settings, group: SentinelSet) -> SentinelSet:
    settings.REDIS_SENTINELS = [("127.0.0.1", port) for port in group.sentinel_ports]
    settings.REDIS_SENTINEL_MASTER = group.master
    settings.REDIS_URL = f"redis://{group.master}/3"
    return group


@pytest.fixture
def through_sentinels(settings, sentinels):
    return use_sentinels(settings, sentinels)


@pytest.fixture
def fresh_sentinels(settings, tmp_path):
    """A group of its own, for a test that fails it over."""
    if not shutil.which("redis-server"):
        pytest.skip("these tests start their own redis-server and Sentinels")
    with harness.Processes(tmp_path / "logs") as processes:
        group = SentinelSet(processes, tmp_path)
        group.start()
        yield use_sentinels(settings, group)


def test_no_master_is_a_clear_error(through_sentinels, settings, monkeypatch):
    settings.REDIS_SENTINEL_MASTER = "nobody"
    with pytest.raises(MasterNotFoundError, match="No master found for 'nobody'"):
        sync_client(**sync_options()).ping()
    monkeypatch.setattr(health, "_redis_client", None)
    assert health.check_redis().startswith("down: MasterNotFoundError: No master found for 'nobody'")
    monkeypatch.setattr(health, "_redis_client", None)


def test_every_kind_of_client_follows_a_failover(through_sentinels, settings):
    group = through_sentinels
    url = settings.REDIS_URL
    blocking = sync_client(**sync_options())
    cache = ResilientRedisCache(url, {"OPTIONS": sync_options(socket_timeout=1.0)})
    hosts = {
        "sentinels": settings.REDIS_SENTINELS,
        "master_name": group.master,
        "sentinel_kwargs": {"socket_timeout": 0.5},
        "db": 3,
        "socket_timeout": None,
    }
    layer = ResilientRedisChannelLayer(hosts=[hosts], prefix=f"failover-{uuid.uuid4().hex[:8]}")
    options = {"master_name": group.master}
    broker = ";".join(f"sentinel://127.0.0.1:{port}/3" for port in group.sentinel_ports)
    # Not the current app: the tasks of the rest of the run must still go to the project's broker.
    celery = Celery("failover", broker=broker, backend=broker, set_as_current=False)
    celery.conf.broker_transport_options = options
    celery.conf.result_backend_transport_options = options

    def use_every_client(n: int) -> None:
        blocking.set("failover:sync", n)
        assert int(blocking.get("failover:sync")) == n
        cache.set("failover:cache", n)
        assert cache.get("failover:cache") == n
        with Connection(broker, transport_options=options) as connection:
            queue = connection.SimpleQueue(f"failover-{n}")
            queue.put({"n": n})
            message = queue.get(timeout=5)
            message.ack()
            assert message.payload == {"n": n}
            queue.close()
        celery.backend.set(f"failover:result:{n}", str(n))
        assert celery.backend.get(f"failover:result:{n}") == str(n).encode()

    async def use_async_clients(pooled, n: int) -> None:
        await pooled.set("failover:async", n)
        assert int(await pooled.get("failover:async")) == n
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "hello", "n": n})
        assert (await asyncio.wait_for(layer.receive(channel), 5))["n"] == n
        await pooled.publish("failover:bus", str(n))

    async def scenario():
        pooled = async_client(max_connections=5, blocking_timeout=5, **async_options())
        listener = async_client(**async_options())
        pubsub = listener.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe("failover:bus")
        heard: list[int] = []

        async def listen():
            # As the room bus does: a lost connection is subscribed again, to the new master.
            while True:
                try:
                    message = await pubsub.get_message(timeout=0.2)
                except RedisConnectionError:
                    await asyncio.sleep(0.2)
                    try:
                        await pubsub.subscribe("failover:bus")
                    except RedisConnectionError:
                        pass
                    continue
                if message:
                    heard.append(int(message["data"]))

        reader = asyncio.get_running_loop().create_task(listen())
        await asyncio.to_thread(use_every_client, 1)
        await use_async_clients(pooled, 1)
        await asyncio.sleep(0.3)
        assert heard == [1]

        # A consumer waiting on the layer as the master dies: it waits for the new one, and is told.
        waiting_channel = await layer.new_channel()
        waiting = asyncio.get_running_loop().create_task(layer.receive(waiting_channel))
        await asyncio.sleep(0.2)
        old, killed = group.kill_master()
        promoted = await asyncio.to_thread(group.wait_failover, old)
        assert await asyncio.wait_for(waiting, 10) == RECONNECTED
        # Once the Sentinels name the new master, the first use of every client reaches it.
        await asyncio.to_thread(use_every_client, 2)
        await asyncio.sleep(0.5)  # the subscriber's reconnect (as the bus's, within a second)
        await use_async_clients(pooled, 2)
        await asyncio.sleep(0.5)
        reader.cancel()
        await layer.flush()
        await pubsub.aclose()
        return heard, promoted - killed

    heard, failover_s = asyncio.run(scenario())
    assert heard == [1, 2], heard
    assert group.master_server() is group.replica
    print(f"sentinel: the replica was promoted {failover_s:.1f} s after the primary was killed")


class OneRoomWorker(LeaseWorker):
    """Holds room 1 on the mixer's lease terms, and does nothing with it."""

    kind = "test"
    lease_prefix = "failover:lease:"
    lease_ms = mixing.LEASE_MS
    keep_every_s = mixing.KEEP_EVERY_S

    def wanted_room_ids(self) -> list[int]:
        return [1]

    async def take(self, room_id: int) -> None:
        self.rooms[room_id] = True


def test_a_room_lease_is_never_held_twice_across_a_failover(fresh_sentinels):
    """The mixer's 500 ms lease lapses during the failover, on the new master as in its holder's view:
    the holder fences itself `lease_ms` after its last confirmed renewal, and the Sentinels promote no
    replica before `down-after-milliseconds`, which is longer, so by the time anyone can take the lease
    on the new master the old holder has stopped acting for the room (even if the dead master had
    acknowledged a renewal that its replica never received: replication is asynchronous)."""
    group = fresh_sentinels
    assert mixing.LEASE_MS < int(group.sentinel().sentinel_master(group.master)["down-after-milliseconds"])

    async def scenario():
        workers = [OneRoomWorker(None, name=f"worker{n}", max_rooms=1) for n in (1, 2)]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        runs = [loop.create_task(worker.run(stop=stop)) for worker in workers]
        timeline: list[tuple[float, list[str]]] = []

        async def watch():
            while True:
                timeline.append((time.monotonic(), [w.name for w in workers if w.holds(1)]))
                await asyncio.sleep(0.005)

        watcher = loop.create_task(watch())
        try:
            await asyncio.sleep(2)
            old, killed = group.kill_master()
            promoted = await asyncio.to_thread(group.wait_failover, old)
            await asyncio.sleep(3)
        finally:
            watcher.cancel()
            stop.set()
            await asyncio.gather(*runs, return_exceptions=True)
        return timeline, killed, promoted

    timeline, killed, promoted = asyncio.run(scenario())
    twice = [(round(at - killed, 3), names) for at, names in timeline if len(names) > 1]
    assert not twice, f"the lease was held twice: {twice[:5]}"
    assert all(names for at, names in timeline if killed - 1 < at < killed), (
        "nobody held the room before the kill"
    )
    back = next(at for at, names in timeline if at > promoted and names)
    assert back - promoted < 2, f"nobody held the room {back - promoted:.1f} s after the promotion"
