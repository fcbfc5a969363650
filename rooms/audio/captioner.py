"""Live captions from each speaker's voice: voice activity detection, partial and final lines. No Django.

The mixer hands every speaker's decoded voice, at 16 kHz, to ``Captioner.push`` (through a bounded
queue, in another process: see rooms/live/captions.py). Per speaker, Silero VAD (shipped with
faster-whisper, run incrementally on 32 ms pieces) finds where speech starts and stops. While someone
speaks, the utterance so far is recognized every ``partial_every_s`` (2 s) and sent as a *partial*
line that refines itself; once they pause for ``pause_s`` the whole utterance is recognized once
more and sent as the *final* line. A long monologue is cut into finals every ``max_utterance_s``.

Recognition runs in one worker (``run_forever``, in a thread of its own) that never holds up
``push``. When it falls behind, partial lines are simply not made, and a final line that would come
more than ``max_delay_s`` after its speech ended is not made either: it is announced as a *skipped*
line instead. Captions fall behind by a bounded amount, never for ever, and say what they missed.
(The audio waiting is bounded too: past ``2 * max_delay_s`` of it, the oldest is dropped at once.)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .speech import SAMPLE_RATE, Engine, EngineError, Word, make_engine, words_text
from .voicetap import decode_piece

logger = logging.getLogger(__name__)

VAD_CHUNK = 512  # samples Silero VAD looks at once (32 ms at 16 kHz)
VAD_CONTEXT = 64
# A partial line is recognized again once this much more of the utterance has been heard.
PARTIAL_EVERY_S = 2.0
# At most this many stretches (finals, or partials) go through the recognizer in one pass.
BATCH = 4


@dataclass
class Caption:
    """One caption line for one speaker: a partial (refines), a final, or a skipped stretch."""

    room_id: int
    user_id: int
    utterance: int  # counts up per speaker; partials and the final of one utterance share it
    final: bool
    text: str
    start_ms: float  # wall clock (ms since the epoch) of the utterance's first and last audio
    end_ms: float
    words: list[Word] = field(default_factory=list)
    skipped: bool = False
    # When the speech's last audio reached the captioner, and when the line was made (monotonic s).
    closed_at: float = 0.0
    made_at: float = 0.0


class StreamingVad:
    """Silero VAD over a stream, one 32 ms piece at a time, keeping its state between pieces."""

    def __init__(self) -> None:
        # Imported here: faster-whisper loads its inference libraries (about 0.2 s), which only a process
        # that recognizes speech needs, not every web process that imports the captions.
        from faster_whisper.vad import get_vad_model  # noqa: PLC0415 (heavy, only for recognition)

        self.session = get_vad_model().session
        self.reset()

    def reset(self) -> None:
        self.h = np.zeros((1, 1, 128), dtype=np.float32)
        self.c = np.zeros((1, 1, 128), dtype=np.float32)
        self.context = np.zeros(VAD_CONTEXT, dtype=np.float32)

    def __call__(self, chunk: np.ndarray) -> float:
        """Probability (0..1) that ``chunk`` (VAD_CHUNK samples) is speech."""
        data = np.concatenate([self.context, chunk])[None, :]
        out, self.h, self.c = self.session.run(None, {"input": data, "h": self.h, "c": self.c})
        self.context = chunk[-VAD_CONTEXT:]
        return float(out.reshape(-1)[0])


@dataclass
class _Utterance:
    room_id: int
    user_id: int
    number: int
    start_ms: float
    chunks: list[np.ndarray] = field(default_factory=list)
    samples: int = 0
    speech_end_samples: int = 0  # where the last speech piece ended
    partial_at_samples: int = 0  # audio length at the last partial
    closed_at: float = 0.0
    skipped: bool = False

    def audio(self) -> np.ndarray:
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.float32)

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE


@dataclass
class _Speaker:
    vad: StreamingVad | None
    pending: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    pending_ms: float = 0.0  # wall clock of pending[0]
    preroll: deque = field(default_factory=lambda: deque(maxlen=8))  # (ms, chunk) before speech
    utterance: _Utterance | None = None
    silence: int = 0  # samples of silence since the last speech piece
    count: int = 0
    last_push: float = 0.0


class Captioner:
    def __init__(
        self,
        engine: Engine,
        *,
        on_caption: Callable[[Caption], None],
        pause_s: float = 0.5,
        partial_every_s: float = PARTIAL_EVERY_S,
        max_utterance_s: float = 12.0,
        batch: int = BATCH,
        max_delay_s: float = 8.0,
        speech_threshold: float = 0.5,
        silence_threshold: float = 0.35,
        vad_factory: Callable[[], StreamingVad] | None = StreamingVad,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.on_caption = on_caption
        self.pause_samples = int(pause_s * SAMPLE_RATE)
        self.pause_s = pause_s
        # An engine may make final lines only (its cost grows with each partial).
        self.partials = getattr(engine, "partials", True)
        self.partial_samples = int(partial_every_s * SAMPLE_RATE)
        self.max_utterance_samples = int(max_utterance_s * SAMPLE_RATE)
        self.max_delay_s = max_delay_s
        self.speech_threshold = speech_threshold
        self.silence_threshold = silence_threshold
        self.vad_factory = vad_factory
        self.clock = clock
        self._speakers: dict[tuple[int, int], _Speaker] = {}
        self._finals: deque[_Utterance] = deque()
        self._wake = threading.Condition()
        self.batch = batch
        self.stats = {"finals": 0, "partials": 0, "passes": 0, "skipped": 0, "busy_s": 0.0}

    def waiting(self) -> int:
        """Finished sentences waiting for recognition (the queue that makes captions late)."""
        return len(self._finals)

    # -- input (any thread) ------------------------------------------------------------------------

    def push(self, room_id: int, user_id: int, start_ms: float, pcm: np.ndarray) -> None:
        """Take ``pcm`` (16 kHz float) of a speaker's voice that began at wall-clock ``start_ms``."""
        with self._wake:
            key = (room_id, user_id)
            speaker = self._speakers.get(key)
            if speaker is None:
                speaker = self._speakers[key] = _Speaker(self.vad_factory() if self.vad_factory else None)
            speaker.last_push = self.clock()
            if not len(speaker.pending):
                speaker.pending_ms = start_ms
            speaker.pending = np.concatenate([speaker.pending, np.asarray(pcm, dtype=np.float32)])
            while len(speaker.pending) >= VAD_CHUNK:
                chunk, speaker.pending = speaker.pending[:VAD_CHUNK], speaker.pending[VAD_CHUNK:]
                chunk_ms = speaker.pending_ms
                speaker.pending_ms += VAD_CHUNK * 1000 / SAMPLE_RATE
                self._take_chunk(room_id, user_id, speaker, chunk_ms, chunk)
            self._wake.notify()

    def skipped(self, room_id: int, user_id: int, start_ms: float, end_ms: float) -> None:
        """Say that a stretch of a speaker's voice never reached the captioner (the queue was full)."""
        with self._wake:
            speaker = self._speakers.get((room_id, user_id))
            number = speaker.count + 1 if speaker else 1
            if speaker:
                speaker.count += 1
        self._emit_skipped(room_id, user_id, number, start_ms, end_ms)

    def forget(self, room_id: int) -> None:
        """Drop every speaker of a room (captions turned off, room ended): nothing more is said."""
        with self._wake:
            for key in [k for k in self._speakers if k[0] == room_id]:
                del self._speakers[key]
            self._finals = deque(u for u in self._finals if u.room_id != room_id)

    def _is_speech(self, speaker: _Speaker, chunk: np.ndarray) -> bool:
        if speaker.vad is None:  # no VAD (tests): an energy gate
            return float(np.sqrt(np.mean(chunk * chunk))) > 0.01
        probability = speaker.vad(chunk)
        threshold = self.silence_threshold if speaker.utterance is not None else self.speech_threshold
        return probability >= threshold

    def _take_chunk(
        self, room_id: int, user_id: int, speaker: _Speaker, chunk_ms: float, chunk: np.ndarray
    ) -> None:
        speech = self._is_speech(speaker, chunk)
        utterance = speaker.utterance
        if utterance is None:
            if not speech:
                speaker.preroll.append((chunk_ms, chunk))
                return
            speaker.count += 1
            # Start a little before VAD noticed: the first sound is often below its threshold.
            before = list(speaker.preroll)[-6:]
            speaker.preroll.clear()
            utterance = speaker.utterance = _Utterance(
                room_id, user_id, speaker.count, before[0][0] if before else chunk_ms
            )
            for _, old in before:
                utterance.chunks.append(old)
                utterance.samples += len(old)
        utterance.chunks.append(chunk)
        utterance.samples += len(chunk)
        if speech:
            speaker.silence = 0
            utterance.speech_end_samples = utterance.samples
        else:
            speaker.silence += len(chunk)
        if speaker.silence >= self.pause_samples:
            self._close(speaker)
        elif utterance.samples >= self.max_utterance_samples:
            self._close(speaker)

    def _close(self, speaker: _Speaker) -> None:
        """End the speaker's utterance and queue its final line. Call holding ``_wake``."""
        utterance = speaker.utterance
        speaker.utterance = None
        speaker.silence = 0
        if utterance is None:
            return
        # Keep a little of the pause after the speech, no more.
        keep = min(utterance.samples, utterance.speech_end_samples + int(0.3 * SAMPLE_RATE))
        audio = utterance.audio()[:keep]
        utterance.chunks, utterance.samples = [audio], len(audio)
        utterance.closed_at = self.clock()
        self._finals.append(utterance)
        # Bounded memory: past twice the delay's worth of waiting audio, drop the oldest and say so.
        while sum(u.seconds for u in self._finals) > 2 * self.max_delay_s and len(self._finals) > 1:
            dropped = self._finals.popleft()
            dropped.skipped = True
            threading.Thread(target=self._emit_dropped, args=(dropped,), daemon=True).start()

    def _emit_dropped(self, utterance: _Utterance) -> None:
        self._emit_skipped(
            utterance.room_id,
            utterance.user_id,
            utterance.number,
            utterance.start_ms,
            utterance.start_ms + utterance.seconds * 1000,
        )

    def _emit_skipped(self, room_id: int, user_id: int, number: int, start_ms: float, end_ms: float) -> None:
        self.stats["skipped"] += 1
        now = self.clock()
        self.on_caption(
            Caption(
                room_id, user_id, number, True, "", start_ms, end_ms, skipped=True, closed_at=now, made_at=now
            )
        )

    def _close_idle(self) -> None:
        """A speaker whose audio stopped arriving (muted, DTX silence) has paused. Call holding ``_wake``."""
        now = self.clock()
        for speaker in self._speakers.values():
            if speaker.utterance is not None and now - speaker.last_push >= self.pause_s:
                self._close(speaker)

    # -- the worker ----------------------------------------------------------------------------------

    def _next_jobs(self) -> list[tuple[_Utterance, np.ndarray, bool]]:
        """Call holding ``_wake``: the oldest finals (up to ``batch``), else the most overdue partials
        (up to ``batch``), else nothing."""
        self._close_idle()
        jobs = []
        while self._finals and len(jobs) < self.batch:
            utterance = self._finals.popleft()
            if self.clock() - utterance.closed_at > self.max_delay_s:
                # Too late to be a live caption: say it was skipped and catch up.
                threading.Thread(target=self._emit_dropped, args=(utterance,), daemon=True).start()
                continue
            jobs.append((utterance, utterance.audio(), True))
        if jobs or not self.partials:
            return jobs
        due = [
            s.utterance
            for s in self._speakers.values()
            if s.utterance is not None
            and s.utterance.samples - s.utterance.partial_at_samples >= self.partial_samples
            and s.utterance.speech_end_samples > 0
            # A pause has begun: the final comes soon, and a partial now would only delay it.
            and s.silence < self.pause_samples // 3
        ]
        due = sorted(due, key=lambda u: u.partial_at_samples - u.samples)[: self.batch]
        for utterance in due:
            utterance.partial_at_samples = utterance.samples
        return [(utterance, utterance.audio(), False) for utterance in due]

    def _recognize(self, pieces: list[np.ndarray], finals: list[bool]) -> list[list[Word]]:
        """One pass over several stretches: a batch where the engine can (``transcribe_many``), and word
        times only for finals (a partial shows its text only)."""
        many = getattr(self.engine, "transcribe_many", None)
        if many is not None:
            try:
                return many(pieces, timings=finals)
            except Exception:
                logger.exception("captions engine failed on %d stretches", len(pieces))
                return [[] for _ in pieces]
        answers = []
        for piece in pieces:
            try:
                answers.append(self.engine.transcribe(piece))
            except Exception:
                logger.exception("captions engine failed on %.1f s of audio", len(piece) / SAMPLE_RATE)
                answers.append([])
        return answers

    def run_once(self, timeout: float = 0.1) -> bool:
        """Do one pass of recognition, waiting up to ``timeout`` for work; return whether it did."""
        with self._wake:
            jobs = self._next_jobs()
            if not jobs:
                self._wake.wait(timeout)
                jobs = self._next_jobs()
            if not jobs:
                return False
        started = self.clock()
        answers = self._recognize([audio for _, audio, _ in jobs], [final for _, _, final in jobs])
        self.stats["busy_s"] += self.clock() - started
        self.stats["passes"] += 1
        for (utterance, audio, final), words in zip(jobs, answers, strict=True):
            self.stats["finals" if final else "partials"] += 1
            if not words and not final:
                continue
            start_ms = utterance.start_ms
            end_ms = start_ms + len(audio) * 1000 / SAMPLE_RATE
            if words and final:
                end_ms = start_ms + words[-1].end * 1000
                start_ms = start_ms + words[0].start * 1000
            self.on_caption(
                Caption(
                    utterance.room_id,
                    utterance.user_id,
                    utterance.number,
                    final,
                    words_text(words),
                    start_ms,
                    end_ms,
                    words=words,
                    closed_at=utterance.closed_at,
                    made_at=self.clock(),
                )
            )
        return True

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.run_once(0.1)


class PieceFeed:
    """Feed encoded voice pieces (rooms/audio/voicetap.py) to a Captioner, noticing lost ones."""

    def __init__(self, captioner: Captioner) -> None:
        self.captioner = captioner
        self._last: dict[tuple[int, int], tuple[int, float]] = {}  # (room, user) -> (number, end ms)

    def feed(self, room_id: int, data: bytes) -> None:
        piece = decode_piece(data)
        key = (room_id, piece.user_id)
        last = self._last.get(key)
        if last is not None and piece.number > last[0] + 1:
            # Pieces were dropped on the way (a full queue): what they held is not captioned.
            self.captioner.skipped(room_id, piece.user_id, last[1], piece.start_ms)
        self._last[key] = (piece.number, piece.end_ms)
        self.captioner.push(room_id, piece.user_id, piece.start_ms, piece.pcm)

    def forget(self, room_id: int) -> None:
        for key in [k for k in self._last if k[0] == room_id]:
            del self._last[key]
        self.captioner.forget(room_id)


def child_main(
    engine_name: str,
    inbox,
    outbox,
    model_dir: str = "",
    max_delay_s: float = 8.0,
    partial_every_s: float = PARTIAL_EVERY_S,
) -> None:
    """The recognizer process of embedded mode (started by rooms/live/captions.py without Redis).

    ``inbox`` carries ``(room_id, piece bytes)`` or ``(room_id, None)`` (forget the room);
    ``outbox`` gets every Caption, or an error message string if the engine cannot start.
    """
    try:
        os.nice(10)  # the web process, which mixes the audio here, comes first
    except OSError:
        pass
    try:
        engine = make_engine(engine_name, model_dir=model_dir or None)
    except EngineError as error:
        outbox.put(str(error))
        return
    captioner = Captioner(
        engine, on_caption=outbox.put, max_delay_s=max_delay_s, partial_every_s=partial_every_s
    )
    feed = PieceFeed(captioner)
    stop = threading.Event()
    threading.Thread(target=captioner.run_forever, args=(stop,), daemon=True, name="recognizer").start()
    while True:
        item = inbox.get()
        if item is None:
            stop.set()
            return
        room_id, data = item
        if data is None:
            feed.forget(room_id)
        else:
            feed.feed(room_id, data)
