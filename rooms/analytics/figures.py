"""A room's figures from its listening sessions: pure computation, no Django (docs/analytics.md).

Times are seconds since the epoch. A *listener* is a signed-in person (all their sessions together:
two tabs, a reconnect) or one anonymous session. A listener's time is the union of their sessions,
clipped to the room's window (a session still open when the room ended ends with it).
"""

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

RETENTION_MINUTES = (1, 5, 15, 30)


@dataclass(frozen=True)
class Session:
    listener: str  # "u<user id>" or "a<session key>"
    start: float
    end: float | None  # None: still connected (or its leave was never heard)
    source: str = ""
    route: str = ""

    @property
    def signed_in(self) -> bool:
        return self.listener.startswith("u")


@dataclass
class Figures:
    peak: int = 0
    peak_at: float | None = None
    unique: int = 0
    signed_in: int = 0
    anonymous: int = 0
    listener_seconds: float = 0.0
    median_seconds: float = 0.0
    # minutes -> listeners who listened at least that long
    retention: dict[int, int] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)
    routes: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "peak": self.peak,
            "peak_at": self.peak_at,
            "unique": self.unique,
            "signed_in": self.signed_in,
            "anonymous": self.anonymous,
            "listener_seconds": round(self.listener_seconds, 3),
            "median_seconds": round(self.median_seconds, 3),
            "retention": {str(k): v for k, v in self.retention.items()},
            "sources": self.sources,
            "routes": self.routes,
        }


@dataclass(frozen=True)
class Minute:
    start: float
    listeners: int
    joins: int
    leaves: int


def listener_intervals(
    sessions: Iterable[Session], window_start: float, window_end: float
) -> dict[str, list[tuple[float, float]]]:
    """Each listener's time in the room: their sessions clipped to the window, overlaps merged."""
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for session in sessions:
        start = max(session.start, window_start)
        end = window_end if session.end is None else min(session.end, window_end)
        if end > start:
            spans[session.listener].append((start, end))
    merged: dict[str, list[tuple[float, float]]] = {}
    for listener, pieces in spans.items():
        pieces.sort()
        out = [pieces[0]]
        for start, end in pieces[1:]:
            if start <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], end))
            else:
                out.append((start, end))
        merged[listener] = out
    return merged


def _edges(intervals: dict[str, list[tuple[float, float]]]) -> list[tuple[float, int]]:
    """(time, +1 arrival / -1 departure), departures first at the same instant: someone who leaves
    as another arrives was never there at the same time as them."""
    edges = [(t, d) for pieces in intervals.values() for s, e in pieces for t, d in ((s, 1), (e, -1))]
    edges.sort()
    return edges


def compute(sessions: Iterable[Session], window_start: float, window_end: float) -> Figures:
    """The room's figures over [window_start, window_end]."""
    sessions = list(sessions)
    intervals = listener_intervals(sessions, window_start, window_end)
    figures = Figures()
    now = peak = 0
    for at, delta in _edges(intervals):
        now += delta
        if now > peak:
            peak, figures.peak_at = now, at
    figures.peak = peak
    figures.unique = len(intervals)
    figures.signed_in = sum(1 for listener in intervals if listener.startswith("u"))
    figures.anonymous = figures.unique - figures.signed_in
    totals = [sum(e - s for s, e in pieces) for pieces in intervals.values()]
    figures.listener_seconds = sum(totals)
    figures.median_seconds = statistics.median(totals) if totals else 0.0
    figures.retention = {m: sum(1 for t in totals if t >= m * 60) for m in RETENTION_MINUTES}
    # Where each listener came from, and how they heard the room: their first session's.
    first: dict[str, Session] = {}
    for session in sorted(sessions, key=lambda s: s.start):
        if session.listener in intervals:
            first.setdefault(session.listener, session)
    figures.sources = dict(Counter(s.source or "direct" for s in first.values()).most_common())
    figures.routes = dict(Counter(s.route or "websocket" for s in first.values()).most_common())
    return figures


def minutes(sessions: Iterable[Session], window_start: float, window_end: float) -> list[Minute]:
    """Per minute of the window (minutes start on the clock's minute): the most listeners at once,
    and how many arrived and left."""
    intervals = listener_intervals(sessions, window_start, window_end)
    first = int(window_start // 60) * 60
    count = max(1, int((window_end - first + 59) // 60))
    peaks = [0] * count
    joins = [0] * count
    leaves = [0] * count
    now = 0
    index = 0
    for at, delta in _edges(intervals):
        slot = min(count - 1, max(0, int((at - first) // 60)))
        while index < slot:
            index += 1
            # Those still there when the minute began (unless this edge is at its very start: then
            # only what the edges at that instant leave counts).
            if index < slot or at > first + 60 * index:
                peaks[index] = max(peaks[index], now)
        now += delta
        peaks[slot] = max(peaks[slot], now)
        if delta > 0:
            joins[slot] += 1
        elif at < window_end:  # the room's end is not everyone leaving
            leaves[slot] += 1
    while index < count - 1:
        index += 1
        peaks[index] = max(peaks[index], now)
    return [Minute(first + 60 * i, peaks[i], joins[i], leaves[i]) for i in range(count)]
