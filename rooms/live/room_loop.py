"""A loop per room per process over the room's sockets here, for work done every so often while they are
open: the presence keeper (keeper.py) and the HLS renewals (hls_renewal.py) are two."""

import asyncio
import logging
import weakref
from typing import ClassVar


class RoomLoop:
    """One task per room per event loop (`ensure` starts it if it is not running), ticking every
    `period()` seconds over `members()`, this process's sockets of the room that it works for; when
    none is left it ends, and the next `ensure` starts it again. A tick that raises (Redis or the
    database away) is logged once, as "<label> of room N failed; retrying", and once more when a tick
    works again; the loop goes on. The log lines are the subclass module's."""

    label: ClassVar[str]  # names the loop in the log
    _running: ClassVar["weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, asyncio.Task]]"]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls._running = weakref.WeakKeyDictionary()  # each kind of loop keeps its own

    @classmethod
    def ensure(cls, room_id: int) -> None:
        loop = asyncio.get_running_loop()
        tasks = cls._running.setdefault(loop, {})
        task = tasks.get(room_id)
        if task is None or task.done():
            tasks[room_id] = loop.create_task(cls(room_id).run())

    def __init__(self, room_id: int) -> None:
        self.room_id = room_id
        self.logger = logging.getLogger(type(self).__module__)

    def period(self) -> float:
        """Seconds between ticks, read before each (settings may change)."""
        raise NotImplementedError

    def members(self) -> list:
        """The room's sockets in this process that a tick works on."""
        raise NotImplementedError

    async def tick(self, members: list) -> None:
        """One round of the work over `members` (never empty)."""
        raise NotImplementedError

    async def run(self) -> None:
        failing = False
        try:
            while True:
                await asyncio.sleep(self.period())
                members = self.members()
                if not members:
                    return
                try:
                    await self.tick(members)
                    if failing:
                        self.logger.info("%s of room %s works again", self.label, self.room_id)
                    failing = False
                except Exception:
                    if not failing:
                        self.logger.warning(
                            "%s of room %s failed; retrying", self.label, self.room_id, exc_info=True
                        )
                    failing = True
        except asyncio.CancelledError:
            pass
        finally:
            tasks = self._running.get(asyncio.get_running_loop(), {})
            if tasks.get(self.room_id) is asyncio.current_task():
                del tasks[self.room_id]
