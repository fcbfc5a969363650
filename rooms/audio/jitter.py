"""Per-speaker jitter buffer, driven by the mixer's clock. No Django, no threads.

Frames are keyed by their uint32 sequence number (wrap-around safe). The first frame of a talk spurt
anchors play-out: it is played ``delay_ms`` after it arrived, then one frame per tick in sequence
order. A frame whose slot has already been played is "late" and dropped; a slot whose frame has not
arrived is concealed by the decoder. After ``max_conceal`` concealed slots with nothing buffered the
speaker is idle (stopped talking, DTX without packets, left or lost the connection) and the next frame
anchors a new spurt. A sequence jump of more than ``resync_frames`` (a restarted encoder after a
reconnect) re-anchors at once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

from .wire import FRAME_MS, UplinkFrame

_MOD = 1 << 32
_HALF = 1 << 31


def seq_diff(a: int, b: int) -> int:
    """Return a - b for uint32 sequence numbers, in [-2**31, 2**31)."""
    return ((a - b + _HALF) % _MOD) - _HALF


class Slot(Enum):
    FRAME = "frame"  # play this frame's packet
    LOST = "lost"  # this slot's frame is missing: conceal (``next_packet`` may carry its FEC copy)
    IDLE = "idle"  # nothing to play: not talking, or still filling the buffer


@dataclass(frozen=True)
class PlayOut:
    slot: Slot
    frame: UplinkFrame | None = None
    next_packet: bytes | None = None


_IDLE = PlayOut(Slot.IDLE)

# Why a pushed frame was refused (counted by the mixer).
DUPLICATE = "duplicate"
LATE = "late"


class JitterBuffer:
    def __init__(self, *, delay_ms: float = 60.0, max_conceal: int = 5, resync_frames: int = 50) -> None:
        self.delay_ms = delay_ms
        self.max_conceal = max_conceal
        self.resync_frames = resync_frames
        self.target_frames = max(1, round(delay_ms / FRAME_MS))
        # Past this depth the sender's clock ran ahead of ours (or a burst arrived after a stall):
        # drop the oldest frames rather than let latency grow without bound.
        self.max_depth = 2 * self.target_frames + 2
        self.stats = {"lost": 0, "underrun": 0, "resync": 0, "trimmed": 0}
        self._frames: dict[int, UplinkFrame] = {}
        self._next: int | None = None  # sequence to play at the next slot; None when idle
        self._newest: int = 0
        self._start_ms = 0.0
        self._started = False
        self._missing_run = 0
        self._played: deque[int] = deque(maxlen=32)
        self._last_played: int | None = None
        self._last_captured = 0.0

    @property
    def depth(self) -> int:
        return len(self._frames)

    @property
    def active(self) -> bool:
        return self._next is not None

    def clear(self) -> None:
        """Forget every buffered frame and become idle (the speaker was muted or left)."""
        self._frames.clear()
        self._next = None
        self._missing_run = 0

    def _anchor(self, frame: UplinkFrame, arrival_ms: float) -> None:
        self._frames.clear()
        self._frames[frame.sequence] = frame
        self._next = self._newest = frame.sequence
        self._start_ms = arrival_ms + self.delay_ms
        self._started = False
        self._missing_run = 0

    def push(self, frame: UplinkFrame, arrival_ms: float) -> str | None:
        """Buffer a frame; return None when kept, else why it was dropped (DUPLICATE or LATE)."""
        seq = frame.sequence
        newer = frame.captured_ms > self._last_captured
        if self._next is None:
            # Idle: a frame captured after everything already played starts a new spurt; anything
            # else is a straggler of the last one.
            if self._last_played is not None and not newer:
                return DUPLICATE if seq in self._played else LATE
            self._anchor(frame, arrival_ms)
            return None
        ahead = seq_diff(seq, self._next)
        if ahead < 0:
            if not self._started and -ahead < self.resync_frames and seq not in self._played:
                # Out of order before play-out began: the spurt starts at this earlier frame.
                self._frames[seq] = frame
                self._next = seq
                return None
            if -ahead >= self.resync_frames and newer:
                self.stats["resync"] += 1
                self._anchor(frame, arrival_ms)
                return None
            return DUPLICATE if seq in self._played else LATE
        if ahead >= self.resync_frames:
            self.stats["resync"] += 1
            self._anchor(frame, arrival_ms)
            return None
        if seq in self._frames:
            return DUPLICATE
        self._frames[seq] = frame
        if seq_diff(seq, self._newest) > 0:
            self._newest = seq
        return None

    def _play(self, frame: UplinkFrame) -> PlayOut:
        seq = frame.sequence
        self._next = (seq + 1) % _MOD
        self._missing_run = 0
        self._played.append(seq)
        self._last_played = seq
        self._last_captured = max(self._last_captured, frame.captured_ms)
        return PlayOut(Slot.FRAME, frame)

    def pop(self, now_ms: float) -> PlayOut:
        """Return what to play in the slot that starts at ``now_ms`` (one call per 20 ms tick)."""
        if self._next is None or now_ms < self._start_ms:
            return _IDLE
        self._started = True
        if self._frames and seq_diff(self._newest, self._next) >= self.max_depth:
            keep_from = (self._newest - self.target_frames + 1) % _MOD
            for seq in [s for s in self._frames if seq_diff(s, keep_from) < 0]:
                del self._frames[seq]
                self.stats["trimmed"] += 1
            self._next = keep_from
        frame = self._frames.pop(self._next, None)
        if frame is not None:
            return self._play(frame)
        self._missing_run += 1
        if not self._frames:
            if self._missing_run > self.max_conceal:
                self._next = None
                self._missing_run = 0
                return _IDLE
            self.stats["underrun"] += 1
            self._next = (self._next + 1) % _MOD
            return PlayOut(Slot.LOST)
        if self._missing_run > self.max_conceal:
            # A long hole with later frames waiting: skip to them instead of concealing on and on.
            oldest = min(self._frames, key=lambda s: seq_diff(s, self._next))
            self.stats["lost"] += seq_diff(oldest, self._next)
            return self._play(self._frames.pop(oldest))
        self.stats["lost"] += 1
        following = self._frames.get((self._next + 1) % _MOD)
        self._next = (self._next + 1) % _MOD
        return PlayOut(Slot.LOST, next_packet=following.packet if following else None)
