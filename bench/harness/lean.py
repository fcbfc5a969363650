"""A lean listener: asyncio Protocol, parses server frames itself, keeps only what the figures need.
The `websockets` library costs tens of microseconds per message in Python, which for 2,000 listeners
x 5-17 messages a second would take a core from the server measured on the same machine."""

import asyncio
import base64
import json
import os
import random
import struct
import time
from array import array
from collections import Counter

from rooms.audio import wire

from .workers import commands

_BUNDLE_HEAD = struct.Struct(">BBIddB")  # rooms/audio/wire.py's downlink header


def _masked(opcode: int, payload: bytes) -> bytes:
    """A client frame (RFC 6455: clients mask), payload < 126 bytes."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body


HEARTBEAT_FRAME_TEXT = b'{"type":"heartbeat"}'


class LeanListener(asyncio.Protocol):
    def __init__(self, path: str, host: str, origin: str, cookie: str | None, on_ready: asyncio.Future):
        self.path, self.host, self.origin, self.cookie = path, host, origin, cookie
        self.on_ready = on_ready
        self.transport = None
        self.buffer = bytearray()
        self.upgraded = False
        self.snapshot = False
        self.close_code: int | None = None
        self.beat_handle = None
        self.seqs = array("I")  # first-frame sequence of every bundle received
        self.lags = array("f")  # ms: arrival - mix time of the bundle's last frame
        self.audio_bytes = 0  # payload bytes of binary frames
        self.audio_wire_bytes = 0  # the same with the websocket framing
        self.text_frames = 0
        self.text_bytes = 0
        self.pings = 0
        self.fragment = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {self.path} HTTP/1.1",
            f"Host: {self.host}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            f"Origin: {self.origin}",
        ]
        if self.cookie:
            lines.append(f"Cookie: {self.cookie}")
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[: buf.find(b"\r\n")])
            if b" 101 " not in status:
                self._fail(f"http {status.decode(errors='replace')}")
                return
            del buf[: end + 4]
            self.upgraded = True
        offset, size = 0, len(buf)
        now = time.time()
        while size - offset >= 2:
            b0, b1 = buf[offset], buf[offset + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if size - offset < 4:
                    break
                length = (buf[offset + 2] << 8) | buf[offset + 3]
                head = 4
            elif length == 127:
                if size - offset < 10:
                    break
                length = int.from_bytes(buf[offset + 2 : offset + 10], "big")
                head = 10
            if size - offset < head + length:
                break
            start = offset + head
            opcode = b0 & 0x0F
            if opcode == 2:
                count = buf[start + 22]
                _, _, seq, mixed_ms, _, _ = _BUNDLE_HEAD.unpack_from(buf, start)
                self.seqs.append(seq)
                self.lags.append(now * 1000 - (mixed_ms + (count - 1) * wire.FRAME_MS))
                self.audio_bytes += length
                self.audio_wire_bytes += head + length
            elif opcode == 1:
                self.text_frames += 1
                self.text_bytes += length
                if self.snapshot:
                    self.on_text(bytes(buf[start : start + length]))
                else:
                    event = json.loads(bytes(buf[start : start + length]))
                    if event.get("type") == "room.snapshot":
                        self.snapshot = True
                        interval = float(event["heartbeat_seconds"])
                        loop = asyncio.get_running_loop()
                        self.beat_handle = loop.call_later(
                            random.uniform(0.2, interval), self._beat, interval
                        )
                        if not self.on_ready.done():
                            self.on_ready.set_result(None)
            elif opcode == 9:  # ping: answer, or daphne closes the socket
                self.pings += 1
                self.transport.write(_masked(0xA, bytes(buf[start : start + length])))
            elif opcode == 8:
                self.close_code = int.from_bytes(buf[start : start + 2], "big") if length >= 2 else 1005
                self.transport.write(_masked(0x8, bytes(buf[start : start + 2])))
                self.transport.close()
            offset = start + length
        del buf[:offset]

    def on_text(self, payload: bytes) -> None:
        """A text frame after the snapshot; subclasses that time events read them here."""

    def _beat(self, interval: float) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(_masked(0x1, HEARTBEAT_FRAME_TEXT))
        self.beat_handle = asyncio.get_running_loop().call_later(interval, self._beat, interval)

    def _fail(self, reason: str) -> None:
        if not self.on_ready.done():
            self.on_ready.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc) -> None:
        if self.beat_handle is not None:
            self.beat_handle.cancel()
        if self.close_code is None:
            self.close_code = 1006
        if not self.on_ready.done():
            self.on_ready.set_exception(ConnectionError("closed before the snapshot"))

    def close(self) -> None:
        if self.beat_handle is not None:
            self.beat_handle.cancel()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_masked(0x8, (1000).to_bytes(2, "big")))
            self.transport.close()


async def open_lean(
    port: int, path: str, cookie: str | None, timeout: float, protocol_class: type = LeanListener
) -> LeanListener:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    host = f"127.0.0.1:{port}"
    _, protocol = await asyncio.wait_for(
        loop.create_connection(
            lambda: protocol_class(path, host, f"http://{host}", cookie, ready), "127.0.0.1", port
        ),
        timeout,
    )
    await asyncio.wait_for(ready, timeout)
    return protocol


def rooms_worker_main(conn, port: int, options: dict) -> None:
    """A client process holding lean listeners in many rooms (bench/capacity.py's): it connects them,
    and counts the bundles each room's listeners received or lost of those the driver says were
    published."""
    try:
        asyncio.run(_rooms_worker(conn, port, options))
    except KeyboardInterrupt:
        pass


async def _rooms_worker(conn, port: int, options: dict) -> None:
    rooms: dict[int, list] = {}
    failures: Counter = Counter()
    async for command, payload in commands(conn, options["deadline"]):
        if command == "connect":  # payload: [(room id, count)]
            limit = asyncio.Semaphore(options["connect_concurrency"])

            async def one(room_id: int, limit=limit) -> None:
                async with limit:
                    try:
                        listener = await open_lean(
                            port, f"/ws/rooms/{room_id}/", None, options["connect_timeout"]
                        )
                        rooms.setdefault(room_id, []).append(listener)
                    except Exception as error:  # every failure is counted, whatever its kind
                        failures[str(error) or type(error).__name__] += 1

            await asyncio.gather(*(one(room_id) for room_id, count in payload for _ in range(count)))
            conn.send({"ok": sum(map(len, rooms.values())), "failures": dict(failures)})
        elif command == "cpu":
            conn.send(time.process_time())
        elif command == "results":  # payload: {room id: [program sequences published in the window]}
            lost = received = 0
            lags = array("f")
            for room_id, sequences in payload.items():
                expected = set(sequences)
                for listener in rooms.get(room_id, []):
                    got = 0
                    for seq, lag in zip(listener.seqs, listener.lags, strict=True):
                        if seq in expected:
                            got += 1
                            lags.append(lag)
                    lost += len(expected) - got
                    received += got
            closed = Counter(
                listener.close_code for group in rooms.values() for listener in group if listener.close_code
            )
            conn.send({"lost": lost, "received": received, "lags": lags.tobytes(), "closed": dict(closed)})
        elif command == "close":
            for group in rooms.values():
                for listener in group:
                    listener.close()
            await asyncio.sleep(0.5)
            conn.send("closed")
    for group in rooms.values():
        for listener in group:
            listener.close()
