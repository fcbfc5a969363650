"""The mixer's side of live captions: each speaker's voice, at 16 kHz, in 100 ms pieces. No Django.

While a room has captions on, the mixer calls ``VoiceTap.add`` with every speaker's decoded 20 ms
frame (48 kHz). The tap resamples each voice to 16 kHz (its own filter state per speaker) and cuts it
into pieces of ``PIECE_FRAMES`` frames; ``take`` returns the finished pieces, encoded for the queue to
the captioner process as wire.py's voice pieces.

Pieces are small (3.2 KB for 100 ms) and the tap never blocks: what happens to them is the queue's
business, and a full queue drops them (the captioner sees the gap in the piece numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import wire
from .speech import Resampler16k

PIECE_FRAMES = 5  # 100 ms
# Frames of one speaker further apart than this start a new piece (they stopped, then went on).
_GAP_MS = 30.0


@dataclass
class VoicePiece:
    user_id: int
    number: int
    start_ms: float
    pcm: np.ndarray  # 16 kHz float

    @property
    def end_ms(self) -> float:
        return self.start_ms + len(self.pcm) / 16.0


def encode_piece(user_id: int, number: int, start_ms: float, pcm16k: np.ndarray) -> bytes:
    samples = (np.clip(pcm16k, -1.0, 1.0) * 32767).astype("<i2")
    return wire.encode_voice_piece(user_id, number, start_ms, samples.tobytes())


def decode_piece(data: bytes) -> VoicePiece:
    piece = wire.decode_voice_piece(data)
    pcm = np.frombuffer(piece.samples, dtype="<i2").astype(np.float32) / 32767
    return VoicePiece(piece.user_id, piece.number, piece.start_ms, pcm)


@dataclass
class _Voice:
    resampler: Resampler16k = field(default_factory=Resampler16k)
    frames: list[np.ndarray] = field(default_factory=list)
    start_ms: float = 0.0
    last_ms: float = 0.0
    number: int = 0
    heard: bool = False  # added to in the current tick


class VoiceTap:
    def __init__(self, piece_frames: int = PIECE_FRAMES) -> None:
        self.piece_frames = piece_frames
        self._voices: dict[int, _Voice] = {}
        self._ready: list[bytes] = []

    def add(self, user_id: int, mixed_ms: float, pcm48: np.ndarray) -> None:
        voice = self._voices.get(user_id)
        if voice is None:
            voice = self._voices[user_id] = _Voice()
        if voice.frames and mixed_ms - voice.last_ms > _GAP_MS:
            self._finish(user_id, voice)
        if not voice.frames:
            voice.start_ms = mixed_ms
        voice.frames.append(voice.resampler.process(pcm48))
        voice.last_ms = mixed_ms
        voice.heard = True
        if len(voice.frames) >= self.piece_frames:
            self._finish(user_id, voice)

    def _finish(self, user_id: int, voice: _Voice) -> None:
        if voice.frames:
            voice.number += 1
            self._ready.append(
                encode_piece(user_id, voice.number, voice.start_ms, np.concatenate(voice.frames))
            )
            voice.frames = []

    def take(self) -> list[bytes]:
        """The pieces finished since the last call; a speaker quiet for a tick has theirs finished."""
        ready, self._ready = self._ready, []
        return ready

    def end_tick(self) -> None:
        """Call after each mixer tick: finish the pieces of speakers not heard in it (they paused)."""
        for user_id, voice in self._voices.items():
            if voice.frames and not voice.heard:
                self._finish(user_id, voice)
            voice.heard = False

    def clear(self) -> None:
        self._voices.clear()
        self._ready.clear()
