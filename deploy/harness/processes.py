"""Processes on this machine: start them in process groups with a log each, stop them (the whole
group), wait for them; free ports, sockets that listen, the environment a systemd unit sees."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.1):
    """Poll `predicate` until it returns something true; raise AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def tcp_listening(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def unix_listening(path: Path | str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(0.5)
            sock.connect(str(path))
            return True
    except OSError:
        return False


class Process:
    def __init__(self, name: str, popen: subprocess.Popen, log: Path) -> None:
        self.name = name
        self.popen = popen
        self.log = log

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def count(self, text: str) -> int:
        return self.output().count(text)


class Processes:
    """The processes one test or script started; stops them all (process groups) on exit."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.running: dict[str, Process] = {}
        self._starts = 0

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()

    def start(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str],
        cwd: Path | str = ROOT,
        ready: Callable[[Process], bool] | None = None,
        timeout: float = 60,
    ) -> Process:
        if name in self.running and self.running[name].alive():
            raise RuntimeError(f"{name} is already running")
        self._starts += 1
        log = self.log_dir / f"{name}.{self._starts}.log"
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stopping it stops its children
            )
        process = self.running[name] = Process(name, popen, log)
        if ready is not None:
            self.wait_ready(name, ready, timeout)
        return process

    def wait_ready(self, name: str, ready: Callable[[Process], bool], timeout: float = 60) -> None:
        """Wait until `ready(process)`; raise with the end of its log if it exits or takes too long."""
        process = self.running[name]
        deadline = time.monotonic() + timeout
        while not ready(process):
            if not process.alive():
                raise RuntimeError(
                    f"{name} exited with {process.popen.returncode}:\n{process.output()[-3000:]}"
                )
            if time.monotonic() > deadline:
                self.stop(name)
                raise RuntimeError(f"{name} did not become ready in {timeout} s:\n{process.output()[-3000:]}")
            time.sleep(0.1)

    def __getitem__(self, name: str) -> Process:
        return self.running[name]

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the process group of `name` (kill -9 by default) and wait for it."""
        process = self.running[name]
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        process.popen.wait(15)

    def stop(self, name: str, timeout: float = 10) -> None:
        process = self.running.get(name)
        if process is None or not process.alive():
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.popen.wait(10)
        except ProcessLookupError:
            pass
        # Children that outlived their leader (a prefork pool) go with the group.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def stop_all(self) -> None:
        for name in reversed(list(self.running)):
            self.stop(name)


def unix_health(socket_path: Path | str, timeout: float = 10) -> dict:
    """GET /healthz from one web process directly, over its unix socket (not through nginx)."""

    class UnixConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(timeout)
            self.sock.connect(str(socket_path))

    connection = UnixConnection("localhost")
    try:
        connection.request("GET", "/healthz")
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def base_env(**extra: str) -> dict[str, str]:
    """The environment a systemd unit would see: a bare PATH and locale, nothing from this shell."""
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONUNBUFFERED": "1",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env
