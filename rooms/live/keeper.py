"""The presence keeper of a room's sockets in one process, and the broadcast of its audience.

Split from the room socket (rooms/consumers.py), whose sockets it keeps: docs/architecture.md, "Presence
and the audience".
"""

import asyncio
import logging
import time

from channels.db import database_sync_to_async
from django.conf import settings

from spaces_project import protocol, realtime

from .. import selectors, services
from ..analytics import collect as analytics
from .bus import get_bus
from .presence import get_presence
from .room_loop import RoomLoop

logger = logging.getLogger(__name__)

LISTENERS_BROADCAST_SECONDS = 0.5
# While the audience churns, the list goes out at most this often (the count every broadcast).
LISTENERS_LIST_SECONDS = 3.0


def heartbeat_seconds() -> float:
    return float(getattr(settings, "ROOM_HEARTBEAT_SECONDS", 10))


class RoomKeeper(RoomLoop):
    """One task per room per process: keeps this process's sockets present in the roster.

    Every half interval it refreshes the presence of every local socket that beat recently (one
    Redis call), closes local sockets that missed two beats, and, at most once per interval across
    all processes, sweeps connections nobody refreshes any more (those of a dead web process). When
    a round fails (Redis is away: a restart) it keeps going; the next round puts the roster back.
    """

    label = "presence keeper"

    def __init__(self, room_id: int) -> None:
        super().__init__(room_id)
        self.store = get_presence()

    def period(self) -> float:
        return heartbeat_seconds() / 2

    def members(self) -> list:
        # A page that only watches a scheduled room (RoomConsumer.watch) has no presence.
        return [m for m in get_bus().local_members(self.room_id) if not m.watching]

    async def tick(self, members: list) -> None:
        await self.keep(self.store, members, heartbeat_seconds())

    async def keep(self, store, members: list, interval: float) -> None:
        now = time.monotonic()
        fresh, stale = [], []
        for member in members:
            (stale if now - member.last_beat > 2 * interval else fresh).append(member)
        for member in stale:
            logger.info(
                "room %s: closing a socket (user %s) silent for %.1f s; audio frames dropped %s",
                self.room_id,
                member.user_id,
                now - member.last_beat,
                member.audio_dropped,
            )
            member.closing = True
            try:
                await member.close(code=protocol.CLOSE_HEARTBEAT_TIMEOUT)
            except Exception:
                pass  # the socket is gone already
            # Whether or not the socket is still there to hear the close, it leaves the bus and
            # the roster now: a consumer that died must not be "closed" every round for ever.
            await member.unregister()
        if await store.beat_many(self.room_id, [(m.conn_id, m.presence_id) for m in fresh]):
            # Redis had lost some of us (a restart): the roster changed back.
            asyncio.get_running_loop().create_task(broadcast_listeners(self.room_id))
        if await store.claim_sweep(self.room_id, interval):
            await self.sweep(store, interval)

    async def sweep(self, store, interval: float) -> None:
        removed = False
        for conn in await store.stale(self.room_id, time.time() - 2 * interval):
            change = await store.remove(self.room_id, conn)
            if change is None:
                continue
            # A socket of a process that died: its session ends now, not with the room.
            if settings.ANALYTICS_COLLECT:
                analytics.session_ended(room_id=self.room_id, session=conn)
            removed = True
            if change.person_changed and change.user_id is not None:
                await database_sync_to_async(services.participant_disconnected)(
                    room_id=self.room_id, user_id=change.user_id
                )
        if removed:
            await broadcast_listeners(self.room_id)


async def broadcast_listeners(room_id: int) -> None:
    """Publish the audience at most every LISTENERS_BROADCAST_SECONDS per room, across processes.

    Every change raises a flag; one process at a time holds the room's lock and publishes until no
    flag is left, so a burst of a thousand joins costs a few broadcasts, not a thousand. While the
    audience keeps changing (another change came during the wait) a broadcast carries the count
    only, with the list (up to a hundred profiles, ~15 KB, to every socket of the room) at most
    every LISTENERS_LIST_SECONDS; the last broadcast of a burst always carries it, since the loop
    ends only after a wait that brought no change.
    """
    store = get_presence()
    pending = f"listeners:{room_id}"
    await store.flag(pending)
    try:
        while await store.claim(pending, 10):
            try:
                while await store.take_flag(pending):
                    await asyncio.sleep(LISTENERS_BROADCAST_SECONDS)
                    churning = await store.has_flag(pending)
                    # Claimed whether or not the audience is still, so the list's interval counts
                    # from the last list sent, whichever process sent it.
                    slot = await store.claim(f"listeners-list:{room_id}", LISTENERS_LIST_SECONDS)
                    present = await store.snapshot(room_id)
                    event = await database_sync_to_async(selectors.room_listeners_event)(
                        room_id=room_id,
                        present_user_ids=present.user_ids,
                        anonymous=present.anonymous,
                        with_list=slot or not churning,
                    )
                    await realtime.send_async(event, room_id=room_id)
            finally:
                await store.release(pending)
            if not await store.has_flag(pending):
                return
    except Exception:
        logger.exception("listener broadcast failed in room %s", room_id)
