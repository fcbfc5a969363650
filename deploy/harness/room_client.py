"""Room sockets, as room.js does it, on the page's reconnect schedule (static/js/reconnect.js)."""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import time
from collections.abc import Callable

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

# The page's reconnect schedule (static/js/reconnect.js; tests/browser/test_reconnect_in_step.py):
# a stage member's first retry is at once; a socket that was open SETTLED_S or more is tried again
# within RETRY_SPREAD_S; otherwise 0.5 s doubling to 10 s, +-30 % jitter.
STAGE_ROLES = {"host", "cohost", "speaker"}
SETTLED_S = 2.0
RETRY_SPREAD_S = 0.3
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0
BACKOFF_JITTER = 0.3


def reconnect_delay(*, attempt: int, on_stage: bool, settled: bool, rand: float) -> tuple[float, bool]:
    """Seconds before the next try, and whether that try is a step of the backoff (reconnect.js's
    reconnectDelay). `attempt`: tries since the last snapshot; `rand` in [0, 1)."""
    if attempt == 0 and on_stage:
        return 0.0, True
    if attempt == 0 and settled:
        return rand * RETRY_SPREAD_S, False
    base = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2**attempt)
    return base * (1 + BACKOFF_JITTER * (2 * rand - 1)), True


# Close codes after which the page does not reconnect (spaces_project/protocol).
FINAL_CLOSE_CODES = {4001, 4003, 4004, 4005, 4009, 4010}


class RoomClient:
    """One room page's socket: connects, beats, answers `room.resync` with `snapshot.request`, and
    reconnects after a drop on room.js's schedule. Records every snapshot and close with its time
    (time.monotonic())."""

    def __init__(
        self,
        url: str,
        *,
        origin: str,
        cookie: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        name: str = "",
        keep_audio: bool = False,
        address: str | None = None,
        only_snapshots: bool = False,
    ) -> None:
        """`address`: connect there, the URL's host still named in the handshake (a browser's DNS
        cache: the load generators of a benchmark resolve the name once, not once per socket).
        `only_snapshots`: decode only the frames that carry a snapshot or a resync (a benchmark's
        thousand clients on the server's own cores), so `events` stays empty."""
        self.url = url
        self.address = address
        self.only_snapshots = only_snapshots
        self.origin = origin
        self.cookie = cookie
        self.ssl_context = ssl_context
        self.name = name
        self.keep_audio = keep_audio
        self.snapshots: list[tuple[float, dict]] = []
        self.closes: list[tuple[float, int | None]] = []
        self.attempts: list[float] = []  # when each connection attempt started
        self.opened: list[float] = []  # when each handshake completed
        self.events: list[tuple[float, dict]] = []
        self.audio: list[tuple[float, bytes]] = []
        self.connect_failures = 0
        self.finished = False
        self.ws = None
        self._task: asyncio.Task | None = None
        self._changed = asyncio.Event()

    # state
    @property
    def connected(self) -> bool:
        return self.ws is not None

    @property
    def last_snapshot(self) -> dict | None:
        return self.snapshots[-1][1] if self.snapshots else None

    def snapshot_after(self, moment: float) -> tuple[float, dict] | None:
        return next(((t, s) for t, s in self.snapshots if t >= moment), None)

    # life
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self.finished = True
        if self.ws is not None:
            try:
                await self.ws.close()
            except Exception:
                pass
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    async def send(self, kind: str, **fields) -> None:
        if self.ws is None:
            raise ConnectionError(f"{self.name}: not connected")
        await self.ws.send(json.dumps({"type": kind, **fields}))

    async def send_bytes(self, data: bytes) -> None:
        if self.ws is not None:
            await self.ws.send(data)

    async def wait(self, predicate: Callable[[], object], timeout: float, what: str):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"{self.name}: timed out after {timeout:.0f} s waiting for {what}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass

    def _note(self) -> None:
        self._changed.set()

    async def _run(self) -> None:
        attempt = 0
        while not self.finished:
            code = None
            opened_at = None
            try:
                headers = {"Cookie": self.cookie} if self.cookie else None
                self.attempts.append(time.monotonic())
                async with connect(
                    self.url,
                    origin=self.origin,
                    additional_headers=headers,
                    ssl=self.ssl_context,
                    compression=None,
                    ping_interval=None,
                    open_timeout=10,
                    max_queue=4096,
                    proxy=None,
                    **({"host": self.address} if self.address else {}),
                ) as ws:
                    opened_at = time.monotonic()
                    self.opened.append(opened_at)
                    self.ws = ws
                    beat = None
                    try:
                        async for raw in ws:
                            now = time.monotonic()
                            if isinstance(raw, bytes):
                                if self.keep_audio:
                                    self.audio.append((now, raw))
                                continue
                            if (
                                self.only_snapshots
                                and "room.snapshot" not in raw
                                and "room.resync" not in raw
                            ):
                                continue
                            event = json.loads(raw)
                            for item in event["events"] if event.get("type") == "room.batch" else [event]:
                                self.events.append((now, item))
                                if item.get("type") == "room.snapshot":
                                    attempt = 0
                                    self.snapshots.append((now, item))
                                    if beat is None:
                                        beat = asyncio.get_running_loop().create_task(
                                            self._beat(ws, float(item["heartbeat_seconds"]))
                                        )
                                elif item.get("type") == "room.resync":
                                    await ws.send(json.dumps({"type": "snapshot.request"}))
                            self._note()
                    finally:
                        if beat is not None:
                            beat.cancel()
                code = ws.close_code
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError, InvalidStatus, ConnectionClosed, Exception) as error:
                code = getattr(getattr(error, "rcvd", None), "code", None)
                self.connect_failures += 1
            finally:
                self.ws = None
            self.closes.append((time.monotonic(), code))
            self._note()
            if self.finished or code in FINAL_CLOSE_CODES:
                self.finished = True
                return
            you = (self.last_snapshot or {}).get("you") or {}
            delay, backoff = reconnect_delay(
                attempt=attempt,
                on_stage=you.get("role") in STAGE_ROLES,
                settled=opened_at is not None and time.monotonic() - opened_at >= SETTLED_S,
                rand=random.random(),
            )
            attempt += backoff
            if delay:
                await asyncio.sleep(delay)

    @staticmethod
    async def _beat(ws, interval: float) -> None:
        try:
            while True:
                await asyncio.sleep(interval)
                await ws.send('{"type":"heartbeat"}')
        except Exception:
            pass
