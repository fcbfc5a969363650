"""Run a Spaces deployment on one machine, as child processes of one Python process, and talk to it.

Used by the production smoke test (deploy/smoke.py), the fault tests (tests/faults/) and the
reconnect benchmark: every process it starts gets its own process group and log file, and is stopped
(the whole group) by `Processes.stop_all()`; nothing here touches a process it did not start.
Everything listens on 127.0.0.1 or on unix sockets, on ports picked free.
"""

from __future__ import annotations

import asyncio
import http.client
import http.cookiejar
import json
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from deploy import render

ROOT = Path(__file__).resolve().parent.parent
NGINX = "/usr/sbin/nginx"

# The page's reconnect schedule (static/js/reconnect.js; tests/browser/test_reconnect_in_step.py):
# a stage member's first retry is at once; a socket that was open SETTLED_S or more is tried again
# within RETRY_SPREAD_S; otherwise 0.5 s doubling to 10 s, +-30 % jitter.
STAGE_ROLES = {"host", "cohost", "speaker"}
SETTLED_S = 2.0
RETRY_SPREAD_S = 0.3
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0
BACKOFF_JITTER = 0.3


def reconnect_delay(*, attempt: int, on_stage: bool, settled: bool, rand: float) -> tuple[float, bool]:
    """Seconds before the next try, and whether that try is a step of the backoff (reconnect.js's
    reconnectDelay). `attempt`: tries since the last snapshot; `rand` in [0, 1)."""
    if attempt == 0 and on_stage:
        return 0.0, True
    if attempt == 0 and settled:
        return rand * RETRY_SPREAD_S, False
    base = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2**attempt)
    return base * (1 + BACKOFF_JITTER * (2 * rand - 1)), True


# Close codes after which the page does not reconnect (spaces_project/protocol).
FINAL_CLOSE_CODES = {4001, 4003, 4004, 4005, 4009, 4010}


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


# -- processes ------------------------------------------------------------------------------------


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


class RedisServer:
    """A private redis-server on a free port (never the machine's shared one): no persistence, so a
    restart loses everything, as a crashed Redis without a dump would."""

    def __init__(self, processes: Processes, directory: Path, *, name: str = "redis") -> None:
        self.processes = processes
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.port = free_port()

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self, *extra: str) -> None:
        """Start it; `extra` are further redis-server options (``--replicaof``, ``--sentinel``, ...)."""
        self.processes.start(
            self.name,
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--maxclients",
                "10000",
                *extra,
            ],
            env=base_env(),
            ready=lambda _: self.ping(),
            timeout=20,
        )

    def stop(self) -> None:
        self.processes.kill(self.name)
        wait_for(lambda: not tcp_listening(self.port), 10, "redis to stop listening")


# -- nginx ----------------------------------------------------------------------------------------


def self_signed_certificate(directory: Path, host: str = "localhost") -> tuple[Path, Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            # ECDSA: a reconnect storm is hundreds of TLS handshakes at once, each far cheaper than RSA's.
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={host}",
            "-addext",
            f"subjectAltName=DNS:{host},IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def render_local_site(directory: Path, *, web: int = 1, mixers: int = 1, **settings: str) -> dict:
    """Render deploy/'s nginx site and systemd units for processes on this machine: unix sockets
    under `directory`, nginx on two free ports of 127.0.0.1 with a throwaway certificate. `settings`
    are further lines of the environment file (MEDIA_ROOT, HLS_ROOT, ...). Returns the rendered
    files (name -> path), the ports, the origin and the run directory."""
    directory = Path(directory)
    cert, key = self_signed_certificate(directory / "tls")
    http_port, https_port = free_port(), free_port()
    (directory / "run").mkdir(parents=True, exist_ok=True)
    env_file = directory / "spaces.env"
    values = {
        "SPACES_SERVER_NAME": "localhost",
        "SPACES_APP_DIR": str(ROOT),
        "SPACES_VENV": str(Path(sys.executable).parent.parent),
        "SPACES_USER": "spaces",
        "SPACES_ENV_FILE": str(env_file),
        "SPACES_RUN_DIR": str(directory / "run"),
        "SPACES_STATE_DIR": str(directory),
        "SPACES_WEB_PROCESSES": str(web),
        "SPACES_MIXER_PROCESSES": str(mixers),
        "SPACES_HTTP_LISTEN": f"127.0.0.1:{http_port}",
        "SPACES_HTTPS_LISTEN": f"127.0.0.1:{https_port}",
        "SPACES_TLS_CERTIFICATE": str(cert),
        "SPACES_TLS_KEY": str(key),
        "STATIC_ROOT": str(directory / "static"),
        **settings,
    }
    env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return {
        "files": render.render(env_file, directory / "rendered"),
        "http_port": http_port,
        "https_port": https_port,
        "origin": f"https://localhost:{https_port}",
        "run_dir": directory / "run",
    }


def start_nginx(
    processes: Processes,
    prefix: Path,
    site_conf: Path,
    *,
    ready_port: int,
    workers: int | str = 1,
    worker_connections: int = 8192,
) -> Process:
    """Run Debian's nginx in the foreground with its own prefix, pid and temp files, serving `site_conf`
    (the rendered deploy/nginx/spaces.conf) the way Debian's nginx.conf includes a site. Debian's own
    nginx.conf runs `worker_processes auto`; tests run one worker unless they ask for more."""
    prefix = Path(prefix)
    for sub in ("logs", "tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    user = "user root;" if os.geteuid() == 0 else ""
    main = prefix / "nginx.conf"
    main.write_text(
        f"""{user}
daemon off;
worker_processes {workers};
worker_rlimit_nofile {max(16384, 2 * worker_connections)};
pid {prefix}/nginx.pid;
error_log stderr warn;
events {{ worker_connections {worker_connections}; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {site_conf};
}}
"""
    )
    check = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c", str(main)], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"nginx -t refused the configuration:\n{check.stderr}")
    return processes.start(
        "nginx",
        [NGINX, "-p", str(prefix), "-c", str(main)],
        env=base_env(),
        ready=lambda _: tcp_listening(ready_port),
        timeout=20,
    )


# -- HTTP, as a browser does it -------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Response:
    def __init__(self, status: int, headers, body: bytes, url: str) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body)


class Browser:
    """Cookies, CSRF tokens and Origin headers, like a browser; redirects are returned, not followed."""

    def __init__(self, origin: str, *, insecure_tls: bool = True) -> None:
        self.origin = origin.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        context = ssl.create_default_context()
        if insecure_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        self.ssl_context = context
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar),
            urllib.request.HTTPSHandler(context=context),
            urllib.request.ProxyHandler({}),
            _NoRedirect(),
        )

    def cookie(self, name: str) -> str | None:
        for cookie in self.jar:
            if cookie.name == name:
                return cookie.value
        return None

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def request(
        self,
        method: str,
        path: str,
        *,
        data: dict | None = None,
        headers: dict | None = None,
        timeout: float = 30,
    ) -> Response:
        url = path if path.startswith("http") else self.origin + path
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(url, data=body, method=method)
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        if method == "POST":
            request.add_header("Origin", self.origin)
            request.add_header("Referer", url)
            token = self.cookie("csrftoken")
            if token:
                request.add_header("X-CSRFToken", token)
        try:
            with self.opener.open(request, timeout=timeout) as answer:
                return Response(answer.status, answer.headers, answer.read(), url)
        except urllib.error.HTTPError as error:
            return Response(error.code, error.headers, error.read(), url)

    def get(self, path: str, **kwargs) -> Response:
        return self.request("GET", path, **kwargs)

    def set_cookie(self, name: str, value: str) -> None:
        """Give the browser a cookie for the site (a session made elsewhere)."""
        host = urllib.parse.urlsplit(self.origin).hostname or "localhost"
        domain = host if "." in host else f"{host}.local"  # how CookieJar names dotless hosts
        self.jar.set_cookie(
            http.cookiejar.Cookie(
                0,
                name,
                value,
                None,
                False,
                domain,
                False,
                False,
                "/",
                True,
                False,
                None,
                False,
                None,
                None,
                {},
            )
        )

    def post_form(self, path: str, fields: dict, *, form_path: str | None = None, **kwargs) -> Response:
        """GET the page with the form first (`form_path`, by default `path`) for its CSRF cookie and
        token, then POST `fields` to `path` with the token, as submitting the form does."""
        page = self.get(form_path or path)
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        token = match.group(1) if match else (self.cookie("csrftoken") or "")
        return self.request("POST", path, data={"csrfmiddlewaretoken": token, **fields}, **kwargs)


# -- room sockets, as room.js does it -------------------------------------------------------------


class RoomClient:
    """One room page's socket: connects, beats, answers `room.resync` with `snapshot.request`, and
    reconnects after a drop on room.js's schedule. Records every snapshot and close with its time
    (time.monotonic())."""

    def __init__(
        self,
        url: str,
        *,
        origin: str,
        cookie: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        name: str = "",
        keep_audio: bool = False,
    ) -> None:
        self.url = url
        self.origin = origin
        self.cookie = cookie
        self.ssl_context = ssl_context
        self.name = name
        self.keep_audio = keep_audio
        self.snapshots: list[tuple[float, dict]] = []
        self.closes: list[tuple[float, int | None]] = []
        self.attempts: list[float] = []  # when each connection attempt started
        self.opened: list[float] = []  # when each handshake completed
        self.events: list[tuple[float, dict]] = []
        self.audio: list[tuple[float, bytes]] = []
        self.connect_failures = 0
        self.finished = False
        self.ws = None
        self._task: asyncio.Task | None = None
        self._changed = asyncio.Event()

    # state
    @property
    def connected(self) -> bool:
        return self.ws is not None

    @property
    def last_snapshot(self) -> dict | None:
        return self.snapshots[-1][1] if self.snapshots else None

    def snapshot_after(self, moment: float) -> tuple[float, dict] | None:
        return next(((t, s) for t, s in self.snapshots if t >= moment), None)

    # life
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self.finished = True
        if self.ws is not None:
            try:
                await self.ws.close()
            except Exception:
                pass
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    async def send(self, kind: str, **fields) -> None:
        if self.ws is None:
            raise ConnectionError(f"{self.name}: not connected")
        await self.ws.send(json.dumps({"type": kind, **fields}))

    async def send_bytes(self, data: bytes) -> None:
        if self.ws is not None:
            await self.ws.send(data)

    async def wait(self, predicate: Callable[[], object], timeout: float, what: str):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"{self.name}: timed out after {timeout:.0f} s waiting for {what}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass

    def _note(self) -> None:
        self._changed.set()

    async def _run(self) -> None:
        attempt = 0
        while not self.finished:
            code = None
            opened_at = None
            try:
                headers = {"Cookie": self.cookie} if self.cookie else None
                self.attempts.append(time.monotonic())
                async with connect(
                    self.url,
                    origin=self.origin,
                    additional_headers=headers,
                    ssl=self.ssl_context,
                    compression=None,
                    ping_interval=None,
                    open_timeout=10,
                    max_queue=4096,
                    proxy=None,
                ) as ws:
                    opened_at = time.monotonic()
                    self.opened.append(opened_at)
                    self.ws = ws
                    beat = None
                    try:
                        async for raw in ws:
                            now = time.monotonic()
                            if isinstance(raw, bytes):
                                if self.keep_audio:
                                    self.audio.append((now, raw))
                                continue
                            event = json.loads(raw)
                            for item in event["events"] if event.get("type") == "room.batch" else [event]:
                                self.events.append((now, item))
                                if item.get("type") == "room.snapshot":
                                    attempt = 0
                                    self.snapshots.append((now, item))
                                    if beat is None:
                                        beat = asyncio.get_running_loop().create_task(
                                            self._beat(ws, float(item["heartbeat_seconds"]))
                                        )
                                elif item.get("type") == "room.resync":
                                    await ws.send(json.dumps({"type": "snapshot.request"}))
                            self._note()
                    finally:
                        if beat is not None:
                            beat.cancel()
                code = ws.close_code
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError, InvalidStatus, ConnectionClosed, Exception) as error:
                code = getattr(getattr(error, "rcvd", None), "code", None)
                self.connect_failures += 1
            finally:
                self.ws = None
            self.closes.append((time.monotonic(), code))
            self._note()
            if self.finished or code in FINAL_CLOSE_CODES:
                self.finished = True
                return
            you = (self.last_snapshot or {}).get("you") or {}
            delay, backoff = reconnect_delay(
                attempt=attempt,
                on_stage=you.get("role") in STAGE_ROLES,
                settled=opened_at is not None and time.monotonic() - opened_at >= SETTLED_S,
                rand=random.random(),
            )
            attempt += backoff
            if delay:
                await asyncio.sleep(delay)

    @staticmethod
    async def _beat(ws, interval: float) -> None:
        try:
            while True:
                await asyncio.sleep(interval)
                await ws.send('{"type":"heartbeat"}')
        except Exception:
            pass
