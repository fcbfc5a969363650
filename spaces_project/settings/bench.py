"""Benchmark settings (bench/room_events.py): production-like, on 127.0.0.1, plain HTTP.

DEBUG is off on purpose: with DEBUG on Django keeps every query in memory, which would show up
as server memory per socket. Production's HTTPS-only cookies and redirects are left out because
the benchmark talks plain HTTP to 127.0.0.1.
"""

import os

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = SECRET_KEY or "bench-only-key-never-used-outside-bench-room-events-0123456789"  # noqa: F405
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

# Persistent database connections. channels runs every database call of a process on one thread,
# so this is one connection per daphne process; without it (Django's default, CONN_MAX_AGE 0)
# every call opened a new PostgreSQL connection, a third of that thread's time when 500 sockets
# connect at once. Production should set DB_CONN_MAX_AGE the same way.
DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("DB_CONN_MAX_AGE", "60"))  # noqa: F405
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # noqa: F405
# Or a pool (DB_POOL_MAX_SIZE, bench/tickets.py), which replaces persistent connections.
use_connection_pool(DATABASES["default"])  # noqa: F405

# The load generators are one address standing in for thousands of different people.
ANONYMOUS_SOCKETS_PER_ADDRESS = int(os.environ.get("ANONYMOUS_SOCKETS_PER_ADDRESS", "1000000"))

# A benchmark may add URLs of its own to the app's (bench/floor_urls.py: the view that only answers,
# for bench/tickets.py's floor). Never set outside the benchmarks.
ROOT_URLCONF = os.environ.get("BENCH_URLCONF") or ROOT_URLCONF  # noqa: F405
