"""Server processes: daphne (one or several on one port), `run_mixer` and other manage.py or Celery
processes, each started with the interpreter running the benchmark, and stopped with its group."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

from .paths import ROOT


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


def start_process(
    command: list[str], database_url: str, redis_url: str, log: Path, extra: dict
) -> subprocess.Popen:
    """`sys.executable COMMAND...` in the project (`manage.py run_captioner`, `-m celery ...`) with
    the servers' environment, its output in `log`."""
    return subprocess.Popen(
        [sys.executable, *command],
        cwd=ROOT,
        env=server_env(database_url, redis_url, extra),
        stdout=open(log, "w"),
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
