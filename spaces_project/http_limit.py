"""Admission control for plain HTTP in a web process.

Django's ASGI handler runs every request's view in a thread of its own. Under a burst (a ticket
sale opening, bench/tickets.py) hundreds of threads then share one interpreter lock and all of them
finish late. A bounded number of requests in Django at once, the rest queued in arrival order,
answers the same burst sooner on average and keeps the event loop (and the websockets it carries)
responsive. HTTP_MAX_CONCURRENT sets the bound per process; 0 leaves it unbounded.
"""

import asyncio

from django.contrib.messages import constants
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest, HttpResponseRedirect

from rooms.live import seat_gate


class ConcurrencyLimit:
    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._semaphore: asyncio.Semaphore | None = None

    async def __call__(self, scope, receive, send):
        if self.limit <= 0 or scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.limit)
        async with self._semaphore:
            return await self.app(scope, receive, send)


class SeatGateMiddleware:
    """Answers a ticket purchase for a sold-out room before Django is asked (rooms/live/seat_gate.py)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        match = seat_gate.BUY_PATH.match(scope.get("path", ""))
        if match is None:
            return await self.app(scope, receive, send)
        room_id = int(match.group(1))
        gate = seat_gate.get_seat_gate()
        verdict = await gate.admit(room_id)
        if verdict == seat_gate.REFUSE:
            return await _answer_sold_out(room_id, send)
        try:
            return await self.app(scope, receive, send)
        finally:
            if verdict == seat_gate.COUNTED:
                # Shielded: daphne cancels the application when the buyer's connection closes, and
                # a release cut short would hold a place in `inflight` (a seat nobody may buy).
                await asyncio.shield(gate.release(room_id))


async def _answer_sold_out(room_id: int, send) -> None:
    """Back to the room page with Django's own "Sold out" flash message, carried in the message
    cookie (the session is not opened: that is the work the gate saves)."""
    response = HttpResponseRedirect(f"/rooms/{room_id}/")
    response["Cache-Control"] = "no-store"
    storage = CookieStorage(HttpRequest())
    storage.add(constants.ERROR, seat_gate.SOLD_OUT)
    storage.update(response)
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
    headers += [
        (b"set-cookie", morsel.output(header="").strip().encode("latin-1"))
        for morsel in response.cookies.values()
    ]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
