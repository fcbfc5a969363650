"""Benchmark settings (bench/room_events.py): production-like, on 127.0.0.1, plain HTTP.

DEBUG is off on purpose: with DEBUG on Django keeps every query in memory, which would show up
as server memory per socket. Production's HTTPS-only cookies and redirects are left out because
the benchmark talks plain HTTP to 127.0.0.1.
"""

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = SECRET_KEY or "bench-only-key-never-used-outside-bench-room-events-0123456789"  # noqa: F405
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
