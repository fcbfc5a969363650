"""A burst of plain HTTP requests on daphne: each runs in a thread of its own with a database
connection of its own (500 ticket buyers exhausted PostgreSQL's connections, bench/tickets.py).
HTTP_MAX_CONCURRENT bounds the requests inside Django, DB_POOL_MAX_SIZE the connections."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from spaces_project.http_limit import ConcurrencyLimit

ROOT = Path(__file__).resolve().parent.parent


async def test_at_most_the_limit_of_requests_run_at_once_and_the_rest_wait_their_turn():
    inside = 0
    most = 0
    order = []

    async def app(scope, receive, send):
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        order.append(scope["n"])
        await asyncio.sleep(0.01)
        inside -= 1

    limited = ConcurrencyLimit(app, 3)
    await asyncio.gather(*(limited({"type": "http", "n": n}, None, None) for n in range(20)))
    assert most == 3 and order == list(range(20))
    # Websockets are never held back.
    await asyncio.gather(*(limited({"type": "websocket", "n": n}, None, None) for n in range(10)))
    assert most == 10


def test_a_pool_replaces_persistent_connections_when_asked():
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DJANGO_SETTINGS_MODULE": "spaces_project.settings.bench",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused",
        "DB_POOL_MAX_SIZE": "20",
    }
    code = (
        "from django.conf import settings; d = settings.DATABASES['default'];"
        "print(d['CONN_MAX_AGE'], d['OPTIONS']['pool']['max_size'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.stdout.split() == ["0", "20"], result.stderr
