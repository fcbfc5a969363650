"""The room mixer: jitter buffers in, one program mix and per-stage-member mix-minus streams out.

Pure and synchronous: the caller owns the clock and the sockets. It calls ``push`` for every uplink
frame as it arrives and ``tick`` every 20 ms; ``tick`` returns the downlink bundles to send. Nothing
here imports Django, starts a thread or touches asyncio, so tests and ``bench/mixer.py`` drive it
deterministically.

Where the CPU goes, and how it is kept under 15 % of a core for 13 speakers:

* A speaker is mixed only while their voice is above a noise gate (with a hang-over so word endings
  are kept). Silence, DTX and a muted speaker cost nothing and leave the program exactly equal to
  every silent stage member's mix-minus, so that member is sent the program's packet: one encode for
  the program plus one per stage member who is actually being heard.
* While nobody is heard, the program encoder runs ``silence_hangover`` more frames to flush its
  look-ahead, then stops; those frames go out empty (length 0, which clients play as quiet).
* A stage member's encoder that sat idle is first fed the previous program frame (its packet thrown
  away), so its look-ahead and prediction continue from what that listener's decoder just played
  instead of audio from their previous turn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from . import wire
from .codec import CodecError, Decoder, Encoder, make_decoder, make_encoder
from .jitter import JitterBuffer, Slot

FRAME = wire.FRAME_SAMPLES
_SILENCE = np.zeros(FRAME, dtype=np.float32)

STAT_KEYS = (
    "received",
    "accepted",
    "malformed",
    "oversized",
    "not_allowed",
    "bad_packet",
    "duplicate",
    "late",
    "undecodable",
    "lost",
    "concealed",
    "resync",
    "trimmed",
    "ticks",
    "bundles",
    "encodes",
    "prime_encodes",
    "reused_packets",
    "silent_frames",
)

ProgramSink = Callable[[int, float, bytes, frozenset[int]], None]
# Each speaker's decoded voice, every tick it was decoded: (user id, mix time ms, 48 kHz float frame).
VoiceSink = Callable[[int, float, np.ndarray], None]


class Limiter:
    """Keep a mix within full scale without wrap-around: a gain that drops at once (ramped over the
    frame) when the peak would pass ``ceiling`` and recovers over ``release_ms``, then a soft knee
    above ``knee`` that catches what the ramp lets through. Output magnitude never exceeds 1.0."""

    def __init__(self, *, ceiling: float = 0.89, knee: float = 0.9, release_ms: float = 300.0) -> None:
        self.ceiling = ceiling
        self.knee = knee
        self.release = 1.0 - math.exp(-wire.FRAME_MS / release_ms)
        self.gain = 1.0

    def process(self, mix: np.ndarray) -> np.ndarray:
        peak = float(np.max(np.abs(mix)))
        if peak <= self.ceiling and self.gain >= 1.0:
            return mix
        wanted = min(1.0, self.ceiling / peak) if peak > 0 else 1.0
        recovered = self.gain + (1.0 - self.gain) * self.release
        target = min(wanted, recovered)
        if recovered > 0.999 and wanted >= 1.0:
            target = 1.0
        if target != self.gain:
            out = mix * np.linspace(self.gain, target, FRAME, dtype=np.float32)
        else:
            out = mix * np.float32(target)
        self.gain = target
        if float(np.max(np.abs(out))) > self.knee:
            out = soft_clip(out, self.knee)
        return out


def soft_clip(x: np.ndarray, knee: float = 0.9) -> np.ndarray:
    """Leave |x| <= knee alone and bend the rest smoothly towards (never past) full scale."""
    magnitude = np.abs(x)
    over = magnitude > knee
    span = 1.0 - knee
    bent = knee + span * np.tanh((magnitude[over] - knee) / span)
    out = x.copy()
    out[over] = np.copysign(np.minimum(bent, 1.0), x[over]).astype(np.float32)
    return out


def rms(pcm: np.ndarray) -> float:
    return math.sqrt(float(np.dot(pcm, pcm)) / FRAME)


@dataclass
class _Speaker:
    buffer: JitterBuffer
    decoder: Decoder
    warm: int = 0  # frames left in which DTX/loss is still decoded (a fading tail), else skipped
    hangover: int = 0  # frames left during which a quiet voice is still mixed
    level: float = 0.0
    decoded: np.ndarray | None = None  # this tick's decoded voice, gated or not (for captions)


@dataclass
class _Output:
    """One encoded stream: the program, or a stage member's mix-minus."""

    encoder: Encoder
    limiter: Limiter = field(default_factory=Limiter)
    silent_run: int = 0
    in_use: bool = False  # encoded the previous frame (else its listener was sent the program)
    tail: int = 0  # frames encoded since its member was last heard


@dataclass(slots=True)
class _Frame:
    """One mixed 20 ms frame on its way into bundles."""

    sequence: int
    mixed_ms: float
    program: bytes
    own: dict[int, bytes]  # stage members whose mix-minus differs from the program
    voices: dict[int, float]  # who was heard, with their capture times


class RoomMixer:
    def __init__(
        self,
        *,
        bundle_frames: int = 3,
        stage_bundle_frames: int | None = None,
        jitter_ms: float = 60.0,
        bitrate: int = 32_000,
        complexity: int = 1,
        fec: bool = True,
        dtx: bool = False,
        gate_dbfs: float = -55.0,
        gate_hangover_frames: int = 10,
        silence_hangover_frames: int = 3,
        max_conceal_frames: int = 5,
        start_sequence: int = 0,
        on_program_packet: ProgramSink | None = None,
        codec_backend: str | None = None,
    ) -> None:
        stage_bundle_frames = bundle_frames if stage_bundle_frames is None else stage_bundle_frames
        if not (
            1 <= bundle_frames <= wire.MAX_BUNDLE_FRAMES
            and 1 <= stage_bundle_frames <= wire.MAX_BUNDLE_FRAMES
        ):
            raise ValueError("bundle_frames out of range")
        # Listeners' program bundles and stage members' mix-minus bundles may differ in length:
        # a longer bundle halves the frames a web process writes to each of many listeners, while
        # people on stage, talking with each other, keep the shorter delay.
        self.bundle_frames = bundle_frames
        self.stage_bundle_frames = stage_bundle_frames
        self.jitter_ms = jitter_ms
        self.gate = 10 ** (gate_dbfs / 20)
        self.gate_hangover_frames = gate_hangover_frames
        self.silence_hangover_frames = silence_hangover_frames
        self.max_conceal_frames = max_conceal_frames
        self.on_program_packet = on_program_packet
        # Live captions: set while the room has them on (rooms/audio/voicetap.py).
        self.on_voice: VoiceSink | None = None
        self.stats: dict[str, int] = dict.fromkeys(STAT_KEYS, 0)
        self.voices: frozenset[int] = frozenset()  # who was heard in the last frame (recording timeline)
        self.last_program_pcm: np.ndarray = _SILENCE  # the last frame given to the program encoder
        self._encoder_settings = {"bitrate": bitrate, "complexity": complexity, "fec": fec, "dtx": dtx}
        self._backend = codec_backend
        self._allowed: set[int] = set()
        self._stage: set[int] = set()
        self._speakers: dict[int, _Speaker] = {}
        self._program = _Output(self._new_encoder())
        # A fresh encoder is as good as one that has flushed its look-ahead with silence.
        self._program.silent_run = silence_hangover_frames + 1
        self._members: dict[int, _Output] = {}
        self._sequence = start_sequence & 0xFFFFFFFF
        self._previous_program = _SILENCE
        # Frames not yet sent, for the program bundle and for the stage's mix-minus bundles.
        self._program_pending: list[_Frame] = []
        self._stage_pending: list[_Frame] = []

    # -- configuration -------------------------------------------------------------------------------

    def _new_encoder(self) -> Encoder:
        return make_encoder(backend=self._backend, **self._encoder_settings)

    def set_allowed(self, user_ids: Iterable[int]) -> None:
        """Set who may be heard now. Anyone dropped is silent from the next tick: their buffered
        frames and decoder state are discarded."""
        self._allowed = set(user_ids)
        for user_id in [u for u in self._speakers if u not in self._allowed]:
            del self._speakers[user_id]

    def set_stage(self, user_ids: Iterable[int]) -> None:
        """Set who receives a mix-minus stream (their own voice left out) instead of the program."""
        self._stage = set(user_ids)
        for user_id in [u for u in self._members if u not in self._stage]:
            del self._members[user_id]

    def restart_program(self) -> None:
        """Start the program stream over with a fresh encoder (a recording begins with it)."""
        self._program = _Output(self._new_encoder())
        self._program.silent_run = self.silence_hangover_frames + 1
        self._program_pending = []

    # -- input ---------------------------------------------------------------------------------------

    def push_tagged(self, data: bytes, arrival_ms: float) -> bool:
        """Accept an uplink frame prefixed with the speaker's user id (as web processes publish it)."""
        try:
            user_id, frame = wire.untag(data)
        except wire.WireError:
            self.stats["received"] += 1
            self.stats["malformed"] += 1
            return False
        return self.push(user_id, frame, arrival_ms)

    def push(self, user_id: int, data: bytes, arrival_ms: float) -> bool:
        """Buffer one uplink frame. Never raises: anything unusable is dropped and counted by reason
        in ``stats``. Return whether the frame was kept."""
        stats = self.stats
        stats["received"] += 1
        if user_id not in self._allowed:
            stats["not_allowed"] += 1
            return False
        if not isinstance(data, bytes | bytearray | memoryview):
            stats["malformed"] += 1
            return False
        if len(data) > wire.MAX_UPLINK_BYTES:
            stats["oversized"] += 1
            return False
        try:
            frame = wire.decode_uplink(bytes(data))
        except wire.WireError:
            stats["malformed"] += 1
            return False
        try:
            # The mixer plays exactly one 20 ms frame per packet; anything else would drift.
            valid = wire.opus_packet_samples(frame.packet) == FRAME
        except wire.WireError:
            valid = False
        if not valid:
            stats["bad_packet"] += 1
            return False
        speaker = self._speakers.get(user_id)
        if speaker is None:
            speaker = self._speakers[user_id] = _Speaker(
                JitterBuffer(delay_ms=self.jitter_ms, max_conceal=self.max_conceal_frames),
                make_decoder(backend=self._backend),
            )
        resyncs = speaker.buffer.stats["resync"]
        refused = speaker.buffer.push(frame, arrival_ms)
        if refused is not None:
            stats[refused] += 1
            return False
        if speaker.buffer.stats["resync"] != resyncs:
            # A restarted encoder (reconnect): its first packets must not be decoded against old state.
            speaker.decoder.reset()
            stats["resync"] += 1
        stats["accepted"] += 1
        return True

    # -- output --------------------------------------------------------------------------------------

    def levels(self) -> dict[int, float]:
        """Return each allowed speaker's smoothed speaking level, 0 (below -60 dBFS) to 1 (full scale)."""
        return {user_id: speaker.level for user_id, speaker in self._speakers.items()}

    def _voice(self, speaker: _Speaker, now_ms: float) -> tuple[np.ndarray | None, float]:
        """Decode the speaker's next slot; return (audio to mix or None, its capture time)."""
        out = speaker.buffer.pop(now_ms)
        pcm = None
        captured = 0.0
        try:
            if out.slot is Slot.FRAME:
                captured = out.frame.captured_ms
                if len(out.frame.packet) > 2:
                    pcm = speaker.decoder.decode(out.frame.packet)
                    speaker.warm = self.max_conceal_frames
                elif speaker.warm > 0:
                    speaker.warm -= 1
                    pcm = speaker.decoder.decode(out.frame.packet)
            elif out.slot is Slot.LOST and speaker.warm > 0:
                speaker.warm -= 1
                pcm = speaker.decoder.conceal(out.next_packet)
                self.stats["concealed"] += 1
        except CodecError:
            self.stats["undecodable"] += 1
            pcm = None
            if speaker.warm > 0:
                speaker.warm -= 1
                try:
                    pcm = speaker.decoder.conceal(None)
                except CodecError:
                    pcm = None
        speaker.decoded = pcm
        level = rms(pcm) if pcm is not None else 0.0
        # Speaking indicator: instant rise, ~150 ms fall, on a -60..0 dBFS scale.
        instant = (
            max(0.0, min(1.0, 1.0 + 20 * math.log10(level * math.sqrt(2)) / 60)) if level > 1e-6 else 0.0
        )
        speaker.level = max(instant, speaker.level * 0.875)
        if pcm is None:
            speaker.hangover = 0
            return None, 0.0
        if level >= self.gate:
            speaker.hangover = self.gate_hangover_frames
        elif speaker.hangover > 0:
            speaker.hangover -= 1
        else:
            return None, 0.0
        return pcm, captured

    def _encode(self, output: _Output, mix: np.ndarray | None) -> tuple[bytes, np.ndarray]:
        """Encode one frame of ``mix`` (None: nobody heard) into ``output``'s stream; return the packet
        and the samples encoded. Once the stream has been silent for ``silence_hangover_frames`` it
        returns (b"", silence) without encoding."""
        if mix is None:
            output.silent_run += 1
            if output.silent_run > self.silence_hangover_frames:
                self.stats["silent_frames"] += 1
                output.limiter.gain = 1.0
                return b"", _SILENCE
            pcm = _SILENCE
        else:
            output.silent_run = 0
            pcm = output.limiter.process(mix)
        self.stats["encodes"] += 1
        return output.encoder.encode(pcm), pcm

    def _prime(self, member: _Output, pcm: np.ndarray) -> None:
        member.encoder.encode(pcm)
        self.stats["encodes"] += 1
        self.stats["prime_encodes"] += 1

    def tick(self, now_ms: float) -> list[tuple[int, bytes]]:
        """Mix and encode the 20 ms frame that starts at ``now_ms``; return ``(receiver, bundle)``
        pairs (receiver 0 = the program) when a bundle is complete, else an empty list."""
        self.stats["ticks"] += 1
        voices: dict[int, float] = {}
        heard: dict[int, np.ndarray] = {}
        total: np.ndarray | None = None
        on_voice = self.on_voice
        for user_id, speaker in self._speakers.items():
            pcm, captured = self._voice(speaker, now_ms)
            if on_voice is not None and speaker.decoded is not None:
                on_voice(user_id, now_ms, speaker.decoded)
            if pcm is None:
                continue
            heard[user_id] = pcm
            voices[user_id] = captured
            total = pcm.copy() if total is None else np.add(total, pcm, out=total)

        program = self._program
        program_packet, program_pcm = self._encode(program, total)
        self.last_program_pcm = program_pcm
        frame = _Frame(self._sequence, now_ms, program_packet, {}, voices)
        self._program_pending.append(frame)
        self._stage_pending.append(frame)

        for user_id in self._stage:
            member = self._members.get(user_id)
            own = heard.get(user_id)
            if own is None:
                if member is not None and member.in_use and member.tail < self.silence_hangover_frames:
                    # They just stopped. The program encoder's look-ahead still carries the end of
                    # their voice into its next packets, so keep their own stream (now the program
                    # mix itself) going until that tail has passed.
                    member.tail += 1
                    frame.own[user_id], _ = self._encode(member, total)
                    continue
                # Their voice is not in the program, so the program is exactly their mix-minus.
                if member is not None:
                    member.in_use = False
                    member.tail = 0
                    member.limiter.gain = program.limiter.gain
                self.stats["reused_packets"] += 1
                continue
            if member is None:
                # A fresh encoder is as good as one that has flushed its look-ahead with silence.
                member = self._members[user_id] = _Output(self._new_encoder())
                member.silent_run = self.silence_hangover_frames + 1
            if not member.in_use:
                member.limiter.gain = program.limiter.gain
                if self._previous_program is not _SILENCE:
                    self._prime(member, self._previous_program)
                    member.silent_run = 0
                elif member.silent_run <= self.silence_hangover_frames:
                    self._prime(member, _SILENCE)
                    member.silent_run += 1
            member.in_use = True
            member.tail = 0
            rest = None if len(heard) == 1 else total - own
            frame.own[user_id], _ = self._encode(member, rest)

        self._previous_program = program_pcm
        self.voices = frozenset(voices)
        if self.on_program_packet is not None:
            self.on_program_packet(self._sequence, now_ms, program_packet, self.voices)
        self._sequence = (self._sequence + 1) & 0xFFFFFFFF
        out: list[tuple[int, bytes]] = []
        if len(self._program_pending) >= self.bundle_frames:
            out += self._flush_program()
        if len(self._stage_pending) >= self.stage_bundle_frames:
            out += self._flush_stage()
        return out

    def flush(self) -> list[tuple[int, bytes]]:
        """The frames mixed since the last bundles, as bundles now, however few (a standby that has
        just taken the room over sends what it has rather than make listeners wait for a full one)."""
        out: list[tuple[int, bytes]] = []
        if self._program_pending:
            out += self._flush_program()
        if self._stage_pending:
            out += self._flush_stage()
        return out

    def _flush_program(self) -> list[tuple[int, bytes]]:
        frames, self._program_pending = self._program_pending, []
        self.stats["bundles"] += 1
        everyone = [captured for frame in frames for captured in frame.voices.values()]
        bundle = wire.encode_bundle(
            mix_minus=False,
            sequence=frames[0].sequence,
            mixed_ms=frames[0].mixed_ms,
            oldest_capture_ms=min(everyone, default=0.0),
            packets=[frame.program for frame in frames],
        )
        return [(wire.PROGRAM, bundle)]

    def _flush_stage(self) -> list[tuple[int, bytes]]:
        frames, self._stage_pending = self._stage_pending, []
        out = []
        for user_id in sorted(self._stage):
            others = [c for frame in frames for u, c in frame.voices.items() if u != user_id]
            bundle = wire.encode_bundle(
                mix_minus=True,
                sequence=frames[0].sequence,
                mixed_ms=frames[0].mixed_ms,
                oldest_capture_ms=min(others, default=0.0),
                packets=[frame.own.get(user_id, frame.program) for frame in frames],
            )
            out.append((user_id, bundle))
        return out
