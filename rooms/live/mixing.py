"""Where room mixers run, and how audio reaches them and comes back.

Two modes, chosen by whether Redis is configured (``settings.AUDIO_MIXER``):

* ``external`` (Redis): ``manage.py run_mixer`` processes hold the room mixers. A web process
  publishes each allowed uplink frame on ``spaces:up:<room>``; the mixer holding that room's lease
  publishes bundles on ``spaces:audio:<room>``, which each web process receives once and writes to
  its own sockets (rooms/live/bus.py); its speaking levels are a room event, sent as every event is
  (``realtime.send_async``). Several mixer processes share rooms through leases in Redis; a
  mixer that dies stops renewing, and another takes its rooms over.
* ``embedded`` (no Redis): the mixer of a room runs as a task in the web process's event loop, so
  ``make run`` gives working audio on one machine with no server besides itself.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models import Q

from spaces_project import metrics, protocol, realtime
from spaces_project.redis_clients import async_client

from ..analytics import collect as analytics
from ..audio import wire
from ..audio.mixer import RoomMixer
from ..models import Participant, Room
from .bus import AUDIO_PREFIX, CHANNEL_PREFIX, get_bus, namespace
from .captions import room_captions_on, voice_sender
from .capture import open_capture
from .hls import open_writer
from .lease import LeaseWorker
from .mode import mixer_mode
from .runner import RoomAudioRunner

logger = logging.getLogger(__name__)

UPLINK_PREFIX = namespace() + "up:"
# An embedded mixer with no socket left in its room stops after this long.
EMBEDDED_IDLE_S = 30.0


def _mixed_rooms() -> Q:
    """Rooms whose stage is mixed: live ones, and scheduled ones with an open backstage."""
    return Q(state=Room.State.LIVE) | Q(state=Room.State.SCHEDULED, backstage_opened_at__isnull=False)


def load_stage(room_id: int) -> tuple[set[int], set[int]]:
    """(everyone on stage, those of them who are unmuted). Raise Room.DoesNotExist if gone."""
    rows = Participant.objects.filter(
        room_id=room_id,
        role__in=Participant.STAGE_ROLES,
        is_removed=False,
        room__in=Room.objects.filter(_mixed_rooms()),
    ).values_list("user_id", "is_muted")
    stage = {user for user, _ in rows}
    return stage, {user for user, muted in rows if not muted}


def room_on_air(room_id: int) -> bool:
    """Whether the room is live (not in its backstage): only then do listeners hear it and is it
    recorded."""
    return Room.objects.filter(pk=room_id, state=Room.State.LIVE).exists()


def make_runner(room_id: int, *, send_bundle, send_levels, standby: bool = False) -> RoomAudioRunner:
    async def loader():
        return await database_sync_to_async(load_stage)(room_id)

    async def capture():
        return await database_sync_to_async(open_capture)(room_id)

    async def captions_on():
        return await database_sync_to_async(room_captions_on)(room_id)

    async def on_air():
        return await database_sync_to_async(room_on_air)(room_id)

    async def hls_writer():
        return await database_sync_to_async(open_writer)(room_id)

    return RoomAudioRunner(
        room_id,
        load_stage=loader,
        send_bundle=send_bundle,
        send_levels=send_levels,
        mixer=RoomMixer(
            bundle_frames=settings.AUDIO_BUNDLE_FRAMES, stage_bundle_frames=settings.AUDIO_STAGE_BUNDLE_FRAMES
        ),
        open_capture=capture,
        load_captions=captions_on,
        send_voice=voice_sender(room_id),
        load_on_air=on_air,
        open_hls=hls_writer,
        note_talk=lambda talk: note_talk(room_id, talk),
        standby=standby,
    )


def note_talk(room_id: int, talk: dict[int, int]) -> None:
    """Each speaker's time heard, for the room's report (rooms/analytics/collect.py)."""
    for user_id, ms in talk.items():
        analytics.tally(room_id=room_id, kind="talk_ms", count=ms, user_id=user_id)


# -- embedded mode ---------------------------------------------------------------------------


class EmbeddedMixers:
    """Room mixers running in this process, one per room per event loop."""

    def __init__(self) -> None:
        self._runners: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _for_loop(self) -> dict[int, RoomAudioRunner]:
        loop = asyncio.get_running_loop()
        runners = self._runners.get(loop)
        if runners is None:
            runners = self._runners[loop] = {}
        return runners

    def ensure(self, room_id: int) -> RoomAudioRunner:
        runners = self._for_loop()
        runner = runners.get(room_id)
        if runner is None or runner.stopped.is_set():
            bus = get_bus()

            async def send_bundle(receiver: int, bundle: bytes) -> None:
                await bus.deliver_audio_locally(room_id, receiver, bundle)

            async def send_levels(levels: protocol.Levels) -> None:
                await realtime.send_async(levels, room_id=room_id)

            runner = runners[room_id] = make_runner(room_id, send_bundle=send_bundle, send_levels=send_levels)
            asyncio.get_running_loop().create_task(self._run(room_id, runner))
        return runner

    async def _run(self, room_id: int, runner: RoomAudioRunner) -> None:
        bus = get_bus()
        bus.add_event_observer(room_id, runner.observe_event)
        watcher = asyncio.get_running_loop().create_task(self._stop_when_idle(room_id, runner))
        try:
            await runner.run()
        finally:
            watcher.cancel()
            bus.remove_event_observer(room_id, runner.observe_event)
            if self._for_loop().get(room_id) is runner:
                del self._for_loop()[room_id]

    async def _stop_when_idle(self, room_id: int, runner: RoomAudioRunner) -> None:
        idle_since = None
        loop = asyncio.get_running_loop()
        while not runner.stopped.is_set():
            await asyncio.sleep(1.0)
            if get_bus().has_local_members(room_id):
                idle_since = None
            elif idle_since is None:
                idle_since = loop.time()
            elif loop.time() - idle_since > EMBEDDED_IDLE_S:
                runner.stop()

    def push(self, room_id: int, tagged: bytes) -> None:
        runner = self._for_loop().get(room_id)
        if runner is not None:
            runner.push(tagged)


# -- external mode: the web side -------------------------------------------------------------


class RedisUplink:
    """Publish uplink frames for the mixer process that holds the room.

    A speaker's socket must not wait for Redis on every 20 ms frame (behind a busy fan-out those
    waits add up until frames miss the mixer's jitter buffer): frames go on a queue, and one task
    per process publishes them in order, pipelining whatever has accumulated.
    """

    MAX_QUEUED = 2000  # about 40 s of one speaker; past that the oldest frames are useless anyway

    def __init__(self, url: str) -> None:
        self.url = url
        self._states: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _state(self) -> tuple[asyncio.Queue, asyncio.Task]:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None or state[1].done():
            client = async_client(self.url, socket_timeout=None)
            queue: asyncio.Queue = asyncio.Queue(maxsize=self.MAX_QUEUED)
            state = self._states[loop] = (queue, loop.create_task(self._publish_forever(client, queue)))
        return state

    async def send(self, room_id: int, tagged: bytes) -> None:
        queue, _ = self._state()
        try:
            queue.put_nowait((f"{UPLINK_PREFIX}{room_id}", tagged))
        except asyncio.QueueFull:
            metrics.AUDIO_UPLINK_DROPPED.labels(reason="queue_full").inc()
            logger.warning("uplink queue full: dropping a frame for room %s", room_id)

    @staticmethod
    async def _publish_forever(client, queue: asyncio.Queue) -> None:
        while True:
            items = [await queue.get()]
            while not queue.empty() and len(items) < 100:
                items.append(queue.get_nowait())
            try:
                async with client.pipeline(transaction=False) as pipe:
                    for channel, data in items:
                        pipe.publish(channel, data)
                    await pipe.execute()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("could not publish %d uplink frames", len(items))


class AudioUplink:
    """The one way a web process hands an allowed speaker's frame to the room's mixer."""

    def __init__(self) -> None:
        self._embedded: EmbeddedMixers | None = None
        self._redis: RedisUplink | None = None

    def _mixers(self) -> EmbeddedMixers | None:
        """This process's embedded mixers, or None when mixer processes do the mixing."""
        if mixer_mode() != "embedded":
            return None
        if self._embedded is None:
            self._embedded = EmbeddedMixers()
        return self._embedded

    def room_opened(self, room_id: int) -> None:
        """A socket joined a live room: make sure an embedded mixer runs for it."""
        mixers = self._mixers()
        if mixers is not None:
            mixers.ensure(room_id)

    async def send(self, room_id: int, tagged: bytes) -> None:
        mixers = self._mixers()
        if mixers is not None:
            mixers.push(room_id, tagged)
            return
        if self._redis is None:
            self._redis = RedisUplink(settings.REDIS_URL)
        await self._redis.send(room_id, tagged)


_uplink = AudioUplink()


def get_audio_uplink() -> AudioUplink:
    return _uplink


# -- external mode: the mixer process --------------------------------------------------------

LEASE_PREFIX = "spaces:mixer:lease:"
STANDBY_PREFIX = "spaces:mixer:standby:"
HELLO_CHANNEL = namespace() + "mixer:hello"
# A mixer that dies is silence for every listener until its room is taken over: the lease is short
# and renewed often (five renewals to a lease), and a warm standby takes the room within a renewal of
# its lapsing (docs/audio.md, "Leases").
LEASE_MS = 500
KEEP_EVERY_S = 0.1


def live_room_ids() -> list[int]:
    """The rooms a mixer process runs: live ones and open backstages."""
    return list(Room.objects.filter(_mixed_rooms()).values_list("pk", flat=True))


class MixerProcess(LeaseWorker):
    """Hold the leases of as many live rooms as this process can get, and mix them.

    It renews its leases every KEEP_EVERY_S (a lease it lost stops that room's mixer) and, every
    lease round (rooms/live/lease.py), tries to take the lease of every live room nobody holds and
    becomes the warm standby of rooms another mixer holds: it mixes them too, publishing nothing,
    and takes one over within KEEP_EVERY_S of its lease lapsing. A runner publishes only while its
    process certainly holds the room (`holds`), so a stalled mixer never talks over its successor.
    ``self.rooms`` and ``self.following`` hold each room's runner.
    """

    kind = "mixer"
    lease_prefix = LEASE_PREFIX
    standby_prefix = STANDBY_PREFIX
    lease_ms = LEASE_MS
    keep_every_s = KEEP_EVERY_S

    def __init__(
        self, url: str, *, name: str, max_rooms: int = 200, max_following: int | None = None
    ) -> None:
        super().__init__(url, name=name, max_rooms=max_rooms, max_following=max_following)
        self.tasks: dict[int, asyncio.Task] = {}
        self.pubsub = None
        self._reader: asyncio.Task | None = None

    def wanted_room_ids(self) -> list[int]:
        return live_room_ids()

    def still_working(self, room_id: int) -> bool:
        return not self.rooms[room_id].stopped.is_set()

    def _runner(self, room_id: int) -> RoomAudioRunner | None:
        return self.rooms.get(room_id) or self.following.get(room_id)

    async def start(self) -> None:
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await self.pubsub.subscribe(HELLO_CHANNEL)  # a pubsub needs a channel to read
        self._reader = asyncio.get_running_loop().create_task(self._read_forever())

    async def stop(self) -> None:
        self._reader.cancel()

    def _start_runner(self, room_id: int, *, standby: bool) -> RoomAudioRunner:
        async def send_bundle(receiver: int, bundle: bytes) -> None:
            if self.holds(room_id):
                try:
                    await self.redis.publish(f"{AUDIO_PREFIX}{room_id}", wire.tag(receiver, bundle))
                except Exception:
                    metrics.AUDIO_BUNDLES_DROPPED.labels(reason="publish_failed").inc()
                    raise

        async def send_levels(levels: protocol.Levels) -> None:
            if self.holds(room_id):
                await realtime.send_async(levels, room_id=room_id)

        runner = make_runner(room_id, send_bundle=send_bundle, send_levels=send_levels, standby=standby)
        self.tasks[room_id] = asyncio.get_running_loop().create_task(runner.run())
        return runner

    async def take(self, room_id: int) -> None:
        self.rooms[room_id] = self._start_runner(room_id, standby=False)
        await self.pubsub.subscribe(f"{UPLINK_PREFIX}{room_id}", f"{CHANNEL_PREFIX}{room_id}")

    async def follow(self, room_id: int) -> None:
        self.following[room_id] = self._start_runner(room_id, standby=True)
        await self.pubsub.subscribe(f"{UPLINK_PREFIX}{room_id}", f"{CHANNEL_PREFIX}{room_id}")

    async def promote(self, room_id: int, held) -> None:
        runner: RoomAudioRunner = held
        if runner.stopped.is_set():  # it ended while followed: the next round lets the room go
            self.rooms[room_id] = runner
            return
        runner.promote()
        self.rooms[room_id] = runner

    async def unfollow(self, room_id: int, held) -> None:
        await self.let_go(room_id, held)

    async def let_go(self, room_id: int, held) -> None:
        runner: RoomAudioRunner = held
        task = self.tasks.pop(room_id, None)
        runner.stop()
        if task is not None:
            # Let the runner finish its tick and close the recording's segment cleanly.
            try:
                await asyncio.wait_for(task, 3)
            except (TimeoutError, asyncio.CancelledError, Exception):
                task.cancel()
        try:
            await self.pubsub.unsubscribe(f"{UPLINK_PREFIX}{room_id}", f"{CHANNEL_PREFIX}{room_id}")
        except Exception:
            logger.warning("mixer %s: could not unsubscribe from room %s", self.name, room_id)

    async def _read_forever(self) -> None:
        while True:
            try:
                message = await self.pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("mixer %s: lost Redis; resubscribing", self.name)
                await asyncio.sleep(0.5)
                try:
                    watched = [*self.rooms, *self.following]
                    await self.pubsub.subscribe(
                        HELLO_CHANNEL,
                        *(f"{UPLINK_PREFIX}{r}" for r in watched),
                        *(f"{CHANNEL_PREFIX}{r}" for r in watched),
                    )
                except Exception:
                    pass
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"].decode()
            if channel.startswith(UPLINK_PREFIX):
                runner = self._runner(int(channel.removeprefix(UPLINK_PREFIX)))
                if runner is not None:
                    runner.push(message["data"])
            elif channel.startswith(CHANNEL_PREFIX):
                runner = self._runner(int(channel.removeprefix(CHANNEL_PREFIX)))
                if runner is not None:
                    runner.observe_event(protocol.open_envelope(message["data"]).event)
