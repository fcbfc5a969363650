"""Room events as the room-events benchmark's sockets see them: which benchmark action an event is,
a `websockets` client that times them (the actors, the connect burst), a lean one for the bulk of
the listeners, and the worker process that holds the listeners and answers the driver over a pipe."""

import asyncio
import json
import random
import time
from collections import Counter
from urllib.parse import urlparse

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from .lean import LeanListener, open_lean
from .workers import commands, failure_reason


def event_key(event: dict) -> tuple | None:
    """What identifies an event the benchmark caused; None for the others (room.listeners...)."""
    kind = event.get("type")
    if kind == "room.reaction":
        return ("reaction", event["user_id"], event["emoji"])
    if kind == "room.participant_updated":
        p = event["participant"]
        return ("participant", p["user_id"], p["role"], p["muted"], p["hand_raised"])
    return None


# ---------------------------------------------------------------------------------------------
# Client side: one socket, used by the workers (listeners) and the driver (actors).
# ---------------------------------------------------------------------------------------------


class EventClient:
    def __init__(self, url: str, origin: str, cookie: str | None = None) -> None:
        self.url = url
        self.origin = origin
        self.cookie = cookie
        self.ws = None
        self.snapshot: dict | None = None
        self.seen: Counter = Counter()  # key -> occurrences so far
        self.received: list[tuple[tuple, int, float]] = []  # (key, occurrence, monotonic time)
        self.errors: list[dict] = []
        self.close_code: int | None = None
        self.tasks: list[asyncio.Task] = []

    async def open(self, timeout: float) -> None:
        """Connect and wait for the snapshot; raise on anything else."""
        headers = {"Cookie": self.cookie} if self.cookie else None
        self.ws = await connect(
            self.url,
            origin=self.origin,
            additional_headers=headers,
            compression=None,
            ping_interval=None,  # daphne pings us; the protocol's heartbeat is what counts
            open_timeout=timeout,
            max_queue=1024,
            proxy=None,
        )
        async with asyncio.timeout(timeout):
            while True:
                event = json.loads(await self.ws.recv())
                if event.get("type") == "room.snapshot":
                    self.snapshot = event
                    break
        interval = float(self.snapshot["heartbeat_seconds"])
        self.tasks = [
            asyncio.create_task(self._read()),
            asyncio.create_task(self._beat(interval)),
        ]

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                now = time.monotonic()
                if isinstance(raw, bytes):
                    continue  # audio (rooms/audio); this benchmark times events only
                event = json.loads(raw)
                # The server batches events that queue up behind a slow delivery (room.batch).
                for each in event["events"] if event.get("type") == "room.batch" else (event,):
                    key = event_key(each)
                    if key is not None:
                        self.seen[key] += 1
                        self.received.append((key, self.seen[key], now))
                    elif each.get("type") == "error":
                        self.errors.append(each)
        except ConnectionClosed:
            pass
        self.close_code = self.ws.close_code

    async def _beat(self, interval: float) -> None:
        await asyncio.sleep(random.uniform(0.2, interval))
        try:
            while True:
                await self.ws.send('{"type":"heartbeat"}')
                await asyncio.sleep(interval)
        except ConnectionClosed:
            pass  # the reader records the close code

    async def send(self, message: dict) -> None:
        await self.ws.send(json.dumps(message))

    async def close(self) -> None:
        for task in self.tasks[1:]:
            task.cancel()
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), 5)
            except Exception:
                pass
        for task in self.tasks:
            task.cancel()


# ---------------------------------------------------------------------------------------------
# Worker processes: hold the listeners, answer the driver's commands over a pipe.
# ---------------------------------------------------------------------------------------------


class LeanEventClient:
    """A listener socket on the lean asyncio client (harness/lean.py): the load generator should
    not spend more CPU than the server it measures (the `websockets` client took half a core for
    a thousand listeners). Same interface as EventClient for what the workers use."""

    def __init__(self, url: str, origin: str, cookie: str | None = None) -> None:
        parsed = urlparse(url)
        self.port, self.path, self.cookie = parsed.port, parsed.path, cookie
        self.ws = None
        self.seen: Counter = Counter()
        self.raw: list[tuple[bytes, float]] = []
        self._received: list[tuple[tuple, int, float]] = []
        self.errors: list[dict] = []

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code if self.ws is not None else None

    async def open(self, timeout: float) -> None:
        client = self

        class Listener(LeanListener):
            def on_text(self, payload: bytes) -> None:
                # Only stamp the frame now; parsing waits until the run is over, so the clients
                # spend as little CPU as possible while the server is being measured.
                client.raw.append((payload, time.monotonic()))

        self.ws = await open_lean(self.port, self.path, self.cookie, timeout, protocol_class=Listener)

    @property
    def received(self) -> list[tuple[tuple, int, float]]:
        for payload, now in self.raw:
            event = json.loads(payload)
            for each in event["events"] if event.get("type") == "room.batch" else (event,):
                key = event_key(each)
                if key is not None:
                    self.seen[key] += 1
                    self._received.append((key, self.seen[key], now))
                elif each.get("type") == "error":
                    self.errors.append(each)
        self.raw = []
        return self._received

    async def close(self) -> None:
        if self.ws is not None:
            self.ws.close()


def events_worker_main(conn, url: str, origin: str, cookies: list[str | None], args: dict) -> None:
    try:
        asyncio.run(_events_worker(conn, url, origin, cookies, args))
    except KeyboardInterrupt:
        pass


async def _events_worker(conn, url: str, origin: str, cookies: list[str | None], args: dict) -> None:
    deadline = args["deadline"]
    clients: list[EventClient] = []

    async def connect_one(client: EventClient, limit: asyncio.Semaphore | None) -> tuple[str | None, float]:
        started = time.monotonic()
        try:
            if limit is None:
                await client.open(args["connect_timeout"])
            else:
                async with limit:
                    await client.open(args["connect_timeout"])
            return None, (time.monotonic() - started) * 1000
        except Exception as error:  # every failure is counted, whatever its kind
            return failure_reason(error), (time.monotonic() - started) * 1000

    async for command, payload in commands(conn, deadline):
        if command == "connect":
            clients = [LeanEventClient(url, origin, cookie) for cookie in cookies]
            limit = asyncio.Semaphore(args["connect_concurrency"])
            results = await asyncio.gather(*(connect_one(c, limit) for c in clients))
            failures = Counter(reason for reason, _ in results if reason)
            conn.send({"ok": sum(1 for r, _ in results if r is None), "failures": dict(failures)})
        elif command == "cpu":
            conn.send(time.process_time())
        elif command == "count":
            conn.send(sum(len(c.received) for c in clients))
        elif command == "results":
            sent: dict = payload  # (key, occurrence) -> send time
            latencies, matched, unexpected = [], 0, 0
            first: dict = {}  # (key, occurrence) -> earliest and latest arrival in this worker
            for client in clients:
                for key, n, at in client.received:
                    t0 = sent.get((key, n))
                    if t0 is None:
                        unexpected += 1
                        continue
                    matched += 1
                    latencies.append((at - t0) * 1000)
                    low, high = first.get((key, n), (at, at))
                    first[(key, n)] = (min(low, at), max(high, at))
            closed = Counter(c.close_code for c in clients if c.ws is not None and c.close_code is not None)
            conn.send(
                {
                    "latencies": latencies,
                    "spread": first,
                    "matched": matched,
                    "unexpected": unexpected,
                    "closed_early": dict(closed),
                    "cpu_seconds": time.process_time(),
                }
            )
        elif command == "close":
            await asyncio.gather(*(c.close() for c in clients))
            clients = []
            conn.send("closed")
        elif command == "burst":
            count, start_at = payload
            burst = [EventClient(url, origin) for _ in range(count)]
            await asyncio.sleep(max(0.0, start_at - time.monotonic()))
            results = await asyncio.gather(*(connect_one(c, None) for c in burst))
            failures = Counter(reason for reason, _ in results if reason)
            await asyncio.gather(*(c.close() for c in burst))
            conn.send({"failures": dict(failures), "connect_ms": [ms for r, ms in results if r is None]})
    for client in clients:
        await client.close()
