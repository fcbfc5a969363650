"""What only the audio benchmarks share: speech-like signals, their Opus packets, and a full client
that speaks (sends uplink frames in real time) and keeps what it hears.

The database, the server and mixer processes, accounting and the lean listener are in
bench/harness/.
"""

import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402, F401  (puts the project on sys.path)

from rooms.audio import codec, wire  # noqa: E402

RATE = wire.SAMPLE_RATE
FRAME = wire.FRAME_SAMPLES


# ---------------------------------------------------------------------------------------------
# Signals
# ---------------------------------------------------------------------------------------------


def speech_like(seconds: float, *, seed: int = 1, level: float = 0.25):
    """Continuously voiced, speech-like audio: a harmonic series on a wandering pitch, shaped by moving
    formants and a syllable-rate envelope that never falls below the mixer's noise gate (so no
    bundle is silent and every one goes out)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    f0 = 140 * (1 + 0.12 * np.sin(2 * np.pi * 0.7 * t) + 0.05 * np.sin(2 * np.pi * 3.1 * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    out = np.zeros(n, dtype=np.float64)
    for k in range(1, 25):
        formant = (
            np.exp(-(((k * f0 - 600 - 150 * np.sin(2 * np.pi * 2.3 * t)) / 250) ** 2))
            + 0.5 * np.exp(-(((k * f0 - 1700 - 300 * np.sin(2 * np.pi * 1.7 * t)) / 400) ** 2))
            + 0.05
        )
        out += formant * np.sin(k * phase + rng.uniform(0, 6)) / k**0.5
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t + 1.0) ** 2
    out *= envelope
    out += rng.standard_normal(n) * 0.01
    return (level * out / np.max(np.abs(out))).astype(np.float32)


def encode_all(pcm) -> list[bytes]:
    """Opus packets of 20 ms, as the browser's WebCodecs encoder makes them (32 kbps, FEC)."""
    encoder = codec.make_encoder(complexity=5)
    return [encoder.encode(pcm[i * FRAME : (i + 1) * FRAME]) for i in range(len(pcm) // FRAME)]


# ---------------------------------------------------------------------------------------------
# A full client (the `websockets` library): speakers, and the few listeners of the latency bench
# ---------------------------------------------------------------------------------------------


class RoomClient:
    """One browser tab: snapshot, heartbeats, events; every binary frame kept with its arrival time."""

    def __init__(self, url: str, origin: str, cookie: str | None = None, *, keep_audio: bool = True):
        self.url, self.origin, self.cookie = url, origin, cookie
        self.keep_audio = keep_audio
        self.ws = None
        self.snapshot: dict | None = None
        self.bundles: list[tuple[float, bytes]] = []  # (time.time(), data)
        self.events: list[dict] = []
        self.first_bundle = asyncio.Event()
        self.tasks: list[asyncio.Task] = []
        self.on_bundle = None
        self.closed_while_talking: tuple | None = None

    async def open(self, timeout: float = 20) -> None:
        self.ws = await connect(
            self.url,
            origin=self.origin,
            additional_headers={"Cookie": self.cookie} if self.cookie else None,
            compression=None,
            ping_interval=None,
            open_timeout=timeout,
            max_queue=4096,
            proxy=None,
        )
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.ws.recv()
                if isinstance(raw, bytes):
                    self._audio(raw)
                    continue
                event = json.loads(raw)
                if event.get("type") == "room.snapshot":
                    self.snapshot = event
                    break
        self.tasks = [
            asyncio.create_task(self._read()),
            asyncio.create_task(self._beat(float(self.snapshot["heartbeat_seconds"]))),
        ]

    def _audio(self, raw: bytes) -> None:
        now = time.time()
        if self.keep_audio:
            self.bundles.append((now, raw))
        self.first_bundle.set()
        if self.on_bundle is not None:
            self.on_bundle(now, raw)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    self._audio(raw)
                else:
                    self.events.append(json.loads(raw))
        except ConnectionClosed:
            pass

    async def _beat(self, interval: float) -> None:
        try:
            while True:
                await asyncio.sleep(interval)
                await self.ws.send('{"type":"heartbeat"}')
        except ConnectionClosed:
            pass

    async def send(self, message: dict) -> None:
        await self.ws.send(json.dumps(message))

    async def wait_event(self, predicate, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for event in self.events[seen:]:
                if predicate(event):
                    return event
            seen = len(self.events)
            await asyncio.sleep(0.02)
        raise TimeoutError("expected event did not arrive")

    async def unmute(self, user_id: int) -> None:
        await self.send({"type": "mic.unmute"})
        await self.wait_event(
            lambda e: (
                e.get("type") == "room.participant_updated"
                and e["participant"]["user_id"] == user_id
                and not e["participant"]["muted"]
            )
        )

    async def talk(self, packets: list[bytes], start_wall: float, *, first_seq: int = 0) -> None:
        """Send packet i when its 20 ms of audio has been captured: at start_wall + (i + 1) * 20 ms,
        stamped with the capture time of its first sample (start_wall + i * 20 ms), as the page does."""
        step = wire.FRAME_MS / 1000
        for i, packet in enumerate(packets):
            due = start_wall + (i + 1) * step
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await self.ws.send(wire.encode_uplink(first_seq + i, (start_wall + i * step) * 1000, packet))
            except ConnectionClosed:
                # The server closed the speaker (an overloaded server misses heartbeats): say so
                # in the figures instead of losing them.
                self.closed_while_talking = (self.ws.close_code, time.time() - start_wall)
                return

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), 5)
            except Exception:
                pass
