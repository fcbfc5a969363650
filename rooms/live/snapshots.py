"""One read of a room's live state for every socket of this process that asks at about the same time.

After a web process restarts, or Redis comes back, every socket of a room asks for its snapshot at
once, and each used to read the room, its participants and its links on the process's one database
thread: a thousand reads queued one behind the other. Here the state is read once (with the roster
from Redis) and shared by the sockets that ask while it is fresh: until the next event that changes
it reaches this process through the room bus, and at most MAX_AGE_S. A viewer's own entry comes from
the same read; someone the read does not know (they joined after it) gets a fresh one.
"""

from __future__ import annotations

import asyncio
import weakref
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from django.db import connections

from spaces_project import protocol

from .. import selectors
from .bus import get_bus
from .presence import get_presence

MAX_AGE_S = 1.0
# On PostgreSQL the shared reads run on a thread (and connection) of their own. A read of a big
# room takes tens of milliseconds; on the process's one database thread, the sign-ins and seats of
# a reconnect storm queued behind it. SQLite (the embedded mode) keeps the one thread: a second
# connection there would wait for the writer's lock instead.
_reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="room-snapshots")


def close_reader_connection() -> None:
    """Close the reader thread's database connection, once the read it may be doing is over (a test's
    end: a read finishing after it would keep a connection to a test database about to be dropped)."""
    _reader.submit(connections.close_all).result()


# Events that do not change what a snapshot shows: they leave a shared read valid.
KEEPS_SNAPSHOT = {protocol.Levels.TYPE, protocol.Reaction.TYPE, protocol.Resync.TYPE}


class _Entry:
    __slots__ = ("future", "read_at", "generation")

    def __init__(self, future: asyncio.Task, read_at: float, generation: int) -> None:
        self.future = future
        self.read_at = read_at
        self.generation = generation


class _LoopViews:
    """The shared reads of one event loop (one per web process; one per test in the tests)."""

    def __init__(self) -> None:
        self.entries: dict[int, _Entry] = {}
        self.generations: dict[int, int] = {}
        self.observed: set[int] = set()

    def changed(self, room_id: int, event: dict) -> None:
        if event.get("type") == protocol.Batch.TYPE:
            if all(_keeps_snapshot(inner) for inner in event.get("events", ())):
                return
        elif _keeps_snapshot(event):
            return
        self.generations[room_id] = self.generations.get(room_id, 0) + 1
        self.entries.pop(room_id, None)


class RoomViews:
    def __init__(self) -> None:
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopViews] = (
            weakref.WeakKeyDictionary()
        )

    def _views(self) -> _LoopViews:
        loop = asyncio.get_running_loop()
        views = self._loops.get(loop)
        if views is None:
            views = self._loops[loop] = _LoopViews()
        return views

    async def view_for(
        self, room_id: int, viewer_id: int | None, *, heartbeat_seconds: float
    ) -> selectors.RoomLiveView:
        """A read of the room fresh enough for this viewer's snapshot."""
        view = await self._shared(room_id, heartbeat_seconds, fresh=False)
        if viewer_id is not None and _missing_from(view, viewer_id):
            view = await self._shared(room_id, heartbeat_seconds, fresh=True)
        return view

    async def _shared(self, room_id: int, heartbeat_seconds: float, *, fresh: bool) -> selectors.RoomLiveView:
        views = self._views()
        loop = asyncio.get_running_loop()
        entry = views.entries.get(room_id)
        if (
            not fresh
            and entry is not None
            and loop.time() - entry.read_at < MAX_AGE_S
            and not (entry.future.done() and entry.future.exception() is not None)
        ):
            return await asyncio.shield(entry.future)
        if room_id not in views.observed:
            views.observed.add(room_id)
            get_bus().add_event_observer(room_id, lambda event: views.changed(room_id, event))
        generation = views.generations.get(room_id, 0)
        # A task of its own, not the asking socket's: a socket that closes while waiting must not
        # cancel the read the others wait for.
        entry = _Entry(loop.create_task(self._read(room_id, heartbeat_seconds)), loop.time(), generation)
        views.entries[room_id] = entry
        try:
            view = await asyncio.shield(entry.future)
        except Exception:
            if views.entries.get(room_id) is entry:
                del views.entries[room_id]
            raise
        if views.generations.get(room_id, 0) != generation and views.entries.get(room_id) is entry:
            # An event changed the room while it was being read: this read may miss it. The sockets
            # that asked before the event get it; later ones read again.
            del views.entries[room_id]
        return view

    @staticmethod
    async def _read(room_id: int, heartbeat_seconds: float) -> selectors.RoomLiveView:
        present = await get_presence().snapshot(room_id)
        own_thread = connections["default"].vendor == "postgresql"
        read = database_sync_to_async(
            selectors.room_live_view,
            **({"thread_sensitive": False, "executor": _reader} if own_thread else {}),
        )
        return await read(
            room_id=room_id,
            present_user_ids=present.user_ids,
            anonymous=present.anonymous,
            heartbeat_seconds=heartbeat_seconds,
        )


def _keeps_snapshot(event: dict) -> bool:
    """Whether a shared read stays valid after `event`. The audience's count alone (a
    `room.listeners` without its list, while the audience churns) leaves it: the read's count is a
    moment old, as it may be anyway (MAX_AGE_S), and the next broadcast brings the count again."""
    kind = event.get("type")
    return kind in KEEPS_SNAPSHOT or (kind == protocol.Listeners.TYPE and "listeners" not in event)


def _missing_from(view: selectors.RoomLiveView, viewer_id: int) -> bool:
    """Whether the read predates this viewer: they joined after it, or it shows them off the stage
    they are on (they were away when it was made)."""
    you = view.people.get(viewer_id)
    if you is None:
        return True
    return protocol.is_on_stage(you["role"]) and all(p["user_id"] != viewer_id for p in view.snapshot.stage)


_views = RoomViews()


def get_room_views() -> RoomViews:
    return _views
