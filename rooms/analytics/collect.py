"""Collecting a room's figures off the live path (docs/analytics.md).

The room socket notes a join or a leave here with one append to this process's buffer: no database
write and no Redis round trip on the join. Reactions, raised hands and talk time are added up in the
buffer per room, minute and kind. With Redis, the buffer is pushed to one Redis list a moment later
(one RPUSH for everything noted meanwhile); a periodic task (`analytics_flush`) writes the list to
the database in batches. Without Redis, the buffer itself is what the flush reads (one process).

Every event carries what makes it idempotent: a session's events its connection's key (a join or a
leave delivered twice merges into the same row), a tally a unique id.
"""

import asyncio
import itertools
import json
import logging
import secrets
import threading
import time
from collections import deque
from urllib.parse import parse_qs, urlsplit

from django.conf import settings

from spaces_project.redis_clients import async_client, sync_client
from spaces_project.redis_options import async_options, sync_options

from .models import Route, Source

logger = logging.getLogger(__name__)

LIST_KEY = "spaces:analytics:events"
# How long events wait in a process before one push takes them all to Redis.
PUSH_DELAY_S = 0.5
# A process that cannot reach Redis keeps at most this many events, dropping the oldest.
MAX_BUFFERED = 200_000


def _minute(at: float) -> int:
    return int(at // 60) * 60


class Buffer:
    """This process's events, noted from any thread; taken in order by a push or a flush."""

    def __init__(self) -> None:
        self.events: deque[dict] = deque(maxlen=MAX_BUFFERED)
        self.tallies: dict[tuple, int] = {}
        self.lock = threading.Lock()
        self.token = secrets.token_hex(6)
        self.sequence = itertools.count(1)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.push_pending = False
        self._async_clients: dict = {}
        self._sync_client = None

    # -- noting ---------------------------------------------------------------------------------

    def session_started(
        self,
        *,
        room_id: int,
        session: str,
        user_id: int | None,
        on_stage: bool,
        route: str,
        source: str,
        at: float | None = None,
    ) -> None:
        at = time.time() if at is None else at
        self._add(
            {
                "t": "join",
                "room": room_id,
                "key": session,
                "user": user_id,
                "stage": on_stage,
                "route": route,
                "src": source,
                "at": at,
            }
        )

    def session_ended(self, *, room_id: int, session: str, at: float | None = None) -> None:
        self._add({"t": "leave", "room": room_id, "key": session, "at": time.time() if at is None else at})

    def tally(
        self, *, room_id: int, kind: str, count: int = 1, user_id: int | None = None, at: float | None = None
    ) -> None:
        """Add `count` to the room's `kind` in this minute (a reaction, a raised hand, talk time)."""
        key = (room_id, _minute(time.time() if at is None else at), kind, user_id)
        with self.lock:
            self.tallies[key] = self.tallies.get(key, 0) + count
        self._wake()

    def _add(self, event: dict) -> None:
        self.events.append(event)
        self._wake()

    # -- taking ---------------------------------------------------------------------------------

    def take(self) -> list[dict]:
        """Everything noted so far, tallies as events with their unique ids; the buffer is empty after."""
        taken = []
        while True:
            try:
                taken.append(self.events.popleft())
            except IndexError:
                break
        with self.lock:
            tallies, self.tallies = self.tallies, {}
        for (room_id, minute, kind, user_id), count in tallies.items():
            taken.append(
                {
                    "t": "tally",
                    "id": f"{self.token}:{next(self.sequence)}",
                    "room": room_id,
                    "minute": minute,
                    "kind": kind,
                    "user": user_id,
                    "n": count,
                }
            )
        return taken

    def put_back(self, events: list[dict]) -> None:
        """Events a push could not deliver go back in front, in their order."""
        self.events.extendleft(reversed(events))

    def __len__(self) -> int:
        return len(self.events) + len(self.tallies)

    # -- pushing to Redis -------------------------------------------------------------------------

    def _wake(self) -> None:
        """Make sure a push is coming, with Redis; without it the flush reads the buffer."""
        if not settings.REDIS_URL:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if self.push_pending:
            if self.loop is loop or (self.loop is not None and self.loop.is_running()):
                return
            # The loop that was to push is gone (a test's loop closed before its push ran).
            self.push_pending = False
        if loop is not None:
            self.loop = loop
            self.push_pending = True
            loop.create_task(self._push_soon())
        elif self.loop is not None and self.loop.is_running():
            # A service in a worker thread of the web process (a reaction): the loop pushes it.
            self.push_pending = True
            self.loop.call_soon_threadsafe(lambda: self.loop.create_task(self._push_soon()))
        else:
            # No event loop in this process (a Celery worker, a WSGI process): push now.
            self.push_sync()

    async def _push_soon(self) -> None:
        try:
            await asyncio.sleep(PUSH_DELAY_S)
        except asyncio.CancelledError:
            # The process is stopping (or a test's work is cancelled): push what there is first.
            await self._push()
            raise
        await self._push()

    async def _push(self) -> None:
        self.push_pending = False
        events = self.take()
        if not events:
            return
        try:
            await self._async_client().rpush(LIST_KEY, *[json.dumps(e) for e in events])
        except Exception:
            logger.warning("analytics: could not push %d events to Redis; keeping them", len(events))
            self.put_back([e for e in events if e["t"] != "tally"])
            for event in events:
                if event["t"] == "tally":
                    self.tally(
                        room_id=event["room"],
                        kind=event["kind"],
                        count=event["n"],
                        user_id=event["user"],
                        at=event["minute"],
                    )

    def push_sync(self) -> None:
        events = self.take()
        if not events:
            return
        if self._sync_client is None:
            self._sync_client = sync_client(settings.REDIS_URL, **sync_options())
        self._sync_client.rpush(LIST_KEY, *[json.dumps(e) for e in events])

    def _async_client(self):
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            self._async_clients.clear()  # one loop per process in production; one per test
            client = self._async_clients[loop] = async_client(settings.REDIS_URL, **async_options())
        return client


_buffer = Buffer()


def get_buffer() -> Buffer:
    return _buffer


def session_started(**kwargs) -> None:
    _buffer.session_started(**kwargs)


def session_ended(**kwargs) -> None:
    _buffer.session_ended(**kwargs)


def tally(**kwargs) -> None:
    _buffer.tally(**kwargs)


SOURCES = frozenset(Source.values)


def source_from_query(query_string: bytes) -> str:
    """The `src` the room page put on its socket's URL (services.source_of_request), if it is one of ours."""
    values = parse_qs(query_string.decode("latin-1")).get("src", [])
    return values[0] if values and values[0] in SOURCES else Source.DIRECT


def note_join(socket) -> bool:
    """A room socket is in (after its first snapshot: its route and its place are known). Returns
    whether it was noted (then the socket notes its leave too)."""
    if not settings.ANALYTICS_COLLECT:
        return False
    _buffer.session_started(
        room_id=socket.room_id,
        session=socket.conn_id,
        user_id=socket.user_id,
        on_stage=socket.on_stage,
        route=socket.audio_route or Route.WEBSOCKET,
        source=source_from_query(socket.scope.get("query_string", b"")),
    )
    return True


# The project's own pages, by path, as sources when a link came without its `src`.
_REFERRER_PATHS = (
    ("/rooms/topics/", Source.TOPIC),
    ("/rooms/search/", Source.SEARCH),
    ("/notifications/", Source.NOTIFICATION),
    ("/clips/", Source.CLIP),
    ("/@", Source.PROFILE),
)


def source_of(*, src: str | None, referer: str | None, site_host: str) -> str:
    """Where a visitor of a room's page came from: the `src` our links carry, else the referrer (a
    page of ours by its path, another site, or none: direct)."""
    if src in SOURCES:
        return src
    if not referer:
        return Source.DIRECT
    parsed = urlsplit(referer)
    if parsed.netloc and parsed.netloc != site_host:
        return Source.OTHER_SITE
    path = parsed.path or "/"
    if path == "/":
        return Source.HOME
    if path.startswith("/clips/") and path.rstrip("/").endswith("/embed"):
        return Source.EMBED
    for prefix, source in _REFERRER_PATHS:
        if path.startswith(prefix):
            return source
    return Source.DIRECT
