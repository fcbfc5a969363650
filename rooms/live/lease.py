"""Rooms shared among worker processes through leases in Redis: the base of the mixer and the captioner.

A worker holds a room while it holds the room's lease, a Redis key (``<lease_prefix><room>``) whose
value is the worker's name and which expires after ``lease_ms``. Every ``keep_every_s`` the worker
renews the leases it holds (one it lost, or whose work stopped, it lets go); every ``RENEW_EVERY_S``
(a round) it also lets go of the rooms it no longer wants and takes the lease of every wanted room
nobody holds, up to ``max_rooms``. A worker that dies stops renewing: within ``lease_ms`` plus a
round another one takes its rooms over.

A worker with a ``standby_prefix`` also follows rooms another worker holds, as their warm standby
(at most one per room: the standby has a lease of its own, ``<standby_prefix><room>``): it starts
their work without its effects (the mixer mixes what it hears and publishes nothing) and, at every
renewal, tries to take the room's lease, so it holds the room within ``keep_every_s`` of the lease
lapsing and carries on with its work already warm.

A holder knows when its lease is certainly still its own (``holds``): until ``lease_ms`` after it
*sent* the renewal Redis last confirmed, since Redis can only have let the key lapse later than that.
A worker whose loop stalled past that stops acting for the room before another can have taken it.
Its next renewal takes the lease again if nobody took it meanwhile (a loaded machine's stall), so
the room keeps its warm work (its mixer, its recording) instead of stopping and starting again a
round later; if another worker took it, the room is let go.

Across a Redis failover (Sentinel, docs/production.md): replication is asynchronous, so the promoted
replica may lack the holder's last renewals (a write the dead master acknowledged and never passed
on), and its copy of the key lapses earlier than the holder believes. That cannot put a room in two
hands as long as ``lease_ms`` is shorter than the Sentinels' ``down-after-milliseconds``: the new
master accepts no write before that long after the old one died, and by then the holder, which could
confirm no renewal since, has stopped acting (``holds`` is False). The mixer's lease (500 ms) is far
below any sane setting (1 s at the least); the captioner's (10 s) may outlast a failover, and then a
lost renewal can let a second captioner caption a room for at most one renewal period (1 s) before
the first sees its lease gone. tests/test_redis_sentinel.py fails a lease over.
"""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async

from spaces_project.redis_clients import async_client

RENEW_EVERY_S = 1.0
# A holder stops acting this long before its lease can lapse (publishes in flight, clock rates).
FENCE_MARGIN_S = 0.05
# Renew a lease we still hold, or take it again if it lapsed and nobody took it since (2); give it
# up only if it is ours.
_RENEW = (
    "local holder = redis.call('GET', KEYS[1]) "
    "if holder == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end "
    "if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end "
    "return 0"
)
RETAKEN = 2
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class LeaseWorker:
    """Hold the leases of the rooms `wanted_room_ids` names, as many as `max_rooms`, and work on them.

    A subclass says which rooms it wants, what taking and letting go of one does, and what runs
    beside the lease rounds (`start`, `stop`); the rooms it holds are the keys of `self.rooms`, the
    rooms it follows as a standby the keys of `self.following`.
    """

    kind = "worker"  # as log lines name this process: "<kind> <name>: ..."
    lease_prefix = ""
    lease_ms = 3000
    keep_every_s = RENEW_EVERY_S  # how often held leases are renewed (and followed rooms tried)
    standby_prefix = ""  # set to follow rooms held by others as their warm standby

    def __init__(self, url: str, *, name: str, max_rooms: int, max_following: int | None = None) -> None:
        self.url = url
        self.name = name
        self.max_rooms = max_rooms
        self.max_following = max_rooms if max_following is None else max_following
        self.redis = async_client(url, socket_timeout=None)
        self.renew = self.redis.register_script(_RENEW)
        self.release = self.redis.register_script(_RELEASE)
        self.rooms: dict[int, object] = {}  # the rooms held, with what the subclass keeps for each
        self.following: dict[int, object] = {}  # the rooms followed as a standby, likewise
        self.valid_until: dict[int, float] = {}  # loop time until which each held lease is ours
        self.logger = logging.getLogger(type(self).__module__)
        self._wanted: list[int] | None = None
        self._letting_go: set[asyncio.Task] = set()
        self._leaving: set[int] = set()  # rooms let go of whose work has not stopped yet

    # -- what a subclass decides ------------------------------------------------------------------

    def wanted_room_ids(self) -> list[int]:
        """The rooms this kind of worker should hold now (runs in a worker thread: may use the ORM)."""
        raise NotImplementedError

    async def take(self, room_id: int) -> None:
        """The lease of `room_id` is ours: start its work and add it to `self.rooms`."""
        raise NotImplementedError

    async def let_go(self, room_id: int, held) -> None:
        """Stop the work of `room_id`, which has left `self.rooms` (`held`: what it held for it); its
        lease is released after this."""

    async def follow(self, room_id: int) -> None:
        """Become the standby of `room_id` (another worker holds it): start its work without effects
        and add it to `self.following`. Only with a `standby_prefix`."""
        raise NotImplementedError

    async def promote(self, room_id: int, held) -> None:
        """The lease of a followed room is ours now (`held`: what `follow` kept): put its work to use
        and add it to `self.rooms`."""
        raise NotImplementedError

    async def unfollow(self, room_id: int, held) -> None:
        """Stop following `room_id` (it left `self.following`)."""

    def still_working(self, room_id: int) -> bool:
        """False when the room's work stopped by itself: the room is let go, and taken again later."""
        return True

    def unwanted(self, room_id: int) -> None:
        """A held room is no longer wanted (it ended, or its feature was turned off): note it."""

    def round_done(self) -> None:
        """A lease round ended (a place for periodic statistics)."""

    async def start(self) -> None:
        """Start what runs beside the lease rounds."""

    async def stop(self) -> None:
        """Stop it; every room is let go afterwards."""

    # -- what the work asks -----------------------------------------------------------------------

    def holds(self, room_id: int) -> bool:
        """Whether the lease of `room_id` is certainly still ours (see the module's docstring)."""
        return asyncio.get_running_loop().time() < self.valid_until.get(room_id, 0.0)

    # -- the lease loop ---------------------------------------------------------------------------

    def _lease_key(self, room_id: int) -> str:
        return f"{self.lease_prefix}{room_id}"

    def _standby_key(self, room_id: int) -> str:
        return f"{self.standby_prefix}{room_id}"

    def _confirmed(self, room_id: int, sent_at: float) -> None:
        self.valid_until[room_id] = sent_at + self.lease_ms / 1000 - FENCE_MARGIN_S

    async def run(self, *, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        await self.start()
        wanted_reader = loop.create_task(self._read_wanted_forever(stop))
        next_round = loop.time()
        try:
            while not stop.is_set():
                try:
                    await self._keep_leases()
                    if loop.time() >= next_round and self._wanted is not None:
                        next_round = loop.time() + RENEW_EVERY_S
                        await self._round(self._wanted)
                except Exception:
                    self.logger.exception("%s %s: lease round failed", self.kind, self.name)
                try:
                    await asyncio.wait_for(stop.wait(), self.keep_every_s)
                except TimeoutError:
                    pass
        finally:
            wanted_reader.cancel()
            await self.stop()
            for room_id in list(self.following):
                await self.unfollow(room_id, self.following.pop(room_id))
                await self._release(self._standby_key(room_id))
            for room_id in list(self.rooms):
                self._drop(room_id)
            if self._letting_go:
                await asyncio.gather(*self._letting_go, return_exceptions=True)

    async def _read_wanted_forever(self, stop: asyncio.Event) -> None:
        """The wanted rooms come from the database, off the renewal loop: a slow query must not
        delay a renewal."""
        while not stop.is_set():
            try:
                self._wanted = await database_sync_to_async(self.wanted_room_ids)()
            except Exception:
                self.logger.exception("%s %s: could not read the rooms to hold", self.kind, self.name)
            await asyncio.sleep(RENEW_EVERY_S)

    async def _keep_leases(self) -> None:
        """Renew every held lease, and every standby lease, in one round trip; a followed room whose
        lease lapsed is taken in the same round trip and promoted."""
        held, followed = list(self.rooms), list(self.following)
        if not held and not followed:
            return
        sent_at = asyncio.get_running_loop().time()
        async with self.redis.pipeline(transaction=False) as pipe:
            for room_id in held:
                await self.renew(
                    keys=[self._lease_key(room_id)], args=[self.name, self.lease_ms], client=pipe
                )
            for room_id in followed:
                pipe.set(self._lease_key(room_id), self.name, nx=True, px=self.lease_ms)
                await self.renew(
                    keys=[self._standby_key(room_id)], args=[self.name, self.lease_ms], client=pipe
                )
            answers = await pipe.execute()
        for room_id, renewed in zip(held, answers, strict=False):
            if room_id not in self.rooms:
                continue
            if not renewed:
                self.logger.warning("%s %s: lost the lease of room %s", self.kind, self.name, room_id)
                self._drop(room_id)
            else:
                if renewed == RETAKEN:
                    self.logger.warning(
                        "%s %s: the lease of room %s had lapsed; took it again", self.kind, self.name, room_id
                    )
                self._confirmed(room_id, sent_at)
        rest = answers[len(held) :]
        for n, room_id in enumerate(followed):
            taken, standby = rest[2 * n], rest[2 * n + 1]
            if room_id not in self.following:
                if taken:
                    await self._release(self._lease_key(room_id))
                continue
            if taken:
                self._confirmed(room_id, sent_at)
                await self.promote(room_id, self.following.pop(room_id))
                await self._release(self._standby_key(room_id))
                self.logger.info("%s %s: took over room %s as its standby", self.kind, self.name, room_id)
            elif not standby:
                await self.unfollow(room_id, self.following.pop(room_id))

    async def _round(self, wanted: list[int]) -> None:
        for room_id in list(self.rooms):
            if not self.still_working(room_id):
                self._drop(room_id)
        for room_id in set(self.rooms) - set(wanted):
            self.unwanted(room_id)
            self._drop(room_id)
        for room_id in set(self.following) - set(wanted):
            await self.unfollow(room_id, self.following.pop(room_id))
            await self._release(self._standby_key(room_id))
        self.round_done()
        for room_id in wanted:
            if room_id in self.rooms or room_id in self.following or room_id in self._leaving:
                continue
            if len(self.rooms) >= self.max_rooms:
                break
            sent_at = asyncio.get_running_loop().time()
            if await self.redis.set(self._lease_key(room_id), self.name, nx=True, px=self.lease_ms):
                self._confirmed(room_id, sent_at)
                await self.take(room_id)
                self.logger.info("%s %s: took room %s", self.kind, self.name, room_id)
            elif (
                self.standby_prefix
                and len(self.following) < self.max_following
                and await self.redis.set(self._standby_key(room_id), self.name, nx=True, px=self.lease_ms)
            ):
                await self.follow(room_id)
                self.logger.info("%s %s: following room %s as its standby", self.kind, self.name, room_id)

    def _drop(self, room_id: int) -> None:
        """Let go of a held room: it stops being ours at once (no renewal, `holds` is False); its work
        stops and its lease is released in a task of its own, so no renewal waits for that."""
        if room_id not in self.rooms:
            return
        self.valid_until.pop(room_id, None)
        self._leaving.add(room_id)
        task = asyncio.get_running_loop().create_task(self._let_go(room_id, self.rooms.pop(room_id)))
        self._letting_go.add(task)
        task.add_done_callback(self._letting_go.discard)

    async def _let_go(self, room_id: int, held) -> None:
        try:
            await self.let_go(room_id, held)
        except Exception:
            self.logger.exception("%s %s: letting go of room %s failed", self.kind, self.name, room_id)
        await self._release(self._lease_key(room_id))
        self._leaving.discard(room_id)
        self.logger.info("%s %s: released room %s", self.kind, self.name, room_id)

    async def _release(self, key: str) -> None:
        try:
            await self.release(keys=[key], args=[self.name])
        except Exception:
            self.logger.warning("%s %s: could not release %s", self.kind, self.name, key)
