"""Joins of one room that arrive together go to the database together.

When a web process dies, or restarts, its listeners all reconnect to the others within a second or
two. An anonymous listener costs no query (it is checked against the room as read for everyone's
snapshot, rooms/live/snapshots.py), but each signed-in one was seated with a transaction of its own
(the room, the door's rule, their place): about five queries, one behind the other on the process's
one database thread, hundreds of times. Here the signed-in people joining a room while a batch is
on that thread wait for the next batch, which seats them all with
`services.participants_join` in a handful of queries whatever their number.
"""

from __future__ import annotations

import asyncio
import weakref

from channels.db import database_sync_to_async

from spaces_project.errors import ServiceError

from .. import services
from ..models import Participant

MAX_BATCH = 200  # people seated by one call (the size of its IN lists)


class _RoomJoins:
    __slots__ = ("waiting", "running")

    def __init__(self) -> None:
        self.waiting: dict[int, tuple[object, list[asyncio.Future]]] = {}
        self.running = False


class JoinBatcher:
    def __init__(self) -> None:
        self._loops: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _rooms(self) -> dict[int, _RoomJoins]:
        loop = asyncio.get_running_loop()
        rooms = self._loops.get(loop)
        if rooms is None:
            rooms = self._loops[loop] = {}
        return rooms

    async def join(self, room_id: int, user) -> Participant:
        """Seat the signed-in `user` as services.participant_join does (raising its refusal)."""
        loop = asyncio.get_running_loop()
        joins = self._rooms().setdefault(room_id, _RoomJoins())
        future = loop.create_future()
        joins.waiting.setdefault(user.pk, (user, []))[1].append(future)
        if not joins.running:
            joins.running = True
            loop.create_task(self._run(room_id, joins))
        # Shielded: a socket that closes while waiting must not cancel the others' batch.
        answer = await asyncio.shield(future)
        if isinstance(answer, ServiceError):
            raise answer
        return answer

    async def _run(self, room_id: int, joins: _RoomJoins) -> None:
        try:
            while joins.waiting:
                batch = dict(list(joins.waiting.items())[:MAX_BATCH])
                for user_id in batch:
                    del joins.waiting[user_id]
                users = [user for user, _ in batch.values()]
                try:
                    seated = await database_sync_to_async(services.participants_join)(
                        room_id=room_id, users=users
                    )
                except Exception as error:
                    for _, futures in batch.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(error)
                    continue
                for user_id, (_, futures) in batch.items():
                    for future in futures:
                        if not future.done():
                            future.set_result(seated[user_id])
        finally:
            joins.running = False
            if self._rooms().get(room_id) is joins and not joins.waiting:
                del self._rooms()[room_id]


_batcher = JoinBatcher()


def get_join_batcher() -> JoinBatcher:
    return _batcher
