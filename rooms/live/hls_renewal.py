"""Renewing the signed HLS URLs of a private room's listeners over their room sockets, only while
the room's door would still let them in (docs/hls.md, "Taking access back")."""

import asyncio
import logging
import time
import weakref

from channels.db import database_sync_to_async

from spaces_project.errors import ServiceError

from .. import services
from . import hls
from .bus import get_bus

logger = logging.getLogger(__name__)


class HlsRenewer:
    """One task per room per process while sockets here hear the room's private HLS: renews their
    signed URLs (docs/hls.md, "Taking access back"). The sockets are rooms/consumers.py's, which
    starts it (`ensure`) whenever it gives one a URL.

    Every tick it takes the sockets whose renewal is due, asks the door's rule about all their
    people at once (services.participants_join_refusals: a few queries for a whole batch), sends
    each admitted socket a fresh URL and closes the others. Someone refunded, blocked or removed
    gets no URL after that, and the last one they had stops working when it expires.
    """

    _running: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Task]]" = (
        weakref.WeakKeyDictionary()
    )
    # People asked about in one database call: bounded, so a huge room's renewals interleave with
    # the rest of the process's work.
    BATCH = 500

    @classmethod
    def ensure(cls, room_id: int) -> None:
        loop = asyncio.get_running_loop()
        tasks = cls._running.setdefault(loop, {})
        task = tasks.get(room_id)
        if task is None or task.done():
            tasks[room_id] = loop.create_task(cls(room_id).run())

    def __init__(self, room_id: int) -> None:
        self.room_id = room_id

    async def run(self) -> None:
        failing = False
        try:
            while True:
                # Six ticks a renewal period: a socket is renewed at most a sixth of it late.
                await asyncio.sleep(max(hls.renewal_seconds() / 6, 0.05))
                members = [
                    m for m in get_bus().local_members(self.room_id) if getattr(m, "renews_hls", False)
                ]
                if not members:
                    return
                try:
                    await self.renew(members)
                    failing = False
                except Exception:
                    # The database is away: the URLs run on until they expire; the next tick tries again.
                    if not failing:
                        logger.warning(
                            "HLS renewals of room %s failed; retrying", self.room_id, exc_info=True
                        )
                    failing = True
        except asyncio.CancelledError:
            pass
        finally:
            tasks = self._running.get(asyncio.get_running_loop(), {})
            if tasks.get(self.room_id) is asyncio.current_task():
                del tasks[self.room_id]

    async def renew(self, members: list) -> None:
        now = time.monotonic()
        due = [m for m in members if m.hls_renew_at <= now]
        for start in range(0, len(due), self.BATCH):
            batch = due[start : start + self.BATCH]
            checked_at = time.monotonic()
            refusals = await database_sync_to_async(services.participants_join_refusals)(
                room_id=self.room_id, user_ids={m.user_id for m in batch if m.user_id is not None}
            )
            for member in batch:
                if not member.renews_hls:
                    continue  # closed or moved to the stage meanwhile
                refusal = refusals.get(member.user_id)
                if member.user_id is None:
                    refusal = ServiceError("sign_in_required", "Sign in to listen to this room.")
                try:
                    if refusal is None:
                        await member.renew_hls(checked_at)
                    else:
                        await member.close_refused(refusal)
                except Exception:
                    logger.debug("room %s: a socket went away while renewing", self.room_id, exc_info=True)
