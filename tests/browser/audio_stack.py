"""A test module's own live-audio stack, as the HLS tests run it: daphne serving tests.browser.asgi on
the test database, and `manage.py run_mixer` processes, on a redis-server of the module's own, with
AUDIO_WEBSOCKET_LISTENERS=1 (every listener past the first hears the room over HLS).

The processes are started in the module's `deploy.harness.Processes`, which stops them with the rest.
"""

import os
import sys
from pathlib import Path

from deploy import harness

from .conftest import _test_database_url

ROOT = Path(__file__).resolve().parents[2]


def start_daphne(processes: harness.Processes, redis_url: str, **settings: str) -> tuple[str, dict]:
    """Start daphne with the stack's environment and `settings` (HLS_ROOT, HLS_STORAGE...); return its
    URL and that environment, for the mixers (start_mixer())."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "spaces_project.settings.test",
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": redis_url,
        "AUDIO_MIXER": "external",
        "AUDIO_WEBSOCKET_LISTENERS": "1",
        "PYTHONUNBUFFERED": "1",
        **settings,
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    port = harness.free_port()
    processes.start(
        "daphne",
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "tests.browser.asgi:application",
        ],
        env=env,
        cwd=ROOT,
        ready=lambda _: harness.tcp_listening(port),
        timeout=60,
    )
    return f"http://127.0.0.1:{port}", env


def start_mixer(processes: harness.Processes, env: dict, name: str) -> None:
    """A `manage.py run_mixer` process called `name` (processes.stop(name) stops it), once it runs."""
    processes.start(
        name,
        [sys.executable, "manage.py", "run_mixer", "--name", name],
        env=env,
        cwd=ROOT,
        ready=lambda process: "running" in process.output(),
    )
