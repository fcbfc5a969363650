"""Readers that stop reading, beside listeners that read (issue 23, item 4; docs/audio.md).

    python bench/slow_readers.py --listeners 100 --stalled 5 --seconds 120

One daphne process on a throwaway database and Redis, one live room. The benchmark plays the room's
mixer: every 200 ms it publishes a program bundle (10 frames of `--frame-bytes` Opus bytes, 32
kbit/s by default) on the room's audio channel, as run_mixer does, with the mix time of its last
frame set to the moment of publishing. Two phases of `--seconds` each:

1. baseline: `--listeners` signed-in listeners that read everything (and answer pings, and send a
   heartbeat every 10 s as the page does);
2. the same listeners plus `--stalled` ones that send heartbeats but never read, each with a receive
   buffer of `--stalled-receive-buffer` bytes (4 KiB: a client whose own kernel does not absorb
   minutes of audio first; Linux grows a default one up to 32 MiB here, and then the server holds
   next to nothing for it until that is full).

Figures: the readers' lag (arrival - publish time of the bundle's last frame) p50/p95/p99 in each phase;
how many stalled sockets the server closed and when (seconds after they joined; a close is seen as
the socket's error: the server drops the connection after its close frame); what a stalled socket
held on the server: the kernel's send queue of daphne's end (`ss`, sampled every second) plus what the
transport held when it was cut (daphne's log line, rooms/live/bus.py), as `stalled_kib_max`.

Last line JSON: `stalled_closed`, `others_lag_p99_ms`, `baseline_lag_p99_ms`, `stalled_kib_max`, ...
Targets (issue 23): others' p99 within 20 % of the baseline, ≤ 256 KiB per stalled socket, every
stalled socket closed within 10 s of 5 s of audio waiting for it.
"""

import argparse
import asyncio
import base64
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402 (bench/ is not a package)
import redis.asyncio as aioredis  # noqa: E402

BUNDLE_FRAMES = 10
FRAME_MS = 20
DOWNLINK = 0x02
HEARTBEAT = b'{"type": "heartbeat"}'
TARGETS = {"others_lag_p99_vs_baseline": 1.2, "stalled_kib_max": 256}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listeners", type=int, default=100)
    parser.add_argument("--stalled", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=120, help="length of each phase")
    parser.add_argument(
        "--frame-bytes", type=int, default=80, help="Opus bytes per 20 ms frame (80 = 32 kbit/s)"
    )
    parser.add_argument(
        "--stalled-receive-buffer",
        type=int,
        default=4096,
        help="SO_RCVBUF of a stalled client (0: the kernel's default, which grows to absorb minutes of audio)",
    )
    parser.add_argument("--db-name", default="bench_slow_readers")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/13"))
    parser.add_argument("--keep-db", action="store_true")
    return parser.parse_args()


def masked(payload: bytes, opcode: int = 1) -> bytes:
    mask = os.urandom(4)
    return (
        bytes([0x80 | opcode, 0x80 | len(payload)])
        + mask
        + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    )


def handshake(port: int, room_id: int, cookie: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /ws/rooms/{room_id}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: http://127.0.0.1:{port}\r\nCookie: {cookie}\r\n\r\n"
    ).encode()


class Listener:
    """Reads every frame; records each bundle's lag while `recording` is set."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.phase = "baseline"
        self.by_phase: dict[str, list[float]] = {"baseline": [], "stalled": []}

    async def run(self, port: int, room_id: int, cookie: str, ready: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(handshake(port, room_id, cookie))
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise SystemExit(f"handshake refused: {head[:40]!r}")
        ready.set()
        last_beat = time.monotonic()
        while True:
            first, second = await reader.readexactly(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", await reader.readexactly(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", await reader.readexactly(8))[0]
            payload = await reader.readexactly(length)
            opcode = first & 0x0F
            if opcode == 2 and len(payload) > 23:
                mixed_ms, frames = struct.unpack(">d", payload[6:14])[0], payload[22]
                self.by_phase[self.phase].append(time.time() * 1000 - (mixed_ms + (frames - 1) * FRAME_MS))
            elif opcode == 9:
                writer.write(masked(payload, opcode=10))
            elif opcode == 8:
                return
            if time.monotonic() - last_beat > 10:
                last_beat = time.monotonic()
                writer.write(masked(HEARTBEAT))


class Stalled:
    """Sends heartbeats, reads nothing after the handshake."""

    def __init__(self, port: int, room_id: int, cookie: str, receive_buffer: int) -> None:
        self.sock = socket.socket()
        if receive_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(handshake(port, room_id, cookie))
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise SystemExit(f"handshake refused: {head[:40]!r}")
        self.joined = time.monotonic()
        self.closed_after: float | None = None
        self.local_port = self.sock.getsockname()[1]

    def beat(self) -> None:
        if self.closed_after is not None:
            return
        try:
            self.sock.sendall(masked(HEARTBEAT))
            error = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError:
            error = -1
        if error:
            self.closed_after = time.monotonic() - self.joined


def server_send_queue(port: int, peers: set[int]) -> dict[int, int]:
    """Send-Q of daphne's end of each connection to one of `peers` (local ports of the clients)."""
    out = subprocess.run(
        ["ss", "-tnH", "state", "all", f"sport = :{port}"], capture_output=True, text=True
    ).stdout
    queues = {}
    for line in out.splitlines():
        fields = line.split()
        # State Recv-Q Send-Q Local Peer (with `state all` the state column is there)
        try:
            send_q, peer = int(fields[2]), int(fields[4].rsplit(":", 1)[1])
        except (IndexError, ValueError):
            continue
        if peer in peers:
            queues[peer] = send_q
    return queues


def bundle(seq: int, frame_bytes: int) -> bytes:
    last_frame_ms = time.time() * 1000
    header = struct.pack(
        ">BBIddB",
        DOWNLINK,
        0,
        seq,
        last_frame_ms - (BUNDLE_FRAMES - 1) * FRAME_MS,
        last_frame_ms,
        BUNDLE_FRAMES,
    )
    return header + (struct.pack(">H", frame_bytes) + os.urandom(frame_bytes)) * BUNDLE_FRAMES


async def run(args, port: int, seeded: dict, log_path: Path) -> dict:
    room_id = seeded["room_id"]
    cookies = seeded["listeners"]
    publisher = aioredis.Redis.from_url(args.redis_url)
    channel = f"spaces:{(args.redis_url.rsplit('/', 1)[1] or '0')}:audio:{room_id}"
    listeners = [Listener() for _ in range(args.listeners)]
    tasks = []
    for listener, cookie in zip(listeners, cookies[: args.listeners], strict=True):
        ready = asyncio.Event()
        tasks.append(asyncio.create_task(listener.run(port, room_id, cookie, ready)))
        await asyncio.wait_for(ready.wait(), 10)
    harness.progress(f"{args.listeners} listeners in; baseline for {args.seconds:.0f} s")
    seq = 0
    stalled: list[Stalled] = []
    kib_max = 0.0

    async def play(seconds: float) -> None:
        nonlocal seq, kib_max
        start = time.monotonic()
        tick = 0
        while time.monotonic() - start < seconds:
            await publisher.publish(channel, struct.pack(">I", 0) + bundle(seq, args.frame_bytes))
            seq += BUNDLE_FRAMES
            tick += 1
            if stalled and tick % 5 == 0:
                for one in stalled:
                    one.beat()
                queues = server_send_queue(port, {one.local_port for one in stalled})
                if queues:
                    kib_max = max(kib_max, max(queues.values()) / 1024)
            await asyncio.sleep(max(0.0, start + tick * BUNDLE_FRAMES * FRAME_MS / 1000 - time.monotonic()))

    await play(args.seconds)
    for listener in listeners:
        listener.phase = "stalled"
    stalled = [
        Stalled(port, room_id, cookie, args.stalled_receive_buffer) for cookie in cookies[args.listeners :]
    ]
    harness.progress(f"{len(stalled)} stalled readers in; {args.seconds:.0f} s more")
    await play(args.seconds)
    for task in tasks:
        task.cancel()
    await publisher.aclose()
    # What the transport held when each was cut (rooms/live/bus.py's warning).
    held = [int(m) for m in re.findall(r"audio waiting is closed \((\d+) bytes held\)", log_path.read_text())]
    baseline = [lag for listener in listeners for lag in listener.by_phase["baseline"]]
    others = [lag for listener in listeners for lag in listener.by_phase["stalled"]]
    closed = [one.closed_after for one in stalled if one.closed_after is not None]
    return {
        "listeners": args.listeners,
        "stalled": args.stalled,
        "seconds": args.seconds,
        "stalled_closed": len(closed),
        "stalled_closed_after_s": [round(after, 1) for after in sorted(closed)],
        "baseline_lag_p50_ms": harness.percentile(baseline, 50),
        "baseline_lag_p99_ms": harness.percentile(baseline, 99),
        "others_lag_p50_ms": harness.percentile(others, 50),
        "others_lag_p99_ms": harness.percentile(others, 99),
        "others_bundles": len(others),
        "stalled_send_q_kib_max": round(kib_max, 1),
        "stalled_transport_kib_max": round(max(held, default=0) / 1024, 1),
        "stalled_kib_max": round(kib_max + max(held, default=0) / 1024, 1),
    }


def main() -> int:
    args = parse_args()
    admin_url, bench_url = harness.database_urls(args.db_name)
    process = None
    figures: dict = {}
    failed = None
    try:
        harness.progress(f"creating database {args.db_name}")
        harness.recreate_database(admin_url, args.db_name)
        harness.setup_django(bench_url, args.redis_url)
        seeded = harness.seed(
            argparse.Namespace(
                speakers=0, reactors=0, hand_raisers=0, signed_in=args.listeners + args.stalled
            ),
            migrate=True,
        )
        harness.clear_room_keys(args.redis_url, seeded["room_id"])
        logs = harness.ROOT / "test-artifacts"
        logs.mkdir(exist_ok=True)
        log_path = logs / "bench-slow-readers-daphne.log"
        port = harness.free_port()
        os.environ["AUDIO_MIXER"] = "external"  # the benchmark is the mixer
        process = harness.start_daphne(port, bench_url, args.redis_url, log_path)
        figures = asyncio.run(run(args, port, seeded, log_path))
    except BaseException as error:
        failed = error
    finally:
        if process is not None:
            harness.stop_process(process)
        if not args.keep_db:
            harness.recreate_database(admin_url, args.db_name, drop_only=True)
    if failed is not None:
        print(f"benchmark did not finish: {type(failed).__name__}: {failed}", file=sys.stderr)
    if figures:
        baseline, others = figures["baseline_lag_p99_ms"], figures["others_lag_p99_ms"]
        figures["targets"] = TARGETS
        figures["met"] = bool(
            baseline
            and others is not None
            and others <= TARGETS["others_lag_p99_vs_baseline"] * baseline
            and figures["stalled_kib_max"] <= TARGETS["stalled_kib_max"]
            and figures["stalled_closed"] == args.stalled
        )
    print(json.dumps(figures))
    return 1 if failed is not None else 0


if __name__ == "__main__":
    sys.exit(main())
