"""Connect to room sockets through the real ASGI application, as a browser would.

Every text frame a socket receives is checked against the declarations of spaces_project/protocol: a frame
of an undeclared type, or a declared event with a field its constructor does not define (or without
one it does), fails the test that received it. So every test here is also a contract test.
"""

import asyncio
import json

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from spaces_project import protocol
from spaces_project.asgi import application
from tests.protocol_checker import check_event

ORIGIN = "http://127.0.0.1:8000"
# Every socket a test opens, so that a fixture (tests/live/conftest.py) closes those the test did not,
# however it ended.
OPEN_SOCKETS: list["RoomSocket"] = []


def _session_for(user) -> str:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return session.session_key


class RoomSocket:
    """One browser tab's socket to a room, with helpers to wait for events."""

    events = protocol.EVENTS  # what the server may send on it

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.seen: list[dict] = []
        self.pending: list[dict] = []
        self.batches = 0
        self.audio_frames = 0
        self.closed = False

    async def send(self, message: dict) -> None:
        await self.communicator.send_to(text_data=json.dumps(message))

    async def send_raw(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def receive(self, timeout: float = 3) -> dict:
        """The next event (the events of a `room.batch` one by one); audio frames are skipped."""
        if self.pending:
            event = self.pending.pop(0)
            self.seen.append(event)
            return event
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.communicator.receive_output(max(deadline - loop.time(), 0.001))
            if frame["type"] == "websocket.close":
                raise ConnectionClosed(frame.get("code"))
            if frame.get("text") is not None:
                break
            self.audio_frames += 1
        event = read_event(frame["text"], self.events)
        if event["type"] == "room.batch":
            self.batches += 1
            self.pending.extend(event["events"][1:])
            event = event["events"][0]
        self.seen.append(event)
        return event

    async def wait_for(self, kind: str, timeout: float = 3, **match) -> dict:
        """Return the next event of `kind` whose fields match; other events are skipped."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"no {kind} {match} within {timeout}s; saw {[e['type'] for e in self.seen]}"
                )
            event = await self.receive(remaining)
            if event["type"] == kind and all(_matches(event, k, v) for k, v in match.items()):
                return event

    async def expect_nothing(self, kind: str, within: float = 0.5) -> None:
        """Assert no `kind` event arrives within `within` seconds (others are skipped)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        # receive_output() with a timeout cancels the application when it expires: poll instead.
        while (remaining := deadline - loop.time()) > 0:
            if not self.pending and await self.communicator.receive_nothing(
                timeout=min(remaining, 0.05), interval=0.01
            ):
                continue
            event = await self.receive(1)
            assert event["type"] != kind, f"unexpected {event}"

    async def wait_closed(self, timeout: float = 3) -> int | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                await self.receive(max(deadline - loop.time(), 0.01))
            except ConnectionClosed as closed:
                return closed.code

    async def close(self) -> None:
        """Disconnect, as a closing tab does. Closing twice does nothing."""
        if self.closed:
            return
        self.closed = True
        future = self.communicator.future
        if future.done():
            # The consumer is gone already; a test that made it die from an exception has seen it.
            if not future.cancelled():
                future.exception()
            return
        await self.communicator.disconnect()


def read_event(text: str, events=protocol.EVENTS) -> dict:
    """Decode a text frame from the server, and hold it to the protocol."""
    event = json.loads(text)
    check_event(event, events=events)
    return event


class UserSocket(RoomSocket):
    """One page's socket to the per-person channel (/ws/me/)."""

    events = protocol.USER_EVENTS


async def open_user_socket(user=None, *, origin: str = ORIGIN) -> UserSocket:
    headers = [(b"origin", origin.encode()), (b"host", b"127.0.0.1:8000")]
    if user is not None:
        session_key = await database_sync_to_async(_session_for)(user)
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session_key}".encode()))
    communicator = WebsocketCommunicator(application, protocol.USER_SOCKET_PATH, headers=headers)
    connected, _ = await communicator.connect(timeout=30)
    assert connected, "handshake refused"
    return UserSocket(communicator)


class ConnectionClosed(Exception):
    def __init__(self, code: int | None) -> None:
        super().__init__(f"closed with {code}")
        self.code = code


def _matches(event: dict, key: str, value) -> bool:
    """Match a field of the event, or of the participant it carries."""
    if key not in event and "participant" in event:
        return event["participant"].get(key) == value
    return event.get(key) == value


async def open_socket(
    room_id: int,
    user=None,
    *,
    origin: str = ORIGIN,
    timeout: float = 30,
    cookie: str | None = None,
    client: str | None = None,
) -> tuple[bool, RoomSocket]:
    """Open a socket as `user` (anonymous if None; `cookie` sends that Cookie header as it is;
    `client` is the visitor address daphne would put in the scope)."""
    headers = [(b"origin", origin.encode()), (b"host", b"127.0.0.1:8000")]
    if user is not None:
        session_key = await database_sync_to_async(_session_for)(user)
        cookie = f"{settings.SESSION_COOKIE_NAME}={session_key}"
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(application, f"/ws/rooms/{room_id}/", headers=headers)
    if client is not None:
        communicator.scope["client"] = (client, 50000)
    socket = RoomSocket(communicator)
    OPEN_SOCKETS.append(socket)
    connected, _ = await communicator.connect(timeout=timeout)
    return connected, socket


async def join(room_id: int, user=None) -> RoomSocket:
    """Connect and read the snapshot; fail if the server refuses."""
    connected, socket = await open_socket(room_id, user)
    assert connected, "handshake refused"
    snapshot = await socket.wait_for("room.snapshot")
    socket.snapshot = snapshot
    return socket


async def next_bundle(socket: RoomSocket, timeout: float = 3) -> bytes:
    """The next binary (audio) frame on the socket; text events on the way are kept in `seen`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError("no audio within the time")
        frame = await socket.communicator.receive_output(remaining)
        if frame["type"] == "websocket.close":
            raise ConnectionClosed(frame.get("code"))
        if frame.get("bytes") is not None:
            return frame["bytes"]
        socket.seen.append(read_event(frame["text"]))
