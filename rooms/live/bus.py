"""Deliver room events to every socket in a room: once to each web process, then locally.

Per-member ``group_send`` through channels-redis copies every message per socket, drops silently
past a channel's capacity and tops out near 2-3k deliveries a second (docs/architecture.md), which a
room of a thousand listeners exceeds. So each web process subscribes once per room it has sockets in (Redis
pub/sub), decodes each message once, and writes it to its own sockets in order.

With no Redis configured the bus is in-process: publishing hands the message to the event loop the
sockets live on.

A message on the bus is the envelope of spaces_project/protocol/ (``protocol.envelope``): an event, and
optionally the one person it is for (``to``) and a code to close their sockets with (``close``).
Events reach the bus only through spaces_project/realtime.py (``send_on_commit``, ``send``,
``send_async``), which this app registers it with at start (rooms/apps.py).
Event observers (an embedded room mixer) see every event of a room.

Audio bundles from a room's mixer travel the same way on a second channel per room, as bytes: the
receiver's tag (``wire.tag``; 0 = the program mix) and the bundle (rooms/audio/wire.py). Each socket
gets the stream it plays (`audio_receiver`), and the bytes are written as they came, never copied per
socket.
"""

import asyncio
import logging
import weakref
from collections import defaultdict
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlparse

from django.conf import settings

from spaces_project import metrics, protocol
from spaces_project.protocol import closes
from spaces_project.redis_clients import async_client, sync_client
from spaces_project.redis_options import async_options, sync_options

from ..audio import wire
from .backlog import SendBacklog, transport_of

logger = logging.getLogger(__name__)

RECONNECT_MAX_S = 1.0
IDLE_PING_S = 10.0


def namespace() -> str:
    """The prefix of every pub/sub channel: Redis scopes keys by database number, but not pub/sub
    channels, so two sites (or test runs) on one Redis must not hear each other's rooms."""
    database = (urlparse(settings.REDIS_URL).path or "/0").strip("/") or "0"
    return f"spaces:{database}:"


CHANNEL_PREFIX = namespace() + "room:"


class BusMember(Protocol):
    user_id: int | None
    # Which audio stream the socket plays: 0 = the program mix, its user id = its mix-minus,
    # None = no audio.
    audio_receiver: int | None

    async def send_event(self, text: str, event: dict) -> None: ...

    async def send_audio(self, bundle: bytes) -> None: ...

    async def close_from_bus(self, code: int) -> None: ...


AUDIO_PREFIX = namespace() + "audio:"


def room_channel(room_id: int) -> str:
    return f"{CHANNEL_PREFIX}{room_id}"


def audio_channel(room_id: int) -> str:
    return f"{AUDIO_PREFIX}{room_id}"


EventObserver = Callable[[dict], None]
MAX_BATCH = 64
# A fan-out to a thousand sockets takes tens of milliseconds; let the loop breathe (a speaker's
# uplink frames, heartbeats) every so many sockets.
YIELD_EVERY = 200


Payload = bytes | protocol.Delivery | list[dict]


def _read(items: list[tuple[int, str | bytes]]) -> list[tuple[int, Payload]]:
    """Open each envelope once; audio stays bytes."""
    return [
        (room_id, raw if isinstance(raw, bytes) else protocol.open_envelope(raw)) for room_id, raw in items
    ]


def _coalesce(items: list[tuple[int, Payload]]) -> list[tuple[int, Payload]]:
    """Merge runs of broadcast events (no `to`, no `close`) for the same room into lists."""
    out: list[tuple[int, Payload]] = []
    for room_id, payload in items:
        if not isinstance(payload, protocol.Delivery) or not payload.is_broadcast:
            out.append((room_id, payload))
            continue
        previous = out[-1] if out else None
        if previous and previous[0] == room_id and isinstance(previous[1], list):
            previous[1].append(payload.event)
        else:
            out.append((room_id, [payload.event]))
    # A single event stays a plain frame.
    return [
        (room_id, protocol.Delivery(p[0]) if isinstance(p, list) and len(p) == 1 else p) for room_id, p in out
    ]


class _LoopFanout:
    """The sockets of one event loop, by room, and an ordered queue of messages to deliver."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.rooms: dict[int, set[BusMember]] = defaultdict(set)
        self.observers: dict[int, list[EventObserver]] = defaultdict(list)
        self.queue: asyncio.Queue[tuple[int, str | bytes]] = asyncio.Queue()
        # What waits for each socket under daphne (rooms/live/backlog.py), made at its first bundle.
        self.backlogs: weakref.WeakKeyDictionary[BusMember, SendBacklog | None] = weakref.WeakKeyDictionary()
        self.worker = loop.create_task(self._deliver_forever())

    async def _deliver_forever(self) -> None:
        while True:
            items = [await self.queue.get()]
            # When delivery falls behind, take everything already waiting: consecutive events for
            # the same room go out as one frame per socket (each frame costs the server far more
            # than its bytes), so a backlog shrinks instead of growing. Nothing waits to be batched.
            while not self.queue.empty() and len(items) < MAX_BATCH:
                items.append(self.queue.get_nowait())
            payloads = _read(items)
            for room_id, payload in _coalesce(payloads) if len(payloads) > 1 else payloads:
                try:
                    if isinstance(payload, bytes):
                        receiver, bundle = wire.untag(payload)
                        await self.deliver_audio(room_id, receiver, bundle)
                    elif isinstance(payload, list):
                        await self.deliver_batch(room_id, payload)
                    else:
                        await self.deliver(room_id, payload)
                except Exception:  # one bad message must not stop delivery for the process
                    logger.exception("room bus delivery failed for room %s", room_id)

    async def deliver_batch(self, room_id: int, events: list[dict]) -> None:
        """Several broadcast events for one room, as one `room.batch` frame per socket."""
        for event in events:
            for observe in list(self.observers.get(room_id, ())):
                observe(event)
        batch = protocol.Batch(events=events).payload()
        text = protocol.encode(batch)
        for number, member in enumerate(list(self.rooms.get(room_id, ()))):
            if number % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)
            try:
                await member.send_event(text, batch)
            except Exception:
                logger.debug("room bus could not deliver to one member of room %s", room_id, exc_info=True)

    async def deliver(self, room_id: int, delivery: protocol.Delivery) -> None:
        event = delivery.event
        for observe in list(self.observers.get(room_id, ())):
            observe(event)
        members = self.rooms.get(room_id)
        if not members:
            return
        text = protocol.encode(event)
        to = delivery.to
        close = delivery.close
        for number, member in enumerate(list(members)):
            if number % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)
            if to is not None and member.user_id != to:
                continue
            # A socket that closed while the event went out raises (autobahn's Disconnected);
            # it must not cost the members after it in this loop their copy.
            try:
                await member.send_event(text, event)
                if close:
                    await member.close_from_bus(close)
            except Exception:
                logger.debug("room bus could not deliver to one member of room %s", room_id, exc_info=True)

    async def deliver_audio(self, room_id: int, receiver: int, bundle: bytes) -> None:
        sent = 0
        for number, member in enumerate(list(self.rooms.get(room_id, ()))):
            if number % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)
            if member.audio_receiver == receiver:
                try:
                    await member.send_audio(bundle)
                    sent += 1
                    await self._check_backlog(room_id, member, bundle)
                except Exception:  # a socket closing mid-send must not cost the others
                    metrics.AUDIO_BUNDLES_DROPPED.labels(reason="send_failed").inc()
                    logger.debug("could not send audio to one member of room %s", room_id, exc_info=True)
        if sent:  # once per fan-out, not per socket: a thousand listeners cost one count
            metrics.AUDIO_BUNDLES_SENT.inc(sent)

    async def _check_backlog(self, room_id: int, member: BusMember, bundle: bytes) -> None:
        """Cut loose a socket whose reader left more than 5 s of audio waiting: sending never waits
        for it, but what waits would grow without end."""
        if member not in self.backlogs:
            transport = transport_of(getattr(member, "base_send", None))
            self.backlogs[member] = SendBacklog(transport) if transport is not None else None
        backlog = self.backlogs[member]
        if backlog is None:
            return
        waiting_ms = backlog.audio_handed(bundle)
        if backlog.stalled():
            # A warning: many of these at once say the network (or a proxy) is in trouble.
            logger.warning(
                "room %s: a socket with %d ms of audio waiting is closed (%d bytes held)",
                room_id,
                waiting_ms,
                backlog.pending(),
            )
            self.backlogs[member] = None
            metrics.AUDIO_BUNDLES_DROPPED.labels(reason="slow_reader").inc(len(backlog.bundles))
            try:
                await member.close_from_bus(closes.CLOSE_SLOW_READER)
            finally:
                backlog.cut_loose()

    async def deliver_to_all(self, event: protocol.ServerEvent) -> None:
        text, payload = event.encode(), event.payload()
        for members in list(self.rooms.values()):
            for member in list(members):
                try:
                    await member.send_event(text, payload)
                except Exception:
                    logger.debug("room bus could not deliver to one member", exc_info=True)


class _BusBase:
    """What both buses share: the per-loop fan-out and its observers."""

    def _fanout(self) -> _LoopFanout:
        raise NotImplementedError

    def add_event_observer(self, room_id: int, observer: EventObserver) -> None:
        self._fanout().observers[room_id].append(observer)

    def remove_event_observer(self, room_id: int, observer: EventObserver) -> None:
        observers = self._fanout().observers.get(room_id)
        if observers and observer in observers:
            observers.remove(observer)
            if not observers:
                del self._fanout().observers[room_id]

    def has_local_members(self, room_id: int) -> bool:
        return bool(self._fanout().rooms.get(room_id))

    def _all_fanouts(self) -> list[_LoopFanout]:
        raise NotImplementedError

    def attached_count(self) -> int:
        """How many sockets this process has attached, in every room (for /healthz and the fault
        tests: a socket that went away must not stay attached). Safe from any thread."""
        return sum(len(members) for fanout in self._all_fanouts() for members in list(fanout.rooms.values()))

    def local_members(self, room_id: int) -> list[BusMember]:
        return list(self._fanout().rooms.get(room_id, ()))

    async def deliver_audio_locally(self, room_id: int, receiver: int, bundle: bytes) -> None:
        """Hand a bundle to this process's sockets (the embedded mixer's way out)."""
        await self._fanout().deliver_audio(room_id, receiver, bundle)


class MemoryBus(_BusBase):
    """One process: publishing puts the envelope on the queue of the loop that holds the sockets."""

    def __init__(self) -> None:
        self._fanouts: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopFanout] = (
            weakref.WeakKeyDictionary()
        )

    def _all_fanouts(self) -> list[_LoopFanout]:
        return list(self._fanouts.values())

    def _fanout(self) -> _LoopFanout:
        loop = asyncio.get_running_loop()
        fanout = self._fanouts.get(loop)
        if fanout is None:
            fanout = self._fanouts[loop] = _LoopFanout(loop)
        return fanout

    async def attach(self, room_id: int, member: BusMember) -> None:
        self._fanout().rooms[room_id].add(member)

    async def detach(self, room_id: int, member: BusMember) -> None:
        members = self._fanout().rooms.get(room_id)
        if members is not None:
            members.discard(member)
            if not members:
                del self._fanout().rooms[room_id]

    def publish(self, room_id: int, message: str) -> None:
        """Send `message` (a ``protocol.envelope``) to the room. Safe from any thread."""
        raw = message
        for fanout in list(self._fanouts.values()):
            if (room_id in fanout.rooms or room_id in fanout.observers) and not fanout.loop.is_closed():
                fanout.loop.call_soon_threadsafe(fanout.queue.put_nowait, (room_id, raw))

    async def publish_async(self, room_id: int, message: str) -> None:
        """`publish`, from async code: it never blocks here."""
        self.publish(room_id, message)


class RedisBus(_BusBase):
    """Many processes: Redis pub/sub, one subscription per room per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._publisher = sync_client(url, **sync_options())
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _RedisLoopState] = (
            weakref.WeakKeyDictionary()
        )

    def _state(self) -> "_RedisLoopState":
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            state = self._states[loop] = _RedisLoopState(self.url, loop)
        return state

    def _fanout(self) -> _LoopFanout:
        return self._state().fanout

    def _all_fanouts(self) -> list[_LoopFanout]:
        return [state.fanout for state in list(self._states.values())]

    async def attach(self, room_id: int, member: BusMember) -> None:
        await self._state().attach(room_id, member)

    async def detach(self, room_id: int, member: BusMember) -> None:
        await self._state().detach(room_id, member)

    def publish(self, room_id: int, message: str) -> None:
        """Send `message` (a ``protocol.envelope``) to the room. Safe from any thread; blocks for one
        Redis round trip: call it from async code through ``publish_async``."""
        self._publisher.publish(room_channel(room_id), message)

    async def publish_async(self, room_id: int, message: str) -> None:
        """`publish`, from async code, on this loop's own connection: never on a thread (the database
        thread of `database_sync_to_async` least of all, where it would queue behind queries)."""
        await self._state().publisher().publish(room_channel(room_id), message)


class _RedisLoopState:
    def __init__(self, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.url = url
        self.fanout = _LoopFanout(loop)
        self.pubsub = None
        self.reader: asyncio.Task | None = None
        self.ready = asyncio.Event()
        self.lock = asyncio.Lock()
        self._publisher = None

    def publisher(self):
        if self._publisher is None:
            self._publisher = async_client(self.url)
        return self._publisher

    async def attach(self, room_id: int, member: BusMember) -> None:
        async with self.lock:
            first = room_id not in self.fanout.rooms
            self.fanout.rooms[room_id].add(member)
            await self._ensure_reader()
            if first:
                await self.pubsub.subscribe(room_channel(room_id), audio_channel(room_id))

    async def detach(self, room_id: int, member: BusMember) -> None:
        async with self.lock:
            members = self.fanout.rooms.get(room_id)
            if members is None:
                return
            members.discard(member)
            if not members:
                del self.fanout.rooms[room_id]
                if self.pubsub is not None:
                    try:
                        await self.pubsub.unsubscribe(room_channel(room_id), audio_channel(room_id))
                    except Exception:
                        logger.warning("could not unsubscribe from room %s", room_id)

    async def _ensure_reader(self) -> None:
        if self.reader is None or self.reader.done():
            await self._connect()
            self.reader = asyncio.get_running_loop().create_task(self._read_forever())

    async def _connect(self) -> None:
        if self.pubsub is not None:
            old, self.pubsub = self.pubsub, None
            try:
                await old.aclose()
            except Exception:
                pass
        # No retries on this connection: a silent reconnect would resubscribe without telling us
        # that messages were lost, and the sockets would never re-read their rooms. No health
        # checks either: redis-py's reads the connection from whichever coroutine sends a command,
        # while _read_forever is reading it ("readuntil() called while another coroutine is
        # already waiting"); _read_forever PINGs a quiet connection itself.
        client = async_client(
            self.url,
            **{
                **async_options(),
                "retry": None,
                "retry_on_error": None,
                "health_check_interval": 0,
                "socket_keepalive": True,
            },
        )
        # Every reply is a message (subscribe confirmations too): None means the read timed out.
        self.pubsub = client.pubsub(ignore_subscribe_messages=False)
        channels = [
            name for room_id in self.fanout.rooms for name in (room_channel(room_id), audio_channel(room_id))
        ]
        if channels:
            await self.pubsub.subscribe(*channels)

    async def _read_forever(self) -> None:
        backoff = 0.2
        unanswered = 0
        while True:
            try:
                message = await self.pubsub.get_message(timeout=IDLE_PING_S)
                if message is None:
                    # Quiet for a while: a connection that a network fault cut without a word
                    # would leave every socket of this process deaf. PING it; no answer (a
                    # "pong" message) by the next quiet period means it is gone.
                    if unanswered:
                        raise ConnectionError("the room bus connection does not answer")
                    unanswered += 1
                    await self.pubsub.ping()
                    continue
                unanswered = 0
                backoff = 0.2
                if message.get("type") != "message":
                    continue
                channel = message["channel"]
                if isinstance(channel, bytes):
                    channel = channel.decode()
                data = message["data"]
                if channel.startswith(AUDIO_PREFIX):
                    self.fanout.queue.put_nowait((int(channel.removeprefix(AUDIO_PREFIX)), bytes(data)))
                else:
                    room_id = int(channel.removeprefix(CHANNEL_PREFIX))
                    self.fanout.queue.put_nowait(
                        (room_id, data.decode() if isinstance(data, bytes) else data)
                    )
            except asyncio.CancelledError:
                raise
            except Exception:
                # Redis went away. Messages published meanwhile are lost, so once we are
                # subscribed again every socket is told to re-read the room's state.
                logger.warning("room bus lost Redis; reconnecting in %.1fs", backoff)
                await asyncio.sleep(backoff)
                # Capped low: every socket of the process waits for this reconnect to hear its
                # room again, and one attempt a second per process costs Redis nothing.
                backoff = min(backoff * 2, RECONNECT_MAX_S)
                try:
                    async with self.lock:
                        await self._connect()
                    await self.fanout.deliver_to_all(protocol.Resync())
                except Exception:
                    logger.warning("room bus reconnect failed")


_bus: MemoryBus | RedisBus | None = None


def get_bus() -> MemoryBus | RedisBus:
    global _bus
    if _bus is None:
        _bus = RedisBus(settings.REDIS_URL) if settings.REDIS_URL else MemoryBus()
    return _bus


def attached_count() -> int:
    """How many sockets this process has attached to the bus (0 before the first one)."""
    return _bus.attached_count() if _bus is not None else 0
