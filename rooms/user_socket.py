"""The per-person socket (``/ws/me/``): every signed-in page keeps one, to hear about notifications
and the people waiting for the host's rooms live.

It carries server events only (spaces_project/protocol, "The per-person channel"); whatever the browser
sends is ignored. Delivery goes through the channel layer group ``user.<id>``
(spaces_project/realtime.py). It lives in rooms, the highest app whose state its first message
carries (accounts' unread count, rooms' reminder counts).
"""

import asyncio

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from accounts.selectors import unread_notification_count
from spaces_project import protocol, realtime

from .selectors import reminder_counts_of_host


def _snapshot(user) -> protocol.UserSnapshot:
    return protocol.UserSnapshot(
        unread_count=unread_notification_count(user=user),
        reminder_counts=reminder_counts_of_host(host=user),
    )


class UserConsumer(AsyncWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        # Accept first so that a refusal reaches the page as a close code it can act on.
        await self.accept()
        if not getattr(user, "is_authenticated", False):
            await self.close(code=protocol.CLOSE_SIGN_IN_REQUIRED)
            return
        realtime.note_consumer_loop(asyncio.get_running_loop())
        self.group = protocol.user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        # The state right now, also after a reconnect, when events may have been missed.
        snapshot = await database_sync_to_async(_snapshot)(user)
        await self.send(text_data=snapshot.encode())

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        return  # the page only listens on this socket

    async def user_event(self, message: dict) -> None:
        """A per-person event from the channel layer (protocol.user_envelope): pass it on."""
        await self.send(text_data=protocol.encode(message["event"]))

    async def channel_layer_reconnected(self, message: dict) -> None:
        """The layer lost Redis for a moment and reads again (spaces_project/channel_layer.py): events
        sent meanwhile were lost, and the group membership may have been (a failover). Join again and
        send the state, as after a reconnect."""
        if self.group is None:
            return
        await self.channel_layer.group_add(self.group, self.channel_name)
        snapshot = await database_sync_to_async(_snapshot)(self.scope["user"])
        await self.send(text_data=snapshot.encode())

    async def user_close(self, message: dict) -> None:
        """The person's sessions ended (protocol.user_close_envelope): close this socket."""
        await self.close(code=message["code"])
