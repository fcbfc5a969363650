"""Live captions: how each speaker's voice reaches the recognizer, and where its lines go.

The recognizer never runs where the audio is mixed, and nothing waits for it:

* ``external`` (Redis, like the mixers): the mixer holding a room appends its voice pieces
  (rooms/audio/voicetap.py) to a Redis stream per room, capped at ``STREAM_MAXLEN`` entries, from a
  background task fed by a bounded in-process queue (full: the piece is dropped). ``manage.py
  run_captioner`` processes share the rooms that have captions on through leases in Redis, read
  their streams and recognize them (rooms/audio/captioner.py); a gap in a speaker's piece numbers
  becomes a "skipped" line.
* ``embedded`` (no Redis): the web process, which mixes its rooms itself, starts one child process
  for recognition on first use and hands it pieces through a bounded multiprocessing queue.

Either way each caption line goes to ``CaptionSink``: a ``room.caption`` event for the room's
sockets (``realtime.send``), and, for a final line in a recorded room, a line of the recording's
transcript.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import queue
import threading
import weakref

from django.conf import settings
from django.db import close_old_connections, connection

from accounts.models import User
from spaces_project import metrics, protocol, realtime
from spaces_project.redis_clients import async_client

from .. import hooks
from ..audio.captioner import Caption, Captioner, PieceFeed, StreamingVad, child_main
from ..models import Room
from .bus import namespace
from .lease import LeaseWorker
from .mode import mixer_mode

logger = logging.getLogger(__name__)

VOICE_PREFIX = namespace() + "voice:"
# 60 s of one speaker's 100 ms pieces: a captioner that falls further behind loses the oldest.
STREAM_MAXLEN = 600
LEASE_PREFIX = "spaces:captioner:lease:"
# Longer than a mixer's: a captioner on a machine busy enough to be late renewing loses nothing
# urgent, and rooms should not flap between captioners.
LEASE_MS = 10_000


def captions_mode() -> str:
    """Captions follow the mixers: over Redis to run_captioner, or to a child of the web process."""
    return mixer_mode()


def room_captions_on(room_id: int) -> bool:
    return Room.objects.filter(pk=room_id, state=Room.State.LIVE, captions_enabled=True).exists()


def captioned_room_ids() -> list[int]:
    return list(
        Room.objects.filter(state=Room.State.LIVE, captions_enabled=True).values_list("pk", flat=True)
    )


# -- where the lines go ------------------------------------------------------------------------------


class CaptionSink:
    """Publish each line to its room and hand it to the apps above (rooms/hooks.py: recordings keeps
    the finals of recorded rooms). Runs in a worker thread."""

    def __init__(self) -> None:
        self._names: dict[int, str] = {}

    def _name(self, user_id: int) -> str:
        name = self._names.get(user_id)
        if name is None:
            user = User.objects.filter(pk=user_id).first()
            name = self._names[user_id] = user.name if user else "Someone"
        return name

    def __call__(self, caption: Caption) -> None:
        metrics.CAPTION_LINES.labels(
            kind="skipped" if caption.skipped else "final" if caption.final else "partial"
        ).inc()
        close_old_connections()
        try:
            name = self._name(caption.user_id)
            event = protocol.CaptionLine(
                user_id=caption.user_id,
                name=name,
                line=f"{caption.user_id}-{caption.utterance}",
                final=caption.final,
                text=caption.text,
                skipped=caption.skipped,
            )
            realtime.send(event, room_id=caption.room_id)
            # What the apps above keep of the line: a recorded room's transcript (rooms/hooks.py).
            if caption.skipped:
                for on_caption_gap in hooks.on_caption_gap:
                    on_caption_gap(room_id=caption.room_id)
            elif caption.final and caption.text:
                for on_caption_line in hooks.on_caption_line:
                    on_caption_line(
                        room_id=caption.room_id,
                        user_id=caption.user_id,
                        speaker_name=name,
                        text=caption.text,
                        wall_start_ms=caption.start_ms,
                        wall_end_ms=caption.end_ms,
                    )
        except Exception:
            logger.exception("could not deliver a caption line for room %s", caption.room_id)


# -- the mixer's side: sending voice pieces ---------------------------------------------------------


class RedisVoiceQueue:
    """Append voice pieces to the rooms' streams from a background task; ``send`` never waits."""

    MAX_QUEUED = 300  # pieces (30 s of one voice) waiting for Redis; past that they are dropped

    def __init__(self, url: str) -> None:
        self.url = url
        self.dropped = 0
        self._states: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _state(self) -> asyncio.Queue:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None or state[1].done():
            client = async_client(self.url, socket_timeout=None)
            pending: asyncio.Queue = asyncio.Queue(maxsize=self.MAX_QUEUED)
            state = self._states[loop] = (pending, loop.create_task(self._append_forever(client, pending)))
        return state[0]

    def sender(self, room_id: int):
        key = f"{VOICE_PREFIX}{room_id}"

        def send(pieces: list[bytes]) -> None:
            pending = self._state()
            for piece in pieces:
                try:
                    pending.put_nowait((key, piece))
                except asyncio.QueueFull:
                    self.dropped += 1
                    metrics.CAPTION_VOICE_DROPPED.inc()

        return send

    @staticmethod
    async def _append_forever(client, pending: asyncio.Queue) -> None:
        while True:
            items = [await pending.get()]
            while not pending.empty() and len(items) < 100:
                items.append(pending.get_nowait())
            try:
                async with client.pipeline(transaction=False) as pipe:
                    for key, piece in items:
                        pipe.xadd(key, {b"p": piece}, maxlen=STREAM_MAXLEN, approximate=True)
                    await pipe.execute()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("could not queue %d voice pieces for captions", len(items))


class EmbeddedCaptioner:
    """Without Redis: one recognizer child process for this web process, started on first use."""

    MAX_QUEUED = 300

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process = None
        self._inbox = None
        self.dropped = 0
        self.error = ""

    def _ensure(self):
        with self._lock:
            if self._process is not None and self._process.is_alive():
                return self._inbox
            if self.error:
                return None
            context = multiprocessing.get_context("spawn")
            # One BLAS thread in the child, as manage.py gives run_captioner: OpenBLAS's thread per
            # core would spin beside the recognizer's one thread (inherited by the child at start).
            os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
            self._inbox = context.Queue(maxsize=self.MAX_QUEUED)
            outbox = context.Queue()
            self._process = context.Process(
                target=child_main,
                args=(settings.CAPTIONS_ENGINE, self._inbox, outbox),
                kwargs={
                    "model_dir": settings.CAPTIONS_MODEL_DIR,
                    "max_delay_s": settings.CAPTIONS_MAX_DELAY_S,
                    "partial_every_s": settings.CAPTIONS_PARTIAL_EVERY_S,
                },
                daemon=True,
                name="captioner",
            )
            self._process.start()
            threading.Thread(
                target=self._deliver_forever, args=(outbox,), daemon=True, name="captions"
            ).start()
            return self._inbox

    def _deliver_forever(self, outbox) -> None:
        sink = CaptionSink()
        while True:
            item = outbox.get()
            if isinstance(item, str):
                self.error = item
                logger.error("live captions are off: %s", item)
                return
            sink(item)
            # Captions come now and then: hold no connection between them (nor after the last).
            connection.close()

    def sender(self, room_id: int):
        def send(pieces: list[bytes]) -> None:
            inbox = self._ensure()
            if inbox is None:
                return
            for piece in pieces:
                try:
                    inbox.put_nowait((room_id, piece))
                except queue.Full:
                    self.dropped += 1
                    metrics.CAPTION_VOICE_DROPPED.inc()

        return send


_redis_queue: RedisVoiceQueue | None = None
_embedded: EmbeddedCaptioner | None = None


def voice_sender(room_id: int):
    """The function a room's mixer gives its voice pieces to (never blocks)."""
    global _redis_queue, _embedded
    if captions_mode() == "external":
        if _redis_queue is None:
            _redis_queue = RedisVoiceQueue(settings.REDIS_URL)
        return _redis_queue.sender(room_id)
    if _embedded is None:
        _embedded = EmbeddedCaptioner()
    return _embedded.sender(room_id)


# -- the captioner process (external mode) -----------------------------------------------------------


class CaptionerProcess(LeaseWorker):
    """Hold the leases of live rooms with captions on, read their voice streams, recognize them.

    Recognition runs in a thread of its own (CTranslate2 and ONNX Runtime release the GIL), so this
    loop keeps reading the streams while a line is being recognized. ``self.rooms`` holds the last
    stream id read of each room.
    """

    kind = "captioner"
    lease_prefix = LEASE_PREFIX
    lease_ms = LEASE_MS

    def __init__(self, url: str, *, name: str, engine, max_rooms: int = 50, sink=None) -> None:
        super().__init__(url, name=name, max_rooms=max_rooms)
        self.captioner = Captioner(
            engine,
            on_caption=sink or CaptionSink(),
            max_delay_s=settings.CAPTIONS_MAX_DELAY_S,
            partial_every_s=settings.CAPTIONS_PARTIAL_EVERY_S,
        )
        StreamingVad()  # load the VAD model now, not on the event loop when the first voice arrives
        self.feed = PieceFeed(self.captioner)
        self._rounds = 0
        self._halt = threading.Event()
        self._reader: asyncio.Task | None = None

    def wanted_room_ids(self) -> list[int]:
        return captioned_room_ids()

    async def start(self) -> None:
        worker = threading.Thread(
            target=self.captioner.run_forever, args=(self._halt,), daemon=True, name="recognizer"
        )
        worker.start()
        self._reader = asyncio.get_running_loop().create_task(self._read_forever())

    async def stop(self) -> None:
        self._reader.cancel()
        self._halt.set()

    def unwanted(self, room_id: int) -> None:
        logger.info("captioner %s: room %s has captions off or ended", self.name, room_id)

    def round_done(self) -> None:
        self._rounds += 1
        metrics.CAPTION_QUEUE.set(self.captioner.waiting())
        if self._rounds % 30 == 0 and self.rooms:
            logger.info("captioner %s: rooms %s, %s", self.name, sorted(self.rooms), self.captioner.stats)

    async def take(self, room_id: int) -> None:
        # From now on: older voice (from before captions were on, or another captioner's backlog)
        # is not worth captioning late.
        self.rooms[room_id] = b"$"

    async def let_go(self, room_id: int, held) -> None:
        self.feed.forget(room_id)

    async def _read_forever(self) -> None:
        while True:
            if not self.rooms:
                await asyncio.sleep(0.1)
                continue
            streams = {f"{VOICE_PREFIX}{room_id}": last for room_id, last in self.rooms.items()}
            try:
                answer = await self.redis.xread(streams, block=200, count=200)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("captioner %s: lost Redis; retrying", self.name)
                await asyncio.sleep(0.5)
                continue
            for key, entries in answer or []:
                room_id = int((key.decode() if isinstance(key, bytes) else key).removeprefix(VOICE_PREFIX))
                if room_id not in self.rooms:
                    continue
                for entry_id, fields in entries:
                    self.rooms[room_id] = entry_id
                    try:
                        self.feed.feed(room_id, fields[b"p"])
                    except Exception:
                        logger.exception("captioner %s: bad voice piece in room %s", self.name, room_id)


def lower_priority() -> None:
    """Recognition yields the CPU to the mixers and web processes on the same machine."""
    try:
        os.nice(int(getattr(settings, "CAPTIONS_NICE", 10)))
    except OSError:
        pass
