"""The throwaway database and its seed: the benchmark's own PostgreSQL database, Django set up on it,
the accounts and rooms, their session cookies, and the room's Redis keys cleared."""

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from importlib import import_module
from urllib.parse import urlsplit, urlunsplit

import django
import psycopg
import redis
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.db import connections
from django.utils import timezone
from psycopg import sql

from .paths import ROOT


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
    from rooms.models import Participant, Room  # noqa: PLC0415 (after setup_django())

    if migrate:
        call_command("migrate", verbosity=0, interactive=False)

    tag = f"b{int(time.time()) % 100000}"  # unique handles, so --target can run more than once

    def people(kind: str, count: int) -> list:
        return seed_people(
            [f"{tag}_{kind}{i}" for i in range(count)],
            display_names=[f"Bench {kind} {i}" for i in range(count)],
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


def seed_people(handles: list[str], *, display_names: list[str] | None = None) -> list:
    """Accounts with these handles (and `display_names`), e-mail `HANDLE@bench.invalid`, and an unusable
    password: they only ever sign in by session (session_cookie()). After setup_django()."""
    from accounts.models import User  # noqa: PLC0415 (after setup_django())

    password = make_password(None)
    named = [{"display_name": name} for name in display_names] if display_names else [{}] * len(handles)
    return User.objects.bulk_create(
        User(handle=handle, email=f"{handle}@bench.invalid", password=password, **more)
        for handle, more in zip(handles, named, strict=True)
    )


def host_and_listeners(room_id: int, people: list) -> dict:
    """The seed of a room whose host is people[0], listened to by the rest: the room's id and each one's
    session cookie."""
    return {
        "room_id": room_id,
        "host": session_cookie(people[0]),
        "listeners": [session_cookie(user) for user in people[1:]],
    }


def seeded_database(admin_url: str, bench_url: str, db_name: str, seed: Callable[[], dict]) -> dict:
    """A new database `db_name` (dropped first if it is there), Django set up on it (Redis unused), and
    what `seed` puts in it; no connection is left open (the servers started next have their own)."""
    recreate_database(admin_url, db_name)
    setup_django(bench_url, "")
    seeded = seed()
    connections.close_all()
    return seeded


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
