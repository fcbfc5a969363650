"""A web process restarts under 1,000 listeners: how long until 99 % of its listeners have the room again.

    python bench/reconnect_storm.py                    # 1,000 signed-in listeners, its own database and Redis
    python bench/reconnect_storm.py --listeners 300
    python bench/reconnect_storm.py --anonymous        # listeners who are not signed in

bench/room_events.py runs this as its last phase and adds the figures to its JSON line.

Production's layout, from deploy/: nginx with the rendered site (TLS; a worker per core, as Debian's
nginx.conf runs it) in front of two web processes on
unix sockets, each started with spaces-web@.service's command (settings `spaces_project.settings.bench`),
on a redis-server of its own and a PostgreSQL database of its own, all on 127.0.0.1. Signed-in
listeners (each with a session of their own, as people who have an account; --anonymous for
listeners without one, who cost the server less) connect through nginx from --workers client processes
(4: the clients' TLS and JSON work shares the two cores with the server's); like room.js they beat,
re-read the room on `room.resync`, and reconnect on its schedule (static/js/reconnect.js: a socket
that was open a while is tried again within 0.3 s, then 0.5 s doubling to 10 s, +-30 % jitter).

Web process 1 is then restarted the way `systemctl restart spaces-web@1` does it: the unit's ExecStop (its
socket file removed, out of nginx's rotation), SIGTERM, wait for it
to exit, start it again. Its listeners lose their sockets and reconnect through nginx (to process 2
while process 1 is down). For each of them, the time from the restart to its next snapshot
(CLOCK_MONOTONIC, shared by all processes; it includes the client's own TLS and handshake work, so it
errs high); `reconnect_p99_s` is the 99th percentile (target <= 2.5 s). `reconnect_failures` counts
listeners with no snapshot within --reconnect-timeout. Whether the clients kept up: `client_cpu_busy_max`
is the busiest client process's CPU time over that window (1.0 is a whole core: that client, not the
server, would be measured), `web_cpu_busy` the surviving web process's; `web_cpu_s` and
`clients_cpu_s` are the CPU seconds they used, the work itself whatever else runs on the machine.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import django
import psycopg
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.db import connections
from django.utils import timezone
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploy import harness, render  # noqa: E402

TARGETS = {"reconnect_p99_s": 2.5, "reconnect_failures": 0}


# -- client processes ------------------------------------------------------------------------------


def _worker(pipe, url: str, origin: str, cookies: list[str | None], connect_rate: float) -> None:
    asyncio.run(_worker_main(pipe, url, origin, cookies, connect_rate))


async def _worker_main(pipe, url: str, origin: str, cookies: list[str | None], connect_rate: float) -> None:
    loop = asyncio.get_running_loop()
    tls = harness.Browser(origin).ssl_context
    clients = [
        harness.RoomClient(
            url,
            origin=origin,
            cookie=cookie,
            ssl_context=tls,
            name=str(n),
            address="127.0.0.1",
            only_snapshots=True,
        )
        for n, cookie in enumerate(cookies)
    ]
    for client in clients:
        client.start()
        await asyncio.sleep(1 / connect_rate)
    deadline = loop.time() + 120
    while not all(client.snapshots for client in clients) and loop.time() < deadline:
        await asyncio.sleep(0.2)
    pipe.send(("ready", sum(1 for client in clients if client.snapshots)))
    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        if command == "report":
            pipe.send(
                (
                    "report",
                    [
                        (
                            [t for t, _ in client.closes],
                            [t for t, _ in client.snapshots],
                            client.attempts,
                            client.opened,
                        )
                        for client in clients
                    ],
                )
            )
        elif command == "cpu":
            pipe.send(("cpu", time.process_time()))
        elif command == "stop":
            for client in clients:
                await client.stop()
            pipe.send(("stopped", None))
            return


# -- the run ---------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def ask_cpu(pipes) -> list[float]:
    """Each client process's CPU time so far (seconds)."""
    for pipe in pipes:
        pipe.send("cpu")
    return [pipe.recv()[1] for pipe in pipes]


def process_cpu_s(pid: int) -> float:
    """A process's CPU time so far (user and system, seconds), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seed_room(signed_in: int = 0) -> tuple[int, list[str | None]]:
    """A live room that anonymous listeners may join (Django is set up for the bench database), and
    the session cookies of `signed_in` people with an account (None for each anonymous listener)."""
    from django.conf import settings  # noqa: PLC0415 (after django.setup())
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: PLC0415
    from django.contrib.sessions.backends.db import SessionStore  # noqa: PLC0415

    from accounts.models import User  # noqa: PLC0415 (after django.setup())
    from rooms.models import Participant, Room  # noqa: PLC0415 (after django.setup())

    tag = f"storm{int(time.time()) % 100000}"
    host = User.objects.create(
        handle=f"{tag}_host", email=f"{tag}_host@bench.invalid", password=make_password(None)
    )
    # Far above other rooms' ids: pub/sub channels are named after the room, whatever the database.
    room = Room.objects.create(
        id=random.randrange(900_000_000, 2_000_000_000),
        title="Reconnect storm",
        host=host,
        state=Room.State.LIVE,
        started_at=timezone.now(),
        allow_anonymous=True,
    )
    Participant.objects.create(room=room, user=host, role=Participant.Role.HOST)
    people = User.objects.bulk_create(
        User(handle=f"{tag}_l{n}", email=f"{tag}_l{n}@bench.invalid", password=make_password(None))
        for n in range(signed_in)
    )
    cookies = []
    for person in people:
        session = SessionStore()
        session[SESSION_KEY] = str(person.pk)
        session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        session[HASH_SESSION_KEY] = person.get_session_auth_hash()
        session.save()
        cookies.append(f"{settings.SESSION_COOKIE_NAME}={session.session_key}")
    return room.pk, cookies


def run_storm(
    *,
    database_url: str,
    listeners: int,
    workers: int = 4,
    connect_rate: float = 300.0,
    reconnect_timeout: float = 30.0,
    work: Path | None = None,
    signed_in: bool = True,
) -> dict:
    """Run the restart against `database_url` (migrated; Django set up for it); return the figures."""
    keep = work is not None
    work = Path(work or tempfile.mkdtemp(prefix="spaces-storm-"))
    figures: dict = {"storm_listeners": listeners, "storm_signed_in": signed_in}
    room_id, cookies = seed_room(listeners if signed_in else 0)
    cookies = cookies or [None] * listeners
    with harness.Processes(work / "logs") as processes:
        redis = harness.RedisServer(processes, work / "redis")
        redis.start()
        site = harness.render_local_site(
            work,
            web=2,
            MEDIA_ROOT=str(work / "media"),
            HLS_SIGNING_SECRET="unused-by-this-benchmark",
        )
        rendered, https_port = site["files"], site["https_port"]
        env = harness.base_env(
            DJANGO_SETTINGS_MODULE="spaces_project.settings.bench",
            DATABASE_URL=database_url,
            REDIS_URL=redis.url(),
            LOG_LEVEL="WARNING",
            # Behind nginx, as spaces.env.example configures it: one trusted proxy.
            TRUSTED_PROXY_COUNT="1",
        )
        unit_file = rendered["systemd/spaces-web@.service"]

        def start_web(instance: int) -> float:
            unit = render.unit_command(unit_file, instance=str(instance))
            path = work / "run" / f"web{instance}.sock"
            started = time.monotonic()
            processes.start(
                f"web{instance}",
                unit["argv"],
                env=env,
                cwd=unit["cwd"],
                ready=lambda _: harness.unix_listening(path),
                timeout=90,
            )
            return time.monotonic() - started

        start_web(1)
        start_web(2)
        # As Debian's nginx.conf runs it (`worker_processes auto`): one worker alone did every TLS
        # handshake of the storm on one core.
        harness.start_nginx(
            processes, work / "nginx", rendered["nginx/spaces.conf"], ready_port=https_port, workers="auto"
        )
        origin = f"https://localhost:{https_port}"
        url = f"wss://localhost:{https_port}/ws/rooms/{room_id}/"
        context = multiprocessing.get_context("spawn")
        pipes, children = [], []
        try:
            shares = [listeners // workers + (1 if n < listeners % workers else 0) for n in range(workers)]
            for n, share in enumerate(shares):
                parent, child = context.Pipe()
                mine = cookies[sum(shares[:n]) : sum(shares[:n]) + share]
                process = context.Process(
                    target=_worker, args=(child, url, origin, mine, connect_rate / workers), daemon=True
                )
                process.start()
                pipes.append(parent)
                children.append(process)
            connected = 0
            for pipe in pipes:
                if not pipe.poll(240):
                    raise RuntimeError("listeners did not connect in time")
                connected += pipe.recv()[1]
            figures["storm_connected"] = connected
            time.sleep(2)  # let the roster settle
            on_web1 = harness.unix_health(work / "run" / "web1.sock")["room_sockets"]
            figures["storm_on_restarted_process"] = on_web1

            # Whether the clients kept up: the CPU each client process and the process that takes
            # the storm used from the restart until the bench stopped waiting for the listeners.
            clients_cpu = ask_cpu(pipes)
            web2_cpu = process_cpu_s(processes["web2"].popen.pid)

            # systemctl restart spaces-web@1: the unit's ExecStop, SIGTERM, wait for the exit, start again.
            restarted_at = time.monotonic()
            stop_command = render.unit_command(unit_file, instance="1")["stop_argv"]
            if stop_command:
                subprocess.run(stop_command, check=True, timeout=15)
            processes.stop("web1", timeout=15)
            figures["restart_stop_s"] = round(time.monotonic() - restarted_at, 2)
            figures["restart_start_s"] = round(start_web(1), 2)
            deadline = restarted_at + reconnect_timeout
            reports: list = []
            while time.monotonic() < deadline:
                time.sleep(1)
                reports = []
                for pipe in pipes:
                    pipe.send("report")
                    reports += pipe.recv()[1]
                dropped = [(c, s) for c, s, *_ in reports if any(t >= restarted_at for t in c)]
                if (
                    dropped
                    and len(dropped) >= on_web1
                    and all(any(t >= restarted_at for t in s) for _, s in dropped)
                ):
                    break
            window = time.monotonic() - restarted_at
            clients_used = [b - a for a, b in zip(clients_cpu, ask_cpu(pipes), strict=True)]
            web2_used = process_cpu_s(processes["web2"].popen.pid) - web2_cpu
            figures["client_cpu_busy_max"] = round(max(clients_used) / window, 2)
            figures["web_cpu_busy"] = round(web2_used / window, 2)
            # The work itself, whatever else ran on the machine: CPU seconds of the process that took
            # the storm, and of all the clients.
            figures["web_cpu_s"] = round(web2_used, 2)
            figures["clients_cpu_s"] = round(sum(clients_used), 2)
            dropped = [(c, s) for c, s, *_ in reports if any(t >= restarted_at for t in c)]
            times = [
                min(t for t in s if t >= restarted_at) - restarted_at
                for c, s in dropped
                if any(t >= restarted_at for t in s)
            ]
            closed = [min(t for t in c if t >= restarted_at) - restarted_at for c, _ in dropped]
            # Why a listener took long: how many connection attempts it needed after the restart, and
            # how many of those opened a socket that was then dropped again (a process shutting down
            # still accepting) rather than refused outright.
            again = [
                (
                    sum(1 for t in attempts if t >= restarted_at),
                    sum(1 for t in opened if t >= restarted_at)
                    - (1 if any(t >= restarted_at for t in s) else 0),
                )
                for c, s, attempts, opened in reports
                if any(t >= restarted_at for t in c)
            ]
            # From a listener's last connection attempt to its snapshot: the handshake through nginx
            # (TLS included) and the join, apart from the back-off before it.
            waits, handshakes, joins = [], [], []
            for c, s, attempts, opened in reports:
                first = next((t for t in s if t >= restarted_at), None)
                if first is not None and any(t >= restarted_at for t in c):
                    tried = max(t for t in attempts if t <= first)
                    waits.append(first - tried)
                    # Split at the handshake's end (TLS, nginx, daphne's upgrade and the session's
                    # sign-in): what is left is the join and the snapshot.
                    was_open = max((t for t in opened if tried <= t <= first), default=None)
                    if was_open is not None:
                        handshakes.append(was_open - tried)
                        joins.append(first - was_open)
            figures.update(
                {
                    "dropped_p50_s": round(percentile(closed, 0.50), 2),
                    "dropped_max_s": round(max(closed), 2) if closed else None,
                    "reconnected": len(times),
                    "reconnect_failures": len(dropped) - len(times) + max(0, on_web1 - len(dropped)),
                    "reconnect_p50_s": round(percentile(times, 0.50), 2),
                    "reconnect_p99_s": round(percentile(times, 0.99), 2),
                    "reconnect_max_s": round(max(times), 2) if times else None,
                    "reconnect_attempts_p50": percentile([a for a, _ in again], 0.50),
                    "reconnect_attempts_max": max((a for a, _ in again), default=None),
                    "reopened_then_dropped": sum(d for _, d in again),
                    "last_attempt_to_snapshot_p50_s": round(percentile(waits, 0.50), 2),
                    "last_attempt_to_snapshot_p99_s": round(percentile(waits, 0.99), 2),
                    "handshake_p50_s": round(percentile(handshakes, 0.50), 2),
                    "handshake_p99_s": round(percentile(handshakes, 0.99), 2),
                    "open_to_snapshot_p50_s": round(percentile(joins, 0.50), 2),
                    "open_to_snapshot_p99_s": round(percentile(joins, 0.99), 2),
                }
            )
            figures["after_restart_sockets"] = [
                harness.unix_health(work / "run" / f"web{n}.sock")["room_sockets"] for n in (1, 2)
            ]
        finally:
            for pipe in pipes:
                try:
                    pipe.send("stop")
                    pipe.poll(30) and pipe.recv()
                except (BrokenPipeError, EOFError, OSError):
                    pass
            for process in children:
                process.join(10)
                if process.is_alive():
                    process.kill()
    figures["storm_load_average"] = round(os.getloadavg()[0], 1)
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument(
        "--workers", type=int, default=4, help="client processes (so that no one of them is what is measured)"
    )
    parser.add_argument("--connect-rate", type=float, default=300.0, help="listeners connecting per second")
    parser.add_argument("--reconnect-timeout", type=float, default=30.0)
    parser.add_argument("--db-name", default="bench_reconnect_storm")
    parser.add_argument("--anonymous", action="store_true", help="listeners without an account")
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/"
    parts = urlsplit(base)
    if parts.hostname not in ("127.0.0.1", "localhost", None):
        raise SystemExit("the benchmark only uses a database on this machine")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    bench_url = urlunsplit(parts._replace(path=f"/{args.db_name}"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(args.db_name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(args.db_name)))
    figures: dict = {}
    failed = None
    try:
        os.environ.update(
            DATABASE_URL=bench_url,
            DJANGO_SETTINGS_MODULE="spaces_project.settings.bench",
            REDIS_URL=os.environ.get("REDIS_URL", ""),
        )
        django.setup()
        call_command("migrate", verbosity=0, interactive=False)
        figures = run_storm(
            database_url=bench_url,
            listeners=args.listeners,
            workers=args.workers,
            connect_rate=args.connect_rate,
            reconnect_timeout=args.reconnect_timeout,
            signed_in=not args.anonymous,
        )
    except BaseException as error:
        traceback.print_exc()
        failed = error
    finally:
        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(args.db_name))
            )
    if failed is not None:
        print(f"benchmark did not finish: {type(failed).__name__}: {failed}", file=sys.stderr)
    figures["targets"] = TARGETS
    print(json.dumps(figures))
    return 1 if failed is not None else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    sys.exit(main())
