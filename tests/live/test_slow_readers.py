"""A reader that stops reading is cut loose (rooms/live/backlog.py), and nobody else waits for it.

A real daphne (the transport's buffer is what is measured), two raw sockets to a talking room: one
reads everything, the other keeps sending heartbeats but reads nothing, with a tiny receive buffer.
The test plays the room's mixer: it publishes the program's bundles on the room's audio channel.
"""

import base64
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings

from rooms.audio import wire
from rooms.live.bus import audio_channel
from tests.factories import RoomFactory, UserFactory
from tests.live.test_audio import _test_database_url
from tests.live.wsclient import _session_for

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
BUNDLE_FRAMES = 10  # 200 ms, as listeners get them
FRAME_BYTES = 160  # 64 kbit/s: twice a voice's rate, so the buffers fill in seconds, not minutes
HEARTBEAT = b'{"type": "heartbeat"}'


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def daphne():
    if not settings.REDIS_URL:
        pytest.skip("the daphne process hears the room's audio through Redis")
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "spaces_project.settings.test",
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "AUDIO_MIXER": "external",  # the test is the mixer
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "spaces_project.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("daphne did not start")
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def _frame(payload: bytes, opcode: int = 1) -> bytes:
    """A masked client frame (payloads under 126 bytes)."""
    mask = os.urandom(4)
    body = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body


def _open(port: int, room_id: int, cookie: str, *, receive_buffer: int | None = None) -> socket.socket:
    sock = socket.socket()
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/rooms/{room_id}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: http://127.0.0.1:{port}\r\nCookie: {settings.SESSION_COOKIE_NAME}={cookie}\r\n\r\n"
        ).encode()
    )
    head = b""
    sock.settimeout(10)
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


class Reader(threading.Thread):
    """Reads every frame and counts the binary ones (the bundles)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        self.sock, self.bundles, self.stop = sock, [], threading.Event()

    def _exactly(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def run(self) -> None:
        self.sock.settimeout(1)
        while not self.stop.is_set():
            try:
                first, second = self._exactly(2)
                length = second & 0x7F
                if length == 126:
                    length = struct.unpack(">H", self._exactly(2))[0]
                elif length == 127:
                    length = struct.unpack(">Q", self._exactly(8))[0]
                payload = self._exactly(length)
            except TimeoutError:
                continue
            except OSError:
                return
            if first & 0x0F == 2:
                self.bundles.append(time.monotonic())
            elif first & 0x0F == 9:  # a ping: answer it, as a browser does
                self.sock.sendall(_frame(payload, opcode=10))


def _bundle(seq: int) -> bytes:
    header = struct.pack(">BBIddB", wire.DOWNLINK, 0, seq, time.time() * 1000, 0.0, BUNDLE_FRAMES)
    return header + (struct.pack(">H", FRAME_BYTES) + os.urandom(FRAME_BYTES)) * BUNDLE_FRAMES


def test_a_reader_that_stops_reading_is_closed_while_a_listener_keeps_hearing(daphne):
    room = RoomFactory()
    listener, stalled_user = UserFactory(), UserFactory()
    reading = Reader(_open(daphne, room.pk, _session_for(listener)))
    reading.start()
    stalled = _open(daphne, room.pk, _session_for(stalled_user), receive_buffer=4096)
    publisher = redis.Redis.from_url(settings.REDIS_URL)
    time.sleep(1.0)  # both sockets attached to the bus

    started = time.monotonic()
    closed_after = None
    seq = 0
    try:
        while time.monotonic() - started < 30:
            publisher.publish(audio_channel(room.pk), wire.tag(0, _bundle(seq)))
            seq += BUNDLE_FRAMES
            if seq % (5 * BUNDLE_FRAMES) == 0 and closed_after is None:
                try:
                    stalled.sendall(_frame(HEARTBEAT))
                    error = stalled.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                except OSError:
                    error = -1
                if error:
                    closed_after = time.monotonic() - started
            if closed_after is not None and time.monotonic() - started > closed_after + 2:
                break
            time.sleep(0.2)
    finally:
        reading.stop.set()
        stalled.close()
        publisher.close()

    assert closed_after is not None, "the socket that reads nothing was never closed"
    # Its kernel buffers (about 4 s of this audio), then 5 s waiting in the transport.
    assert closed_after < 25, closed_after
    # The reader heard the room throughout, and after the other was cut loose.
    assert len(reading.bundles) >= 0.8 * seq / BUNDLE_FRAMES
    assert any(at > started + closed_after for at in reading.bundles)
