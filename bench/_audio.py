"""What the audio benchmarks share: the server layout, speaking clients, a lean listener, signals.

The database, daphne, sessions and CPU accounting come from bench/room_events.py (imported, not
copied). This module adds the mixer process, clients that send uplink frames in real time, and a
listener socket written on asyncio's Protocol: the `websockets` library costs tens of microseconds
per message in Python, which for 2,000 listeners x 10-17 bundles a second would take a core from
the server it is measuring on the same two-core machine.
"""

import asyncio
import base64
import json
import os
import random
import struct
import subprocess
import sys
import time
from array import array
from pathlib import Path

import room_events as base

ROOT = base.ROOT
sys.path.insert(0, str(ROOT))

from rooms.audio import codec, wire  # noqa: E402

RATE = wire.SAMPLE_RATE
FRAME = wire.FRAME_SAMPLES
_BUNDLE_HEAD = struct.Struct(">BBIddB")


# ---------------------------------------------------------------------------------------------
# Signals
# ---------------------------------------------------------------------------------------------


def speech_like(seconds: float, *, seed: int = 1, level: float = 0.25):
    """Continuously voiced, speech-like audio: a harmonic series on a wandering pitch, shaped by moving
    formants and a syllable-rate envelope that never falls below the mixer's noise gate (so no
    bundle is silent and every one goes out)."""
    import numpy as np

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
# Server layout: daphne process(es) and a mixer process
# ---------------------------------------------------------------------------------------------


def server_env(database_url: str, redis_url: str, extra: dict | None = None) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "spaces_project.settings.bench",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **(extra or {}),
    }


def start_mixer(database_url: str, redis_url: str, log_path: Path, extra: dict | None = None):
    log = open(log_path, "w")
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_mixer", "--name", f"bench-{os.getpid()}"],
        cwd=ROOT,
        env=server_env(database_url, redis_url, extra),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for_lease(redis_url: str, room_id: int, timeout: float = 20) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if client.get(f"spaces:mixer:lease:{room_id}"):
                return
            time.sleep(0.1)
        raise SystemExit("no mixer took the room's lease")
    finally:
        client.close()


def start_daphnes(
    count: int, database_url: str, redis_url: str, log_path: Path, extra: dict | None = None
) -> tuple[int, list]:
    """`count` daphne processes accepting on one 127.0.0.1 port (the kernel hands each connection to
    one of them; each process subscribes to the room once). Return (port, processes)."""
    import socket

    port = base.free_port()
    saved = {k: os.environ.get(k) for k in (extra or {})}
    os.environ.update(extra or {})  # start_daphne copies os.environ
    try:
        if count == 1:
            return port, [base.start_daphne(port, database_url, redis_url, log_path)]
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(4096)
        processes = []
        for n in range(count):
            log = log_path.with_name(f"{log_path.stem}-{n}.log")
            processes.append(base.start_daphne(port, database_url, redis_url, log, listener))
        listener.close()
        return port, processes
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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
        from websockets.asyncio.client import connect

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
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    self._audio(raw)
                else:
                    self.events.append(json.loads(raw))
        except ConnectionClosed:
            pass

    async def _beat(self, interval: float) -> None:
        from websockets.exceptions import ConnectionClosed

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
        from websockets.exceptions import ConnectionClosed

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


# ---------------------------------------------------------------------------------------------
# A lean listener: asyncio Protocol, parses server frames itself, keeps only what the figures need
# ---------------------------------------------------------------------------------------------


def _masked(opcode: int, payload: bytes) -> bytes:
    """A client frame (RFC 6455: clients mask), payload < 126 bytes."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body


HEARTBEAT_FRAME_TEXT = b'{"type":"heartbeat"}'


class LeanListener(asyncio.Protocol):
    def __init__(self, path: str, host: str, origin: str, cookie: str | None, on_ready: asyncio.Future):
        self.path, self.host, self.origin, self.cookie = path, host, origin, cookie
        self.on_ready = on_ready
        self.transport = None
        self.buffer = bytearray()
        self.upgraded = False
        self.snapshot = False
        self.close_code: int | None = None
        self.beat_handle = None
        self.seqs = array("I")  # first-frame sequence of every bundle received
        self.lags = array("f")  # ms: arrival - mix time of the bundle's last frame
        self.audio_bytes = 0  # payload bytes of binary frames
        self.audio_wire_bytes = 0  # the same with the websocket framing
        self.text_frames = 0
        self.text_bytes = 0
        self.pings = 0
        self.fragment = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {self.path} HTTP/1.1",
            f"Host: {self.host}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            f"Origin: {self.origin}",
        ]
        if self.cookie:
            lines.append(f"Cookie: {self.cookie}")
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[: buf.find(b"\r\n")])
            if b" 101 " not in status:
                self._fail(f"http {status.decode(errors='replace')}")
                return
            del buf[: end + 4]
            self.upgraded = True
        offset, size = 0, len(buf)
        now = time.time()
        while size - offset >= 2:
            b0, b1 = buf[offset], buf[offset + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if size - offset < 4:
                    break
                length = (buf[offset + 2] << 8) | buf[offset + 3]
                head = 4
            elif length == 127:
                if size - offset < 10:
                    break
                length = int.from_bytes(buf[offset + 2 : offset + 10], "big")
                head = 10
            if size - offset < head + length:
                break
            start = offset + head
            opcode = b0 & 0x0F
            if opcode == 2:
                count = buf[start + 22]
                _, _, seq, mixed_ms, _, _ = _BUNDLE_HEAD.unpack_from(buf, start)
                self.seqs.append(seq)
                self.lags.append(now * 1000 - (mixed_ms + (count - 1) * wire.FRAME_MS))
                self.audio_bytes += length
                self.audio_wire_bytes += head + length
            elif opcode == 1:
                self.text_frames += 1
                self.text_bytes += length
                if self.snapshot:
                    self.on_text(bytes(buf[start : start + length]))
                else:
                    event = json.loads(bytes(buf[start : start + length]))
                    if event.get("type") == "room.snapshot":
                        self.snapshot = True
                        interval = float(event["heartbeat_seconds"])
                        loop = asyncio.get_running_loop()
                        self.beat_handle = loop.call_later(
                            random.uniform(0.2, interval), self._beat, interval
                        )
                        if not self.on_ready.done():
                            self.on_ready.set_result(None)
            elif opcode == 9:  # ping: answer, or daphne closes the socket
                self.pings += 1
                self.transport.write(_masked(0xA, bytes(buf[start : start + length])))
            elif opcode == 8:
                self.close_code = int.from_bytes(buf[start : start + 2], "big") if length >= 2 else 1005
                self.transport.write(_masked(0x8, bytes(buf[start : start + 2])))
                self.transport.close()
            offset = start + length
        del buf[:offset]

    def on_text(self, payload: bytes) -> None:
        """A text frame after the snapshot; subclasses that time events read them here."""

    def _beat(self, interval: float) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(_masked(0x1, HEARTBEAT_FRAME_TEXT))
        self.beat_handle = asyncio.get_running_loop().call_later(interval, self._beat, interval)

    def _fail(self, reason: str) -> None:
        if not self.on_ready.done():
            self.on_ready.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc) -> None:
        if self.beat_handle is not None:
            self.beat_handle.cancel()
        if self.close_code is None:
            self.close_code = 1006
        if not self.on_ready.done():
            self.on_ready.set_exception(ConnectionError("closed before the snapshot"))

    def close(self) -> None:
        if self.beat_handle is not None:
            self.beat_handle.cancel()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_masked(0x8, (1000).to_bytes(2, "big")))
            self.transport.close()


async def open_lean(
    port: int, path: str, cookie: str | None, timeout: float, protocol_class: type = LeanListener
) -> LeanListener:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    host = f"127.0.0.1:{port}"
    _, protocol = await asyncio.wait_for(
        loop.create_connection(
            lambda: protocol_class(path, host, f"http://{host}", cookie, ready), "127.0.0.1", port
        ),
        timeout,
    )
    await asyncio.wait_for(ready, timeout)
    return protocol
