"""What the benchmarks share: the throwaway database and its seed, the server processes, CPU and
memory accounting, the worker-process pipes, and a lean websocket listener.

Every process is started with the interpreter running the benchmark (``sys.executable -m daphne``,
``sys.executable manage.py run_mixer``), so the benchmarks run from any environment that has the
requirements installed, a virtualenv or not. bench/room_events.py, bench/audio_latency.py and
bench/audio_fanout.py import this module; bench/_audio.py adds what only the audio benchmarks need.
"""

import argparse
import asyncio
import base64
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time
from array import array
from importlib import import_module
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import django
import psycopg
import redis
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.utils import timezone
from psycopg import sql
from websockets.exceptions import ConnectionClosed, InvalidStatus

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rooms.audio import wire  # noqa: E402

_BUNDLE_HEAD = struct.Struct(">BBIddB")  # rooms/audio/wire.py's downlink header


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The throwaway database and its seed
# ---------------------------------------------------------------------------------------------


def database_urls(db_name: str) -> tuple[str, str]:
    """(admin URL, bench URL) next to the server DATABASE_URL names."""
    base = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/"
    parts = urlsplit(base)
    if parts.scheme not in ("postgres", "postgresql"):
        raise SystemExit("DATABASE_URL must be a PostgreSQL URL")
    if parts.hostname not in ("127.0.0.1", "localhost", None):
        raise SystemExit("the benchmark only uses a database on this machine")
    return urlunsplit(parts._replace(path="/postgres")), urlunsplit(parts._replace(path=f"/{db_name}"))


def recreate_database(admin_url: str, name: str, *, drop_only: bool = False) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(database_url: str, redis_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "spaces_project.settings.bench"
    sys.path.insert(0, str(ROOT))
    django.setup()


def seed(args: argparse.Namespace, *, migrate: bool) -> dict:
    """Create the people and the live room; return ids and session cookies."""
    # Models can be imported only once setup_django() has run with the database the script chose.
    from accounts.models import User  # noqa: PLC0415 (after setup_django())
    from rooms.models import Participant, Room  # noqa: PLC0415 (after setup_django())

    if migrate:
        call_command("migrate", verbosity=0, interactive=False)

    tag = f"b{int(time.time()) % 100000}"  # unique handles, so --target can run more than once
    password = make_password(None)  # unusable: these accounts only ever sign in by session

    def people(kind: str, count: int) -> list:
        return User.objects.bulk_create(
            User(
                handle=f"{tag}_{kind}{i}",
                email=f"{tag}_{kind}{i}@bench.invalid",
                display_name=f"Bench {kind} {i}",
                password=password,
            )
            for i in range(count)
        )

    host = people("host", 1)[0]
    speakers = people("speaker", args.speakers)
    reactors = people("reactor", args.reactors)
    raisers = people("raiser", args.hand_raisers)
    signed_in = people("listener", args.signed_in)
    # Room events travel on Redis pub/sub channels named after the room id, and pub/sub ignores the
    # database number in REDIS_URL: a fresh database's room 1 would hear every other room 1 on
    # this Redis (test runs, a dev server). A random id far above theirs keeps the room to itself.
    room = Room.objects.create(
        id=random.randrange(900_000_000, 2_000_000_000),
        title="Benchmark room",
        host=host,
        state=Room.State.LIVE,
        started_at=timezone.now(),
        allow_anonymous=True,
    )
    Participant.objects.create(room=room, user=host, role=Participant.Role.HOST)
    Participant.objects.bulk_create(
        Participant(room=room, user=user, role=Participant.Role.SPEAKER, is_muted=True) for user in speakers
    )

    def accounts(users: list) -> list[tuple[int, str]]:
        return [(user.pk, session_cookie(user)) for user in users]

    return {
        "room_id": room.pk,
        "host": accounts([host])[0],
        "speakers": accounts(speakers),
        "reactors": accounts(reactors),
        "raisers": accounts(raisers),
        "listeners": [c for _, c in accounts(signed_in)],
    }


def session_cookie(user) -> str:
    """The Cookie header of a new signed-in session of ``user`` (after setup_django())."""
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def clear_room_keys(redis_url: str, room_id: int) -> None:
    """A fresh database reuses room ids: forget what an earlier run left in Redis for this room."""
    client = redis.Redis.from_url(redis_url)
    for pattern in (f"spaces:presence:{room_id}:*", f"spaces:lock:*:{room_id}", f"spaces:flag:*:{room_id}"):
        keys = list(client.scan_iter(pattern, count=1000))
        if keys:
            client.delete(*keys)
    keys = list(client.scan_iter(f"spaces:rate:reaction:{room_id}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


# ---------------------------------------------------------------------------------------------
# Server processes
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(database_url: str, redis_url: str, extra: dict | None = None) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "spaces_project.settings.bench",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **(extra or {}),
    }


def start_daphne(
    port: int, database_url: str, redis_url: str, log_path: Path, listener: socket.socket | None = None
) -> subprocess.Popen:
    """One daphne process on 127.0.0.1:port, or accepting on the shared `listener` socket."""
    env = server_env(database_url, redis_url)
    log = open(log_path, "w")
    where = ["--fd", str(listener.fileno())] if listener else ["-b", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", *where, "spaces_project.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        pass_fds=[listener.fileno()] if listener else [],
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"daphne exited with {process.returncode}; see {log_path}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("daphne did not start within 30 s")


def start_daphnes(
    count: int, database_url: str, redis_url: str, log_path: Path, extra: dict | None = None
) -> tuple[int, list]:
    """`count` daphne processes accepting on one 127.0.0.1 port (the kernel hands each connection to
    one of them; each process subscribes to the room once). Return (port, processes)."""
    port = free_port()
    saved = {k: os.environ.get(k) for k in (extra or {})}
    os.environ.update(extra or {})  # start_daphne copies os.environ
    try:
        if count == 1:
            return port, [start_daphne(port, database_url, redis_url, log_path)]
        processes = []
        for n in range(count):
            # A listening socket of each process's own on the same port (SO_REUSEPORT): the kernel
            # spreads new connections evenly over them, as nginx does over deploy/'s web processes.
            # One socket shared by all let whichever process woke first take a burst's
            # connections: a rush was served by one process more than by the other.
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listener.bind(("127.0.0.1", port))
            listener.listen(4096)
            log = log_path.with_name(f"{log_path.stem}-{n}.log")
            processes.append(start_daphne(port, database_url, redis_url, log, listener))
            listener.close()
        return port, processes
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def start_mixer(database_url: str, redis_url: str, log_path: Path, extra: dict | None = None):
    log = open(log_path, "w")
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_mixer", "--name", f"bench-{os.getpid()}"],
        cwd=ROOT,
        env=server_env(database_url, redis_url, extra),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for_lease(redis_url: str, room_id: int, timeout: float = 20) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if client.get(f"spaces:mixer:lease:{room_id}"):
                return
            time.sleep(0.1)
        raise SystemExit("no mixer took the room's lease")
    finally:
        client.close()


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


# ---------------------------------------------------------------------------------------------
# Accounting: CPU and memory of process trees, the machine's load
# ---------------------------------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    ticks = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


def rss_kib(pids: list[int]) -> int:
    total = 0
    for member in (m for pid in pids for m in _tree(pid)):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for member in (m for pid in pids for m in _tree(pid)):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total / ticks


# ---------------------------------------------------------------------------------------------
# Client worker processes
# ---------------------------------------------------------------------------------------------


class WorkerPipes:
    """Talk to the client worker processes: send each a command, gather their answers."""

    pipes: list
    workers: list

    def stop_workers(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("exit", None))
            except OSError:
                pass
        for process in self.workers:
            process.join(10)
            if process.is_alive():
                process.kill()

    def ask(self, command: str, payload=None, timeout: float = 60) -> list:
        for pipe in self.pipes:
            pipe.send((command, payload))
        answers = []
        deadline = time.monotonic() + timeout
        for pipe in self.pipes:
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"a worker did not answer {command!r} within {timeout:.0f} s")
            answers.append(pipe.recv())
        return answers

    async def ask_async(self, command: str, payload=None, timeout: float = 60) -> list:
        return await asyncio.get_running_loop().run_in_executor(None, self.ask, command, payload, timeout)


def failure_reason(error: BaseException) -> str:
    if isinstance(error, InvalidStatus):
        return f"http {error.response.status_code}"
    if isinstance(error, ConnectionClosed):
        return f"closed {error.rcvd.code if error.rcvd else 'abnormally'} before snapshot"
    if isinstance(error, TimeoutError):
        return "timeout"
    return type(error).__name__


# ---------------------------------------------------------------------------------------------
# A lean listener: asyncio Protocol, parses server frames itself, keeps only what the figures need.
# The `websockets` library costs tens of microseconds per message in Python, which for 2,000
# listeners x 5-17 messages a second would take a core from the server measured on the same machine.
# ---------------------------------------------------------------------------------------------


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
