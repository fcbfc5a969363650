"""The seat gate: a ticket rush answered "sold out" before Django, from a count kept in Redis.

When a ticketed room goes on sale, hundreds of people press "Get a ticket" in the same second
and all but a hundred of them are told it is sold out. Each of those answers cost a whole Django
request (session, user, room, ticket, message), and they queued behind the sales: measured with
bench/tickets.py, p95 of 5 to 6 s for 500 buyers and 100 seats on two daphne processes.

The gate is an ASGI middleware in front of Django (`SeatGateMiddleware` below; spaces_project/asgi.py
puts it before the queue into Django), for `POST /rooms/<pk>/tickets/buy/` only. It keeps two
numbers per room:

- `left`, the seats the database last said were free (capacity minus seats taken). Every service
  of rooms/services/tickets.py that changes a room's seats writes it after its transaction commits
  (`seats_changed`), and it lapses after `LEFT_TTL_S` so a missed write heals itself;
- `inflight`, the purchases the gate has let through and Django has not answered yet.

A purchase is let through while `inflight < left`; otherwise the gate answers at once with what
Django would have said (back to the room page, "Sold out"). It never sells anything: the database's
conditional UPDATE still decides every seat (rooms/services/tickets.py), so the gate can only ever refuse
early, never oversell. When `left` is unknown (never written, lapsed, Redis down) everyone is let
through and the database answers, as before.

The one thing the gate changes for a buyer: while the last seats are being taken, a buyer can be
told "sold out" although one of the purchases in flight is then refused (the same person in two
tabs, a suspended account) and its seat stays free. The room page shows the seats left as the
database has them, so "Get a ticket" is back on that page; a pending checkout that lapses frees
its seat the same way.

One process without Redis (`make run`) keeps the same two numbers in memory.
"""

import asyncio
import logging
import re
import threading
import time

from django.conf import settings
from django.contrib.messages import constants
from django.contrib.messages.storage.cookie import CookieStorage
from django.db import transaction
from django.http import HttpRequest, HttpResponseRedirect
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from spaces_project.redis_clients import async_client, sync_client
from spaces_project.redis_options import async_options, sync_options
from spaces_project.websocket import socket_language

from ..models import Room

logger = logging.getLogger(__name__)

LEFT_TTL_S = 60
# A purchase that never returns (its process killed) must not hold a place in `inflight` for ever:
# the counter lapses this long after the last purchase let through.
INFLIGHT_TTL_S = 30
# Redis connections per web process for the gate: each check is one short script, so a few
# connections answer a rush of hundreds (opening hundreds cost more than the checks).
GATE_CONNECTIONS = 8

BUY_PATH = re.compile(r"^/rooms/(\d+)/tickets/buy/$")
# An English msgid, translated into the buyer's page language when the gate answers.
SOLD_OUT = gettext_noop("Sold out: every seat is taken or being paid for.")

# KEYS: left, inflight. ARGV: inflight TTL (s). Returns 0: refuse (sold out), 1: let through
# uncounted (nothing known), 2: let through and counted.
_ADMIT = """
local left = redis.call('GET', KEYS[1])
if not left then return 1 end
local inflight = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[1]))
if inflight > tonumber(left) then
  redis.call('DECR', KEYS[2])
  return 0
end
return 2
"""
# KEYS: inflight. Never below zero (the key may have lapsed meanwhile).
_RELEASE = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return 0
"""

REFUSE = 0
THROUGH = 1
COUNTED = 2


def _keys(room_id: int) -> tuple[str, str]:
    return f"spaces:seats:{room_id}:left", f"spaces:seats:{room_id}:inflight"


def _now() -> float:
    return time.monotonic()


class MemorySeatGate:
    """One process's gate (no Redis): the same rule and the same lapse, in a dict."""

    def __init__(self) -> None:
        self._left: dict[int, tuple[int, float]] = {}  # room -> (free seats, lapses at)
        self._inflight: dict[int, int] = {}
        self._lock = threading.Lock()

    def set_left(self, room_id: int, left: int | None) -> None:
        with self._lock:
            if left is None:
                self._left.pop(room_id, None)
            else:
                self._left[room_id] = (left, _now() + LEFT_TTL_S)

    def forget(self) -> None:
        with self._lock:
            self._left.clear()
            self._inflight.clear()

    async def admit(self, room_id: int) -> int:
        with self._lock:
            left, lapses_at = self._left.get(room_id, (None, 0.0))
            if left is None or _now() >= lapses_at:
                return THROUGH
            if self._inflight.get(room_id, 0) >= left:
                return REFUSE
            self._inflight[room_id] = self._inflight.get(room_id, 0) + 1
            return COUNTED

    async def release(self, room_id: int) -> None:
        with self._lock:
            if self._inflight.get(room_id, 0) > 0:
                self._inflight[room_id] -= 1


class RedisSeatGate:
    """Shared by every web process: the two numbers live in Redis, checked in one script."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.redis = sync_client(url, **sync_options(socket_timeout=1.0))
        # An asyncio client per event loop: the gate runs in daphne's loop, tests run several.
        self._async: dict[int, object] = {}

    def _client(self):
        loop = asyncio.get_running_loop()
        client = self._async.get(id(loop))
        if client is None:
            # A blocking pool, as the presence store's: a rush brings hundreds of purchases at once,
            # and a plain pool refused the ones beyond its size ("Too many connections"), which the
            # gate then let through to Django. These wait a moment for a free connection instead.
            client = async_client(
                self.url,
                max_connections=GATE_CONNECTIONS,
                blocking_timeout=5,
                **async_options(socket_timeout=1.0),
            )
            client.admit_script = client.register_script(_ADMIT)
            client.release_script = client.register_script(_RELEASE)
            self._async[id(loop)] = client
        return client

    def set_left(self, room_id: int, left: int | None) -> None:
        key = _keys(room_id)[0]
        try:
            if left is None:
                self.redis.delete(key)
            else:
                self.redis.set(key, left, ex=LEFT_TTL_S)
        except Exception as error:  # Redis down: the gate lets everyone through until it is back.
            logger.warning("seat gate of room %s not updated: %s", room_id, error)

    def forget(self) -> None:
        keys = list(self.redis.scan_iter(match="spaces:seats:*", count=1000))
        if keys:
            self.redis.delete(*keys)

    async def admit(self, room_id: int) -> int:
        try:
            return int(await self._client().admit_script(keys=_keys(room_id), args=[INFLIGHT_TTL_S]))
        except Exception as error:
            logger.warning(
                "seat gate of room %s not reachable, letting the purchase through: %s", room_id, error
            )
            return THROUGH

    async def release(self, room_id: int) -> None:
        try:
            await self._client().release_script(keys=[_keys(room_id)[1]])
        except Exception as error:
            logger.warning("seat gate of room %s not released: %s", room_id, error)


_gate: MemorySeatGate | RedisSeatGate | None = None
_gate_url: str | None = None


def get_seat_gate() -> MemorySeatGate | RedisSeatGate:
    global _gate, _gate_url
    if _gate is None or _gate_url != settings.REDIS_URL:
        _gate = RedisSeatGate(settings.REDIS_URL) if settings.REDIS_URL else MemorySeatGate()
        _gate_url = settings.REDIS_URL
    return _gate


def seats_changed(room_id: int) -> None:
    """Write the room's free seats to the gate once the current transaction commits: after every
    change of a room's seats or sales, and when a purchase finds the room sold out."""
    transaction.on_commit(lambda: publish_left(room_id), robust=True)


def publish_left(room_id: int) -> None:
    row = Room.objects.filter(pk=room_id).values_list("state", "ticket_capacity", "tickets_taken").first()
    if row is None or row[0] != Room.State.SCHEDULED or row[1] is None:
        # Not on sale (free, started, gone): Django answers every purchase with the reason.
        get_seat_gate().set_left(room_id, None)
    else:
        get_seat_gate().set_left(room_id, max(0, row[1] - row[2]))


class SeatGateMiddleware:
    """Answers a ticket purchase for a sold-out room before Django is asked."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        match = BUY_PATH.match(scope.get("path", ""))
        if match is None:
            return await self.app(scope, receive, send)
        room_id = int(match.group(1))
        gate = get_seat_gate()
        verdict = await gate.admit(room_id)
        if verdict == REFUSE:
            return await _answer_sold_out(room_id, send, language=socket_language(scope))
        try:
            return await self.app(scope, receive, send)
        finally:
            if verdict == COUNTED:
                # Shielded: daphne cancels the application when the buyer's connection closes, and
                # a release cut short would hold a place in `inflight` (a seat nobody may buy).
                await asyncio.shield(gate.release(room_id))


async def _answer_sold_out(room_id: int, send, *, language: str) -> None:
    """Back to the room page with Django's own "Sold out" flash message, carried in the message
    cookie (the session is not opened: that is the work the gate saves), in the page's language (the
    language cookie, then Accept-Language, as LocaleMiddleware chooses)."""
    response = HttpResponseRedirect(f"/rooms/{room_id}/")
    response["Cache-Control"] = "no-store"
    storage = CookieStorage(HttpRequest())
    with translation.override(language):
        storage.add(constants.ERROR, gettext(SOLD_OUT))
    storage.update(response)
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
    headers += [
        (b"set-cookie", morsel.output(header="").strip().encode("latin-1"))
        for morsel in response.cookies.values()
    ]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
