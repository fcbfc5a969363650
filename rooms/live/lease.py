"""Rooms shared among worker processes through leases in Redis: the base of the mixer and the captioner.

A worker holds a room while it holds the room's lease, a Redis key (``<lease_prefix><room>``) whose
value is the worker's name and which expires after ``lease_ms``. Every ``RENEW_EVERY_S`` the worker
renews the leases it holds (one it lost, or whose work stopped, it lets go), lets go of the rooms it
no longer wants, and takes the lease of every wanted room nobody holds, up to ``max_rooms``. A worker
that dies stops renewing: within ``lease_ms + RENEW_EVERY_S`` another one takes its rooms over.
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from channels.db import database_sync_to_async

RENEW_EVERY_S = 1.0
# Renew only a lease we still hold; give it up only if it is ours.
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class LeaseWorker:
    """Hold the leases of the rooms `wanted_room_ids` names, as many as `max_rooms`, and work on them.

    A subclass says which rooms it wants, what taking and letting go of one does, and what runs
    beside the lease rounds (`start`, `stop`); the rooms it holds are the keys of `self.rooms`.
    """

    kind = "worker"  # as log lines name this process: "<kind> <name>: ..."
    lease_prefix = ""
    lease_ms = 3000

    def __init__(self, url: str, *, name: str, max_rooms: int) -> None:
        self.url = url
        self.name = name
        self.max_rooms = max_rooms
        self.redis = aioredis.Redis.from_url(url, socket_timeout=None)
        self.renew = self.redis.register_script(_RENEW)
        self.release = self.redis.register_script(_RELEASE)
        self.rooms: dict[int, object] = {}  # the rooms held, with what the subclass keeps for each
        self.logger = logging.getLogger(type(self).__module__)

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

    # -- the lease loop ---------------------------------------------------------------------------

    def _lease_key(self, room_id: int) -> str:
        return f"{self.lease_prefix}{room_id}"

    async def run(self, *, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        await self.start()
        try:
            while not stop.is_set():
                try:
                    await self._keep_leases()
                except Exception:
                    self.logger.exception("%s %s: lease round failed", self.kind, self.name)
                try:
                    await asyncio.wait_for(stop.wait(), RENEW_EVERY_S)
                except TimeoutError:
                    pass
        finally:
            await self.stop()
            for room_id in list(self.rooms):
                await self._drop(room_id)

    async def _keep_leases(self) -> None:
        for room_id in list(self.rooms):
            if not await self.renew(keys=[self._lease_key(room_id)], args=[self.name, self.lease_ms]):
                self.logger.warning("%s %s: lost the lease of room %s", self.kind, self.name, room_id)
                await self._drop(room_id)
            elif not self.still_working(room_id):
                await self._drop(room_id)
        wanted = await database_sync_to_async(self.wanted_room_ids)()
        for room_id in set(self.rooms) - set(wanted):
            self.unwanted(room_id)
            await self._drop(room_id)
        self.round_done()
        for room_id in wanted:
            if room_id in self.rooms:
                continue
            if len(self.rooms) >= self.max_rooms:
                break
            if await self.redis.set(self._lease_key(room_id), self.name, nx=True, px=self.lease_ms):
                await self.take(room_id)
                self.logger.info("%s %s: took room %s", self.kind, self.name, room_id)

    async def _drop(self, room_id: int) -> None:
        if room_id not in self.rooms:
            return
        await self.let_go(room_id, self.rooms.pop(room_id))
        try:
            await self.release(keys=[self._lease_key(room_id)], args=[self.name])
        except Exception:
            self.logger.warning("%s %s: could not release room %s", self.kind, self.name, room_id)
        self.logger.info("%s %s: released room %s", self.kind, self.name, room_id)
