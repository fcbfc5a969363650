"""A real ASGI server for browser tests that need websockets, and signing people in without the form.

pytest-django's `live_server` is a WSGI server: it cannot carry the room socket. `asgi_live_server`
runs daphne in a separate process against the test database, so the test database must be a real
one on disk that both processes see (PostgreSQL), and the test must commit its data
(`transactional_db`, which the fixture pulls in).

A test that uses a live server ends only when its pages are closed and the server's work for it has
stopped (`_test_ends_when_its_work_has_stopped`): then the test database is emptied, with nothing
else querying it.
"""

import importlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from importlib import import_module
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import Group, Permission
from django.db import connection
from playwright.sync_api import expect

from .asgi import IDLE_PATH, IDLE_TIMEOUT_S

BASE_DIR = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 20
# Importing Django, numpy and PyAV takes a second on an idle machine, far longer on a busy one.
MIXER_STARTUP_SECONDS = 60

# Events cross two processes (and Redis, when set): a loaded CI machine needs more than 5 s.
expect.set_options(timeout=10_000)


class AsgiLiveServer:
    """Daphne serving the site from a separate process; `stop()` and `start()` restart it on the same port."""

    host = "127.0.0.1"

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.log_dir = Path(tempfile.mkdtemp(prefix="daphne-"))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def sign_in(self, context, user) -> None:
        """Give the Playwright browser context a signed-in session for `user`."""
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": session_key_for(user), "url": self.url}]
        )

    def start(self) -> None:
        # Another process may take a free port before daphne binds it: try another one.
        for attempt in range(3):
            port = self.port or _free_port()
            log = self.log_dir / f"daphne-{port}-{attempt}.log"
            with log.open("w") as out:
                self.process = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "daphne",
                        "-b",
                        self.host,
                        "-p",
                        str(port),
                        "tests.browser.asgi:application",
                    ],
                    cwd=BASE_DIR,
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            try:
                _wait_until_listening(self.process, port, log)
            except RuntimeError:
                if attempt == 2:
                    raise
                continue
            self.port = port
            return

    def wait_until_idle(self) -> dict:
        """Return once nothing a test asked of this server is still running (tests/browser/asgi.py)."""
        if self.process is None or self.process.poll() is not None:
            return {}
        return wait_until_idle(self.url)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def session_key_for(user) -> str:
    """Create a session in which `user` is signed in, as django.contrib.auth.login would."""
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return session.session_key


def wait_until_idle(server_url: str) -> dict:
    """Ask a daphne serving tests.browser.asgi to answer once the work of the test has stopped."""
    try:
        with urllib.request.urlopen(server_url + IDLE_PATH, timeout=IDLE_TIMEOUT_S + 10) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as error:
        raise AssertionError(
            f"the server's work for the test did not stop: {error.read().decode()}"
        ) from None


def wait_until_nothing_else_queries(timeout: float = 10) -> None:
    """Wait until no other connection to the test database is running a query or holds a transaction
    open. The processes a test started are stopped and the server is idle by now: whatever still
    queries was missed, and is named."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT pid, state, now() - xact_start, left(query, 300) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend' AND state <> 'idle'"
            )
            busy = cursor.fetchall()
            if not busy:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"still at work on the test database after the test: {busy}")
            time.sleep(0.05)


def _test_database_url() -> str:
    """The URL of the database pytest-django created, for the server process to use."""
    db = connection.settings_dict
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{quote(db['NAME'], safe='')}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _forget_live_state(redis_url: str) -> None:
    """Drop presence, locks and rate limits that an earlier run left for room ids this run reuses."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter("spaces:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _wait_until_listening(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(
        f"daphne did not listen on {port} within {STARTUP_SECONDS}s:\n{log.read_text()[-4000:]}"
    )


@pytest.fixture(scope="session")
def _daphne(django_db_setup, django_db_blocker):
    if connection.vendor != "postgresql":
        pytest.skip(
            "asgi_live_server needs a database two processes can share: run with "
            "DATABASE_URL=postgres://... (the in-memory SQLite test database exists only in this process)"
        )
    redis_url = settings.REDIS_URL
    if redis_url:
        _forget_live_state(redis_url)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": redis_url,
        "PYTHONUNBUFFERED": "1",
    }
    # The Playwright fixture allows sync ORM calls in this process; the server must not hide such bugs.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    server = AsgiLiveServer(env)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if redis_url:
            _forget_live_state(redis_url)


@pytest.fixture
def room_audio_mixer(_daphne):
    """Mix the rooms' audio for this test the way the server is configured to.

    Without Redis, daphne mixes in its own process (embedded mode) and there is nothing to start.
    With Redis (CI), web processes expect `manage.py run_mixer` processes, as in production: start
    one with the server's environment, and stop it when the test ends, before the test database is
    emptied (it reads the live rooms every second). Yields the process, or None in embedded mode.
    """
    if not _daphne.env.get("REDIS_URL"):
        yield None
        return
    log = _daphne.log_dir / f"mixer-{time.monotonic_ns()}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_mixer", "--name", "browser-tests"],
            cwd=BASE_DIR,
            env=_daphne.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + MIXER_STARTUP_SECONDS
        while "running" not in log.read_text():
            assert process.poll() is None, f"the mixer exited: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"the mixer did not start within {MIXER_STARTUP_SECONDS} s"
            time.sleep(0.05)
        yield process
    finally:
        # SIGTERM: the mixer lets each room's runner finish its tick and gives its lease back.
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def asgi_live_server(_daphne, transactional_db):
    """Daphne serving the whole site (pages, static files, websockets) on 127.0.0.1:<free port>.

    Data the test creates is committed, so the server sees it; the test database is flushed after.
    """
    if _daphne.process is None:  # a test stopped it and failed before starting it again
        _daphne.start()
    return _daphne


@pytest.fixture(autouse=True)
def _test_ends_when_its_work_has_stopped(request):
    """A test with a live server ends only when its pages are closed and the server's work for it has
    stopped; the test database is emptied after that, with nothing else querying it.

    Emptying it while a page still asked, or a view still ran in the server's threads, made
    PostgreSQL answer "deadlock detected" to one of the two: the flush failed, and the next test saw
    the rows it should have removed. This fixture takes `transactional_db` before the test's other
    fixtures (so the flush comes after this teardown) and, once they are torn down (the pages they
    opened closed, the processes they started stopped), closes any browser context still open,
    waits for the server to be idle, and checks that nothing else queries the database.
    """
    names = request.fixturenames
    if "asgi_live_server" not in names and "live_server" not in names:
        yield
        return
    request.getfixturevalue("transactional_db")
    yield
    if connection.vendor != "postgresql":
        return  # asgi_live_server skipped the test; pytest-django's live server shares SQLite in memory
    if "browser" in names:
        for context in request.getfixturevalue("browser").contexts:
            context.close()
    if "asgi_live_server" in names:
        request.getfixturevalue("_daphne").wait_until_idle()
    if "live_server" in names:
        # The WSGI live server answers each connection in a thread, and keeps them to join on close.
        httpd = request.getfixturevalue("live_server").thread.httpd
        for thread in list(getattr(httpd, "_threads", None) or ()):
            thread.join(IDLE_TIMEOUT_S)
            assert not thread.is_alive(), "the live server still answers a request after the test"
    wait_until_nothing_else_queries()


@pytest.fixture
def moderators_group(transactional_db):
    """The Moderators group as the data migrations make it: browser tests flush the database, which
    takes the migrations' groups away (Django recreates permissions after a flush, not groups)."""
    granted = []
    for name in (
        "0002_moderators_group",
        "0004_moderators_see_pinned_links",
        "0005_moderators_act_on_participants",
    ):
        granted += importlib.import_module(f"moderation.migrations.{name}").PERMISSIONS
    group, _ = Group.objects.get_or_create(name="Moderators")
    group.permissions.add(
        *(Permission.objects.get(content_type__app_label=app, codename=codename) for app, codename in granted)
    )
    return group
