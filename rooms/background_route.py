"""A listener's page in the background whose browser suspended its Web Audio (a locked phone): the
room socket moves it to the room's HLS, which the page plays through its media element, and back to
websocket audio when the page is in front again (docs/phone.md, the `audio.background` message)."""

from django.conf import settings

from .live import hls
from .live.presence import get_presence
from .live.snapshots import get_room_views


class BackgroundRoute:
    """Part of RoomConsumer: its audio_route, stage flags, send_route and room are theirs."""

    background_hls = False  # on HLS because the page is in the background

    async def set_background(self, *, on: bool) -> None:
        """Move a listener to HLS (`on`) or back; the stage, anyone invited to it and a backstage's
        audience keep the route they have."""
        if on and self.audio_route == hls.WEBSOCKET and not (self.on_stage or self.invited or self.backstage):
            self.background_hls, self.audio_route = True, hls.HLS
            # The room's mixer starts writing HLS when it sees this (its next stage reload).
            await get_presence().flag(hls.hls_flag(self.room_id))
            view = await get_room_views().view_for(
                self.room_id, self.user_id, heartbeat_seconds=settings.ROOM_HEARTBEAT_SECONDS
            )
            await self.send_route(view.room)
        elif not on and self.background_hls and self.audio_route == hls.HLS:
            self.background_hls, self.audio_route = False, hls.WEBSOCKET
            await self.send_route()
