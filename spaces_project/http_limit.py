"""Admission control for plain HTTP in a web process.

Django's ASGI handler runs every request's view in a thread of its own. Under a burst (a ticket
sale opening, bench/tickets.py) hundreds of threads then share one interpreter lock and all of them
finish late. A bounded number of requests in Django at once, the rest queued in arrival order,
answers the same burst sooner on average and keeps the event loop (and the websockets it carries)
responsive. HTTP_MAX_CONCURRENT sets the bound per process; 0 leaves it unbounded. (In front of it,
rooms' seat gate answers a sold-out ticket rush before the queue: rooms/live/seat_gate.py.)
"""

import asyncio


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
