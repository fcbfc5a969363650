"""Calls that arrive in the same turn of the event loop, done together.

When a web process dies its sockets all reach another one within a second: each signing in, each
adding its presence. Each of those is one trip (to the database thread, to Redis) whatever the
number it carries, so the sockets arriving together share it: the first caller of a key starts a
task that waits one turn of the loop, then hands everything that arrived to `run` in batches of at
most `max_batch` (what arrives while a batch is out goes in the next one).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Hashable


class Together:
    """`run(key, items)` returns one answer per item, in order; a failure is every caller's."""

    def __init__(self, run: Callable[[Hashable, list], Awaitable[list]], *, max_batch: int) -> None:
        self.run = run
        self.max_batch = max_batch
        # Per event loop (one per web process; one per test in the tests), per key: those waiting.
        self._loops: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    async def call(self, key: Hashable, item):
        loop = asyncio.get_running_loop()
        keys = self._loops.setdefault(loop, {})
        future = loop.create_future()
        waiting = keys.get(key)
        if waiting is None:
            waiting = keys[key] = []
            loop.create_task(self._drain(key, waiting, keys))
        waiting.append((item, future))
        # Shielded: a socket that closes while waiting must not cancel the others' call.
        return await asyncio.shield(future)

    async def _drain(self, key: Hashable, waiting: list, keys: dict) -> None:
        await asyncio.sleep(0)  # those arriving in this turn of the loop come along
        while waiting:
            batch, waiting[:] = waiting[: self.max_batch], waiting[self.max_batch :]
            try:
                answers = await self.run(key, [item for item, _ in batch])
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    future.set_result(answer)
        if keys.get(key) is waiting:
            del keys[key]
