"""Drive one room's mixer on a 20 ms clock inside an asyncio loop: the glue that turns the room's
events (the realtime contract, spaces_project.protocol) into calls on the audio core's mixer
(rooms/audio/). No Django here, so the benchmarks run it alone.

The runner owns a `RoomMixer` and keeps it fed: uplink frames are pushed as they arrive, the stage
(who may be heard, who gets a mix-minus stream) follows the room's events and a periodic reload,
and every 20 ms `tick` runs and its bundles go to `send_bundle`. Speaking levels go to
`send_levels` a few times a second, only when they changed.

A runner started as a standby (``standby=True``: another mixer process holds the room, rooms/live/
lease.py) mixes everything it hears and sends, records and publishes nothing; `promote` makes it the
room's mixer, with its speakers' jitter buffers and decoders already warm, and sends at once the part
of a bundle it has mixed. Until its recording is open (a standby's, or any runner's before the
capture is opened) it keeps its last BACK_FILL_S of program packets in memory; a capture that can
back-fill (rooms/live/capture.py's StoredCapture) gets them first and writes those its predecessor
had not stored, so a mixer that dies takes nothing of the recording with it.

A room in its backstage is mixed for its stage only: until the runner is on air (``load_on_air``
says the room is live, or it sees ``room.went_live``) it sends no program bundle (what listeners
play), records nothing, publishes no speaking levels and hands no voice to the captioner. Stage
members get their mix-minus bundles as usual, so they hear each other.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from spaces_project import metrics, protocol

from ..audio import wire
from ..audio.mixer import RoomMixer
from ..audio.voicetap import VoiceTap

logger = logging.getLogger(__name__)

StageLoader = Callable[[], Awaitable[tuple[set[int], set[int]]]]
# Returns a capture writer (write/flush/close, see rooms/audio/capture.py) when the room is recorded.
CaptureOpener = Callable[[], Awaitable["Capture | None"]]
BundleSink = Callable[[int, bytes], Awaitable[None]]
LevelsSink = Callable[[protocol.Levels], Awaitable[None]]
# Live captions: whether the room has them on, and where the voice pieces go. The sink must not
# block (it puts the pieces on a bounded queue, or drops them): the clock never waits for captions.
CaptionsLoader = Callable[[], Awaitable[bool]]
# Whether the room is live (True) or in its backstage (False).
OnAirLoader = Callable[[], Awaitable[bool]]
VoiceSink = Callable[[list[bytes]], None]
# HLS for the mass audience (rooms/audio/hls.py): an HLS writer when the room needs one now, else
# None. Asked at every stage reload until it gives one; once a room has HLS listeners it keeps it
# until it ends.
HlsOpener = Callable[[], Awaitable["ProgramWriter | None"]]
# Talk time for the host's report: {speaker: milliseconds heard in the program} since the last call.
TalkSink = Callable[[dict[int, int]], None]

TICK_S = wire.FRAME_MS / 1000
# Speaking indicators: twice a second, in quarter steps, sent only when they change (and once a
# second while someone speaks at a steady level, for pages that joined since). Every update is a
# frame to every listener, and frames are what a web process spends its time on.
LEVELS_EVERY_TICKS = 25
LEVELS_REPEAT_ROUNDS = 2  # unchanged levels are sent again once a second
LEVEL_STEPS = 4
STAGE_RELOAD_S = 2.0
# If the loop falls this far behind (a stalled process), skip ahead instead of bursting to catch up.
MAX_LAG_S = 0.2
# A recording is flushed to disk (and fsynced, off the event loop) this often: a mixer that dies
# loses at most this much of it.
CAPTURE_FLUSH_TICKS = 50
# Program packets kept until the recording is open, for its back-fill: more than a dead holder can
# have left unstored (its upload interval, 2 s, plus the lease's lapse and the takeover).
BACK_FILL_S = 10
BACK_FILL_PACKETS = BACK_FILL_S * 1000 // wire.FRAME_MS


class Capture(Protocol):
    """A recording being written. One may also have ``back_fill(packets)``: it is then handed, before
    any write, the program packets this runner mixed before it opened it (see the module)."""

    def write(self, sequence: int, mixed_ms: float, packet: bytes, voices: frozenset[int]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class ProgramWriter(Protocol):
    def write(self, sequence: int, mixed_ms: float, packet: bytes, voices: frozenset[int]) -> None: ...

    def close(self, *, remove: bool = False) -> None: ...


def now_ms() -> float:
    return time.time() * 1000


class RoomAudioRunner:
    def __init__(
        self,
        room_id: int,
        *,
        load_stage: StageLoader,
        send_bundle: BundleSink,
        send_levels: LevelsSink,
        mixer: RoomMixer | None = None,
        open_capture: CaptureOpener | None = None,
        load_captions: CaptionsLoader | None = None,
        send_voice: VoiceSink | None = None,
        load_on_air: OnAirLoader | None = None,
        open_hls: HlsOpener | None = None,
        note_talk: TalkSink | None = None,
        standby: bool = False,
    ) -> None:
        self.room_id = room_id
        self.mixer = mixer or RoomMixer()
        self.load_stage = load_stage
        self.send_bundle = send_bundle
        self.send_levels = send_levels
        self.open_capture = open_capture
        self.capture: Capture | None = None
        # The last program packets while no recording is open (None once one is decided): the back-fill.
        self._recent: deque | None = deque(maxlen=BACK_FILL_PACKETS) if open_capture is not None else None
        self._flushing: asyncio.Future | None = None
        self.stopped = asyncio.Event()
        self._last_levels: dict[int, float] = {}
        self._levels_unchanged = 0  # publishing rounds since the levels last went out
        self._stage_roles: dict[int, tuple[bool, bool]] = {}  # user -> (on stage, muted)
        self.load_captions = load_captions
        self.send_voice = send_voice
        self.voice_tap: VoiceTap | None = None
        self.load_on_air = load_on_air
        # Without a way to ask, the room is live. With one, nothing reaches the audience until it
        # says so: a backstage is never on air by mistake.
        self.on_air = load_on_air is None
        self._capture_opening: asyncio.Task | None = None
        self.open_hls = open_hls
        self.hls: ProgramWriter | None = None
        self.ended = False  # the room ended (not merely this mixer let it go): its HLS files go
        self.note_talk = note_talk
        self._talk_ms: dict[int, int] = {}
        self.standby = standby  # mixing, with no effect outside
        self._flush_next = False  # promoted: send the next tick's partial bundles at once
        self._reload_now = asyncio.Event()  # promoted: captions and HLS start without waiting

    # -- inputs ------------------------------------------------------------------------------

    def push(self, tagged: bytes) -> None:
        self.mixer.push_tagged(tagged, now_ms())

    def observe_event(self, event: dict) -> None:
        """Apply a room event at once, so a mute or a demotion silences the next tick."""
        kind = event.get("type")
        if kind == protocol.ParticipantUpdated.TYPE:
            person = event["participant"]
            self._stage_roles[person["user_id"]] = (
                protocol.is_on_stage(person["role"]),
                bool(person["muted"]),
            )
            self._apply_stage()
        elif kind == protocol.CaptionsChanged.TYPE:
            self.set_captions(bool(event.get("enabled")))
        elif kind == protocol.WentLive.TYPE:
            self.go_on_air()
        elif kind == protocol.Ended.TYPE:
            self.ended = True
            self.stop()
        # A stage member whose connection dropped (room.participant_left) keeps their place; their
        # frames just stop.

    def go_on_air(self) -> None:
        """The room went live from its backstage: from the next tick listeners hear the program mix,
        and the recording (if the room is recorded) starts now, with a fresh program stream."""
        if self.on_air:
            return
        self.on_air = True
        self.mixer.restart_program()
        self._open_capture_soon()

    def promote(self) -> None:
        """This mixer holds the room now (it was its standby): from the next tick its bundles go
        out, and its recording starts if the room is recorded and live."""
        if not self.standby:
            return
        self.standby = False
        self._flush_next = True
        self._open_capture_soon()
        self._reload_now.set()

    def _open_capture_soon(self) -> None:
        if (
            self.on_air
            and not self.standby
            and self.open_capture is not None
            and self.capture is None
            and self._capture_opening is None
        ):
            self._capture_opening = asyncio.get_running_loop().create_task(self._start_capture())

    async def _start_capture(self) -> None:
        capture = await self.open_capture()
        if capture is not None and not self.stopped.is_set():
            self._use_capture(capture)
        elif capture is not None:
            # Stopped meanwhile: what was mixed before still goes to the recording.
            self._hand_back_fill(capture)
            await asyncio.get_running_loop().run_in_executor(None, capture.close)
        self._recent = None

    def _hand_back_fill(self, capture: Capture) -> None:
        back_fill = getattr(capture, "back_fill", None)
        if back_fill is not None and self._recent:
            back_fill(list(self._recent))
        self._recent = None

    def _use_capture(self, capture: Capture | None) -> None:
        """From now on _program_packet hands ``capture`` every packet; first it gets those mixed
        before (no await in between: none is lost or written twice)."""
        if capture is not None:
            self._hand_back_fill(capture)
        self._recent = None
        self.capture = capture

    def set_captions(self, enabled: bool) -> None:
        """Start or stop handing each speaker's voice to the captioner (never backstage)."""
        enabled = enabled and self.send_voice is not None and self.on_air and not self.standby
        if enabled and self.voice_tap is None:
            self.voice_tap = VoiceTap()
            self.mixer.on_voice = self.voice_tap.add
        elif not enabled and self.voice_tap is not None:
            self.mixer.on_voice = None
            self.voice_tap = None

    def set_stage(self, stage: set[int], allowed: set[int]) -> None:
        self._stage_roles = {user: (True, user not in allowed) for user in stage}
        self._apply_stage()

    def _apply_stage(self) -> None:
        stage = {user for user, (on, _) in self._stage_roles.items() if on}
        allowed = {user for user, (on, muted) in self._stage_roles.items() if on and not muted}
        self.mixer.set_stage(stage)
        self.mixer.set_allowed(allowed)

    def stop(self) -> None:
        self.stopped.set()

    # -- the clock ---------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        if self.load_on_air is not None:
            self.on_air = await self.load_on_air()
        if self.open_capture is not None and self.on_air and not self.standby:
            self._use_capture(await self.open_capture())
        self.mixer.on_program_packet = self._program_packet
        reloader = loop.create_task(self._reload_stage_forever())
        try:
            await self._tick_forever(loop)
        finally:
            reloader.cancel()
            self._hand_over_talk()
            if self._capture_opening is not None:
                await asyncio.shield(self._capture_opening)
            self.mixer.on_program_packet = None
            if self.hls is not None:
                try:
                    self.hls.close(remove=self.ended)
                except Exception:
                    logger.exception("could not close the HLS of room %s", self.room_id)
            if self.capture is not None:
                if self._flushing is not None:
                    await asyncio.shield(self._flushing)
                await loop.run_in_executor(None, self.capture.close)

    def _program_packet(self, sequence: int, mixed_ms: float, packet: bytes, voices: frozenset[int]) -> None:
        """Every 20 ms program packet goes, as it is, to the recording and to HLS listeners; none
        while the room is in its backstage."""
        if not self.on_air:
            return
        if self.capture is None and self._recent is not None:
            self._recent.append((sequence, mixed_ms, packet, voices))
        if self.standby:
            return
        for user in voices:
            self._talk_ms[user] = self._talk_ms.get(user, 0) + wire.FRAME_MS
        if self.capture is not None:
            self.capture.write(sequence, mixed_ms, packet, voices)
        if self.hls is not None:
            try:
                self.hls.write(sequence, mixed_ms, packet, voices)
            except OSError:
                # A full or vanished disk must not stop the room for its websocket listeners.
                logger.exception("HLS writing failed in room %s; stopping it", self.room_id)
                self.hls = None

    def _flush_capture(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.capture is not None and (self._flushing is None or self._flushing.done()):
            self._flushing = loop.run_in_executor(None, self.capture.flush)

    async def _tick_forever(self, loop: asyncio.AbstractEventLoop) -> None:
        next_at = loop.time()
        ticks = 0
        while not self.stopped.is_set():
            next_at += TICK_S
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            started = loop.time()
            # Late past its slot: what asyncio.sleep overslept, or how far behind the clock was.
            metrics.MIXER_LAG.observe(max(0.0, started - next_at))
            if delay <= 0 and -delay > MAX_LAG_S:
                next_at = started
            try:
                bundles = self.mixer.tick(now_ms())
                if self.standby:
                    continue  # mixed to keep buffers and decoders warm; nothing leaves
                if self._flush_next:
                    self._flush_next = False
                    bundles += self.mixer.flush()
                for receiver, bundle in bundles:
                    if receiver == wire.PROGRAM and not self.on_air:
                        continue  # backstage: the audience hears nothing
                    # Silence costs nothing on the wire: players treat a gap as quiet.
                    if not wire.bundle_is_silent(bundle):
                        await self.send_bundle(receiver, bundle)
                if self.voice_tap is not None:
                    self.voice_tap.end_tick()
                    pieces = self.voice_tap.take()
                    if pieces:
                        self.send_voice(pieces)
                ticks += 1
                if ticks % LEVELS_EVERY_TICKS == 0 and self.on_air:
                    await self._publish_levels()
                    self._hand_over_talk()
                if ticks % CAPTURE_FLUSH_TICKS == 0:
                    self._flush_capture(loop)
                metrics.MIXER_TICK.observe(loop.time() - started)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("mixer tick failed in room %s", self.room_id)

    def _hand_over_talk(self) -> None:
        if self.note_talk is not None and self._talk_ms:
            talk, self._talk_ms = self._talk_ms, {}
            self.note_talk(talk)

    async def _publish_levels(self) -> None:
        levels = {}
        for user, level in self.mixer.levels().items():
            step = round(level * LEVEL_STEPS) / LEVEL_STEPS
            if step > 0:
                levels[user] = step
        # Only changes go out, but someone speaking at a steady level (an instrument in music mode)
        # is said again every LEVELS_REPEAT_ROUNDS: a page that joined since then has not heard it.
        self._levels_unchanged += 1
        if levels != self._last_levels or (levels and self._levels_unchanged >= LEVELS_REPEAT_ROUNDS):
            self._last_levels = levels
            self._levels_unchanged = 0
            await self.send_levels(protocol.levels_event(levels))

    async def _reload_stage_forever(self) -> None:
        """Events make changes immediate; the reload makes the mixer right even if one was missed."""
        while not self.stopped.is_set():
            try:
                if not self.on_air and self.load_on_air is not None and await self.load_on_air():
                    self.go_on_air()  # the room.went_live event was missed
                stage, allowed = await self.load_stage()
                self.set_stage(stage, allowed)
                if self.load_captions is not None:
                    self.set_captions(await self.load_captions())
                if (
                    self.open_hls is not None
                    and self.hls is None
                    and self.on_air
                    and not self.standby
                    and not self.stopped.is_set()
                ):
                    self.hls = await self.open_hls()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("could not load the stage of room %s", self.room_id)
            try:
                await asyncio.wait_for(self._reload_now.wait(), STAGE_RELOAD_S)
            except TimeoutError:
                pass
            self._reload_now.clear()
