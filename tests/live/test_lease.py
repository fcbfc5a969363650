"""The Redis leases through which mixer and captioner processes share rooms (rooms/live/lease.py)."""

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis
from django.conf import settings

from rooms.live.lease import RENEW_EVERY_S, LeaseWorker

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="leases live in Redis")


class Worker(LeaseWorker):
    kind = "test"
    lease_ms = 2500  # longer than a round, as every real worker's

    def __init__(self, prefix: str, wanted: list[int], *, name: str, max_rooms: int = 10) -> None:
        super().__init__(settings.REDIS_URL, name=name, max_rooms=max_rooms)
        self.lease_prefix = prefix
        self.wanted = wanted
        self.taken: list[int] = []
        self.let_go_of: list[int] = []

    def wanted_room_ids(self) -> list[int]:
        return list(self.wanted)

    async def take(self, room_id: int) -> None:
        self.rooms[room_id] = "working"
        self.taken.append(room_id)

    async def let_go(self, room_id: int, held) -> None:
        assert held == "working"
        self.let_go_of.append(room_id)


async def until(condition, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "not within the time"
        await asyncio.sleep(0.05)


@pytest.fixture
def prefix():
    return f"spaces:test:lease:{uuid.uuid4().hex}:"


async def holder(prefix: str, room_id: int) -> str | None:
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        value = await client.get(f"{prefix}{room_id}")
    finally:
        await client.aclose()
    return value.decode() if value else None


async def test_a_dead_workers_rooms_move_to_another_and_each_room_has_one_holder(prefix):
    first, second = Worker(prefix, [1, 2], name="first"), Worker(prefix, [1, 2], name="second")
    stop_first, stop_second = asyncio.Event(), asyncio.Event()
    running_first = asyncio.create_task(first.run(stop=stop_first))
    await until(lambda: set(first.rooms) == {1, 2}, 3)
    running_second = asyncio.create_task(second.run(stop=stop_second))
    await asyncio.sleep(3 * RENEW_EVERY_S)
    assert second.rooms == {} and await holder(prefix, 1) == "first"

    running_first.cancel()  # dies: no release, its leases lapse
    with pytest.raises(asyncio.CancelledError):
        await running_first
    await until(lambda: set(second.rooms) == {1, 2}, (first.lease_ms / 1000) + 2 * RENEW_EVERY_S + 1)
    assert await holder(prefix, 2) == "second"

    stop_second.set()
    await running_second
    assert sorted(second.let_go_of) == [1, 2]
    assert await holder(prefix, 1) is None  # released on the way out, not left to lapse


async def test_a_worker_holds_at_most_max_rooms_and_lets_go_of_rooms_no_longer_wanted(prefix):
    worker = Worker(prefix, [1, 2, 3], name="small", max_rooms=2)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop=stop))
    await until(lambda: len(worker.rooms) == 2, 3)
    await asyncio.sleep(2 * RENEW_EVERY_S)
    assert len(worker.rooms) == 2

    worker.wanted = [3]  # the rooms it holds ended
    await until(lambda: set(worker.rooms) == {3}, 3 * RENEW_EVERY_S + 1)
    assert sorted(worker.let_go_of) == [1, 2]
    assert await holder(prefix, 1) is None
    stop.set()
    await running


class StandbyWorker(Worker):
    lease_ms = 600
    keep_every_s = 0.1

    def __init__(self, prefix: str, wanted: list[int], *, name: str) -> None:
        super().__init__(prefix, wanted, name=name)
        self.standby_prefix = prefix + "standby:"
        self.followed: list[int] = []
        self.promoted: list[tuple[int, float]] = []

    async def follow(self, room_id: int) -> None:
        self.following[room_id] = "warm"
        self.followed.append(room_id)

    async def promote(self, room_id: int, held) -> None:
        assert held == "warm"
        self.rooms[room_id] = "working"
        self.promoted.append((room_id, asyncio.get_running_loop().time()))


async def test_a_standby_follows_a_held_room_and_takes_it_over_once_the_holders_lease_lapses(prefix):
    first = StandbyWorker(prefix, [1], name="first")
    second = StandbyWorker(prefix, [1], name="second")
    running_first = asyncio.create_task(first.run())
    await until(lambda: 1 in first.rooms and first.holds(1), 3)
    running_second = asyncio.create_task(second.run(stop=(stop_second := asyncio.Event())))
    await until(lambda: second.followed == [1], 3)
    assert await holder(prefix, "standby:1") == "second" and await holder(prefix, 1) == "first"
    await asyncio.sleep(0.5)  # five renewals: neither moves while the holder lives
    assert first.rooms and not second.rooms

    running_first.cancel()  # dies between two renewals: no release, its lease lapses
    with pytest.raises(asyncio.CancelledError):
        await running_first
    died = asyncio.get_running_loop().time()
    # The holder knows it may no longer act before anyone else can have taken the room.
    await until(lambda: not first.holds(1), 1)
    stopped_acting = asyncio.get_running_loop().time()
    await until(lambda: second.promoted, 2)
    ((room, promoted_at),) = second.promoted
    assert room == 1 and stopped_acting < promoted_at
    assert promoted_at - died <= (first.lease_ms / 1000) + 2 * second.keep_every_s + 0.3
    assert await holder(prefix, 1) == "second"
    assert await holder(prefix, "standby:1") is None  # free for the next standby
    stop_second.set()
    await running_second


async def test_a_holder_whose_lease_lapsed_unclaimed_takes_it_again_and_keeps_its_work(prefix):
    """A loaded machine's stall: the holder missed its renewals and nobody took the room meanwhile.
    It stops acting while the lease is uncertain, then takes the lease again in place: its work (a
    mixer with its recording) goes on instead of stopping and starting again a round later."""
    first = Worker(prefix, [1], name="first")
    running = asyncio.create_task(first.run(stop=(stop := asyncio.Event())))
    await until(lambda: 1 in first.rooms and first.holds(1), 3)
    client = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        await client.delete(f"{prefix}1")  # lapsed, as after a stall longer than the lease
        await asyncio.sleep(3 * first.keep_every_s + 0.2)
        assert await holder(prefix, 1) == "first" and first.holds(1)
        assert first.taken == [1] and first.let_go_of == [], "the work stopped and started again"

        await client.set(f"{prefix}1", "second", px=5000)  # another worker took it meanwhile
        await until(lambda: first.let_go_of == [1], first.keep_every_s + 2)
        assert not first.holds(1) and await holder(prefix, 1) == "second"
    finally:
        stop.set()
        await running
        await client.aclose()
