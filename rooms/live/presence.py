"""Who is in a room right now, kept with heartbeats.

Group membership is not presence: a web process that dies leaves its sockets in channel groups
for a day (docs/architecture.md, "Pitfalls"). Here every connection is an entry with the time of its last heartbeat;
an entry that misses two beats is swept away. A person with two tabs open is one participant:
the roster counts people, not connections. Anonymous listeners are counted by client address
(`~<address>` identities), so thirty sockets from one address show the host one listener, and
the consumer refuses an address more than ANONYMOUS_SOCKETS_PER_ADDRESS sockets in one room.

Two stores with the same interface: Redis (several web processes) and memory (embedded mode).
"""

import asyncio
import time
import weakref
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings

from spaces_project.redis_clients import async_client, sync_client
from spaces_project.redis_options import async_options, sync_options

from .together import Together


@dataclass
class Snapshot:
    user_ids: set[int] = field(default_factory=set)
    anonymous: int = 0


@dataclass
class Change:
    """The result of adding or removing a connection."""

    user_id: int | None
    # True when the person had no other connection (arrived) or has none left (gone).
    person_changed: bool
    # After an add: how many connections this person (or anonymous address) now has in the room.
    connections: int = 1
    # After an add: the people connected to the room (people_count()), read with it.
    people: int | None = None


# Identities in the store: a user's id, or "~<address>" for anonymous connections.
Identity = int | str


def identity_for(user_id: int | None, address: str | None, conn: str) -> Identity:
    """A signed-in person is their id; anonymous visitors are their address (or, unknown, the connection)."""
    if user_id is not None:
        return user_id
    return f"~{address or conn}"


def _user_id(identity) -> int | None:
    if identity is None:
        return None
    text = identity.decode() if isinstance(identity, bytes) else str(identity)
    return None if text.startswith("~") or not text else int(text)


class MemoryPresence:
    def __init__(self) -> None:
        self.connections: dict[int, dict[str, int | None]] = defaultdict(dict)
        self.beats: dict[int, dict[str, float]] = defaultdict(dict)
        self.locks: dict[str, float] = {}
        self.flags: set[str] = set()

    async def add(
        self, room_id: int, conn: str, user_id: Identity | None, now: float | None = None
    ) -> Change:
        now = time.time() if now is None else now
        identity = identity_for(user_id, None, conn) if user_id is None else user_id
        existing = self.connections[room_id].get(conn)
        self.connections[room_id][conn] = identity
        self.beats[room_id][conn] = now
        count = sum(1 for value in self.connections[room_id].values() if value == identity)
        arrived = existing is None and count == 1 and _user_id(identity) is not None
        return Change(_user_id(identity), arrived, count, len(set(self.connections[room_id].values())))

    async def beat_many(
        self, room_id: int, members: list[tuple[str, Identity | None]], now: float | None = None
    ) -> int:
        """Refresh many connections at once, putting back any that were lost; returns how many were."""
        now = time.time() if now is None else now
        added = 0
        for conn, user_id in members:
            if conn in self.connections[room_id]:
                self.beats[room_id][conn] = now
            else:
                added += 1
                await self.add(room_id, conn, user_id, now)
        return added

    async def remove(self, room_id: int, conn: str) -> Change | None:
        if conn not in self.connections[room_id]:
            return None
        identity = self.connections[room_id].pop(conn)
        self.beats[room_id].pop(conn, None)
        gone = _user_id(identity) is not None and identity not in self.connections[room_id].values()
        if not self.connections[room_id]:
            del self.connections[room_id]
            del self.beats[room_id]
        return Change(_user_id(identity), gone, 0)

    async def stale(self, room_id: int, older_than: float) -> list[str]:
        return [conn for conn, beat in self.beats.get(room_id, {}).items() if beat < older_than]

    async def snapshot(self, room_id: int) -> Snapshot:
        identities = set(self.connections.get(room_id, {}).values())
        user_ids = {_user_id(i) for i in identities} - {None}
        return Snapshot(user_ids, len(identities) - len(user_ids))

    async def people_count(self, room_id: int) -> int:
        """People (signed-in users and anonymous addresses) connected to the room, stage included."""
        return len(set(self.connections.get(room_id, {}).values()))

    async def is_present(self, room_id: int, user_id: int) -> bool:
        """Whether the signed-in person has a connection to the room now."""
        return any(_user_id(i) == user_id for i in self.connections.get(room_id, {}).values())

    async def claim_sweep(self, room_id: int, seconds: float) -> bool:
        return await self.claim(f"sweep:{room_id}", seconds)

    async def claim(self, name: str, seconds: float) -> bool:
        now = time.monotonic()
        if self.locks.get(name, 0) > now:
            return False
        self.locks[name] = now + seconds
        return True

    async def release(self, name: str) -> None:
        self.locks.pop(name, None)

    async def flag(self, name: str) -> None:
        self.flags.add(name)

    async def take_flag(self, name: str) -> bool:
        if name in self.flags:
            self.flags.discard(name)
            return True
        return False

    async def has_flag(self, name: str) -> bool:
        return name in self.flags


# KEYS: conns hash, beats zset, users hash. ARGV: now, then (conn, identity) pairs, added in order.
# Returns each identity's connection count after its add (negated when the connection was already
# there), then the number of people in the room after them all.
_ADD_MANY = """
local out = {}
for i = 2, #ARGV, 2 do
  local conn, user = ARGV[i], ARGV[i + 1]
  local existing = redis.call('HGET', KEYS[1], conn)
  redis.call('ZADD', KEYS[2], ARGV[1], conn)
  if existing then
    out[#out + 1] = -tonumber(redis.call('HGET', KEYS[3], existing) or 1)
  else
    redis.call('HSET', KEYS[1], conn, user)
    out[#out + 1] = redis.call('HINCRBY', KEYS[3], user, 1)
  end
end
out[#out + 1] = redis.call('HLEN', KEYS[3])
return out
"""
# Connections added by one script call at most (its ARGV).
ADD_BATCH = 500

# ARGV: now, then (conn, user) pairs. Refresh each beat; put back a connection Redis lost (a
# restart) as _ADD would. Returns how many were put back.
_BEAT_MANY = """
local added = 0
for i = 2, #ARGV, 2 do
  local conn, user = ARGV[i], ARGV[i + 1]
  redis.call('ZADD', KEYS[2], ARGV[1], conn)
  if redis.call('HSETNX', KEYS[1], conn, user) == 1 then
    added = added + 1
    redis.call('HINCRBY', KEYS[3], user, 1)
  end
end
return added
"""

# Returns {identity, gone} or false when the connection was not there (removed twice).
_REMOVE = """
local user = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if not user then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
local n = redis.call('HINCRBY', KEYS[3], user, -1)
if n <= 0 then
  redis.call('HDEL', KEYS[3], user)
  return {user, 1}
end
return {user, 0}
"""


class RedisPresence:
    def __init__(self, url: str) -> None:
        self.url = url
        # An asyncio Redis client belongs to one event loop (production has one per process;
        # tests have one per test).
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        # The adds of a room arriving together, in one script call.
        self._adds = Together(self._add_many, max_batch=ADD_BATCH)

    @property
    def redis(self):
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            # A blocking pool: when a thousand sockets leave at once, more commands are in flight
            # than the pool holds, and the plain pool raised MaxConnectionsError for the excess
            # (bench/room_events.py). These wait for a free connection instead.
            client = async_client(
                self.url,
                max_connections=settings.REDIS_MAX_CONNECTIONS,
                blocking_timeout=20,
                **async_options(),
            )
            client.add_many_script = client.register_script(_ADD_MANY)
            client.beat_many_script = client.register_script(_BEAT_MANY)
            client.remove_script = client.register_script(_REMOVE)
            self._clients[loop] = client
        return client

    @staticmethod
    def _keys(room_id: int) -> list[str]:
        base = f"spaces:presence:{room_id}"
        return [f"{base}:conns", f"{base}:beats", f"{base}:users"]

    async def add(
        self, room_id: int, conn: str, user_id: Identity | None, now: float | None = None
    ) -> Change:
        """Add a connection. The adds of one room that arrive together (a web process's sockets
        reconnecting to this one) go to Redis in one script call, not one round trip each."""
        now = time.time() if now is None else now
        identity = str(identity_for(user_id, None, conn) if user_id is None else user_id)
        count, people = await self._adds.call(room_id, (conn, identity, now))
        arrived = count == 1 and _user_id(identity) is not None
        return Change(_user_id(identity), arrived, abs(count), people)

    async def _add_many(self, room_id: int, adds: list[tuple[str, str, float]]) -> list[tuple[int, int]]:
        """Add connections in one script call: each one's (count, people), as one by one."""
        args: list = [max(now for _, _, now in adds)]
        for conn, identity, _ in adds:
            args += [conn, identity]
        *counts, people = await self.redis.add_many_script(keys=self._keys(room_id), args=args)
        return [(int(count), int(people)) for count in counts]

    async def beat_many(
        self, room_id: int, members: list[tuple[str, Identity | None]], now: float | None = None
    ) -> int:
        """Refresh many connections in one round trip; returns how many had to be added back."""
        if not members:
            return 0
        now = time.time() if now is None else now
        args: list = [now]
        for conn, user_id in members:
            args += [conn, str(identity_for(user_id, None, conn) if user_id is None else user_id)]
        return int(await self.redis.beat_many_script(keys=self._keys(room_id), args=args))

    async def remove(self, room_id: int, conn: str) -> Change | None:
        result = await self.redis.remove_script(keys=self._keys(room_id), args=[conn])
        if not result:
            return None
        identity, gone = result
        user_id = _user_id(identity)
        return Change(user_id, bool(gone) and user_id is not None, 0)

    async def stale(self, room_id: int, older_than: float) -> list[str]:
        conns = await self.redis.zrangebyscore(self._keys(room_id)[1], "-inf", f"({older_than}")
        return [c.decode() if isinstance(c, bytes) else c for c in conns]

    async def snapshot(self, room_id: int) -> Snapshot:
        keys = self._keys(room_id)
        identities = await self.redis.hkeys(keys[2])
        user_ids = {_user_id(i) for i in identities} - {None}
        return Snapshot(user_ids, len(identities) - len(user_ids))

    async def people_count(self, room_id: int) -> int:
        """People (signed-in users and anonymous addresses) connected to the room, stage included."""
        return int(await self.redis.hlen(self._keys(room_id)[2]))

    async def is_present(self, room_id: int, user_id: int) -> bool:
        """Whether the signed-in person has a connection to the room now."""
        return bool(await self.redis.hexists(self._keys(room_id)[2], str(user_id)))

    async def claim_sweep(self, room_id: int, seconds: float) -> bool:
        """True for at most one caller per room every `seconds`, across all processes."""
        return await self.claim(f"sweep:{room_id}", seconds)

    async def claim(self, name: str, seconds: float) -> bool:
        return bool(await self.redis.set(f"spaces:lock:{name}", "1", nx=True, px=int(seconds * 1000)))

    async def release(self, name: str) -> None:
        await self.redis.delete(f"spaces:lock:{name}")

    async def flag(self, name: str) -> None:
        await self.redis.set(f"spaces:flag:{name}", "1", ex=60)

    async def take_flag(self, name: str) -> bool:
        return bool(await self.redis.getdel(f"spaces:flag:{name}"))

    async def has_flag(self, name: str) -> bool:
        return bool(await self.redis.exists(f"spaces:flag:{name}"))


def present_user_ids(room_ids: list[int]) -> dict[int, set[int]]:
    """The signed-in people connected to each room now, read from synchronous code (a Celery task).

    Raises when Redis does not answer: an empty roster read during an outage must not look like
    everyone left.
    """
    store = get_presence()
    if isinstance(store, MemoryPresence):
        return {
            room_id: {
                user
                for identity in store.connections.get(room_id, {}).values()
                if (user := _user_id(identity)) is not None
            }
            for room_id in room_ids
        }
    client = sync_client(store.url, **sync_options())
    try:
        with client.pipeline(transaction=False) as pipe:
            for room_id in room_ids:
                pipe.hkeys(RedisPresence._keys(room_id)[2])
            rows = pipe.execute()
    finally:
        client.close()
    return {
        room_id: {user for identity in identities if (user := _user_id(identity)) is not None}
        for room_id, identities in zip(room_ids, rows, strict=True)
    }


def flag_is_set(name: str) -> bool:
    """Whether `flag(name)` was raised (and has not expired), read from synchronous code."""
    store = get_presence()
    if isinstance(store, MemoryPresence):
        return name in store.flags
    client = sync_client(store.url, **sync_options())
    try:
        return bool(client.exists(f"spaces:flag:{name}"))
    finally:
        client.close()


_presence: MemoryPresence | RedisPresence | None = None


def get_presence() -> MemoryPresence | RedisPresence:
    global _presence
    if _presence is None:
        _presence = RedisPresence(settings.REDIS_URL) if settings.REDIS_URL else MemoryPresence()
    return _presence
