"""Renewing the signed HLS URLs of a private room's listeners over their room sockets, only while
the room's door would still let them in (docs/hls.md, "Taking access back")."""

import logging
import time

from channels.db import database_sync_to_async
from django.utils.translation import gettext as _

from spaces_project.errors import ServiceError

from .. import services
from . import hls
from .bus import get_bus
from .room_loop import RoomLoop

logger = logging.getLogger(__name__)


class HlsRenewer(RoomLoop):
    """One task per room per process while sockets here hear the room's private HLS: renews their
    signed URLs (docs/hls.md, "Taking access back"). The sockets are rooms/consumers.py's, which
    starts it (`ensure`) whenever it gives one a URL.

    Every tick it takes the sockets whose renewal is due, asks the door's rule about all their
    people at once (services.participants_join_refusals: a few queries for a whole batch), sends
    each admitted socket a fresh URL and closes the others. Someone refunded, blocked or removed
    gets no URL after that, and the last one they had stops working when it expires.
    """

    label = "HLS renewals"
    # People asked about in one database call: bounded, so a huge room's renewals interleave with
    # the rest of the process's work.
    BATCH = 500

    def period(self) -> float:
        # Six ticks a renewal period: a socket is renewed at most a sixth of it late.
        return max(hls.renewal_seconds() / 6, 0.05)

    def members(self) -> list:
        return [m for m in get_bus().local_members(self.room_id) if getattr(m, "renews_hls", False)]

    async def tick(self, members: list) -> None:
        # When the database is away the URLs run on until they expire; the next tick tries again.
        await self.renew(members)

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
                    refusal = ServiceError("sign_in_required", _("Sign in to listen to this room."))
                try:
                    if refusal is None:
                        await member.renew_hls(checked_at)
                    else:
                        await member.close_refused(refusal)
                except Exception:
                    logger.debug("room %s: a socket went away while renewing", self.room_id, exc_info=True)
