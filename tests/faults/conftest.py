"""Fault tests: real processes (daphne, Celery worker and beat, nginx) on a private Redis.

Each module starts its own redis-server on a free port (never the machine's shared one, which the
rest of the suite uses) and its own processes, against the pytest-django test database (PostgreSQL:
the processes must share it), and stops exactly what it started. Data is made in this process
with the ORM (committed: `transaction=True`) and the processes see it.
"""

import shutil
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from deploy import harness, render

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))


def test_database_url() -> str:
    db = django_settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def require_real_services() -> None:
    if "postgresql" not in django_settings.DATABASES["default"]["ENGINE"]:
        pytest.skip("fault tests run processes that share the database: run with PostgreSQL")
    if not shutil.which("redis-server"):
        pytest.skip("fault tests start their own redis-server")


def server_env(redis_url: str, media_root: Path, **extra) -> dict:
    """The environment of a web process, worker or beat under test settings, on the private Redis.

    The broker's settings are production's: a killed worker's task waits as long as it would there."""
    return harness.base_env(
        DJANGO_SETTINGS_MODULE="spaces_project.settings.test",
        DATABASE_URL=test_database_url(),
        REDIS_URL=redis_url,
        MEDIA_ROOT=str(media_root),
        CELERY_TASK_ALWAYS_EAGER="0",
        # Keep the processes' logs readable: what matters is at INFO.
        LOG_LEVEL="INFO",
        **{k: str(v) for k, v in extra.items()},
    )


def start_daphne(
    processes: harness.Processes, env: dict, *, name: str = "web", port: int | None = None
) -> int:
    port = port or harness.free_port()
    processes.start(
        name,
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
        env=env,
        ready=lambda _: harness.tcp_listening(port),
        timeout=60,
    )
    return port


def start_worker(
    processes: harness.Processes, env: dict, *, name: str = "worker", pool: str = "solo", app="spaces_project"
):
    return processes.start(
        name,
        [
            CELERY,
            "-A",
            app,
            "worker",
            "-l",
            "info",
            "--pool",
            pool,
            "-c",
            "1",
            "--without-mingle",
            "--without-gossip",
            "-n",
            f"{name}@%h",
        ],
        env=env,
        ready=lambda p: " ready." in p.output(),
        timeout=90,
    )


def start_beat(processes: harness.Processes, env: dict, directory: Path):
    return processes.start(
        "beat",
        [
            CELERY,
            "-A",
            "spaces_project",
            "beat",
            "-l",
            "info",
            "--schedule",
            str(directory / "celerybeat-schedule"),
        ],
        env=env,
        ready=lambda p: "beat: Starting" in p.output(),
        timeout=60,
    )


def session_cookie(user) -> str:
    """A signed-in session for `user`, as the Cookie header a browser would send."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = django_settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{django_settings.SESSION_COOKIE_NAME}={session.session_key}"


@pytest.fixture(scope="module")
def stack_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def processes(stack_dir):
    with harness.Processes(stack_dir / "logs") as started:
        yield started


@pytest.fixture(scope="module")
def redis_server(processes, stack_dir):
    require_real_services()
    server = harness.RedisServer(processes, stack_dir / "redis")
    server.start()
    return server


@pytest.fixture(scope="module")
def media_root(stack_dir):
    path = stack_dir / "media"
    path.mkdir()
    return path


@pytest.fixture
def media(settings, media_root):
    """This process writes captures where the processes read them."""
    settings.MEDIA_ROOT = media_root
    return media_root


def dump_logs(processes: harness.Processes) -> str:
    return "\n".join(f"--- {name} ---\n{p.output()[-2500:]}" for name, p in processes.running.items())


@pytest.fixture(autouse=True)
def _show_process_logs_on_failure(request):
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and "processes" in request.fixturenames:
        print(dump_logs(request.getfixturevalue("processes")))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report


def render_deploy(directory: Path, *, media_root: Path, web: int = 2) -> dict:
    """Render deploy/'s nginx site and units for processes on this machine (harness.render_local_site)."""
    (directory / "static").mkdir(parents=True, exist_ok=True)
    return harness.render_local_site(
        directory,
        web=web,
        MEDIA_ROOT=str(media_root),
        # What the test settings' processes sign HLS URLs with (settings/test.py's SECRET_KEY).
        SECRET_KEY="test-only-key",
        HLS_ROOT=str(directory / "hls"),
    )


def start_web_unit(processes: harness.Processes, deploy: dict, instance: int, env: dict) -> None:
    """Start web process `instance` the way spaces-web@.service does (its ExecStart), with `env`,
    behind nginx as spaces.env.example configures it: one trusted proxy."""
    env = {"TRUSTED_PROXY_COUNT": "1", **env}

    unit = render.unit_command(deploy["files"]["systemd/spaces-web@.service"], instance=str(instance))
    socket_path = deploy["run_dir"] / f"web{instance}.sock"
    processes.start(
        f"web{instance}",
        unit["argv"],
        env=env,
        cwd=unit["cwd"],
        ready=lambda _: harness.unix_listening(socket_path),
        timeout=60,
    )


def start_web_units_behind_nginx(
    processes: harness.Processes, redis_server, media_root: Path, stack_dir: Path
) -> dict:
    """deploy/'s site on this machine: two web processes (spaces-web@1 and @2) behind its nginx.
    Returns the rendered deploy, with the processes' environment as deploy["env"]."""
    deploy = render_deploy(stack_dir / "deploy", media_root=media_root)
    env = server_env(redis_server.url(), media_root)
    for instance in (1, 2):
        start_web_unit(processes, deploy, instance, env)
    harness.start_nginx(
        processes, stack_dir / "nginx", deploy["files"]["nginx/spaces.conf"], ready_port=deploy["https_port"]
    )
    deploy["env"] = env
    return deploy
