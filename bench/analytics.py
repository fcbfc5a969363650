"""Hosts' analytics: what collecting costs the live path, and how fast a big room's report is.

    python bench/analytics.py        # make bench-analytics: 2,000 listeners over 60 s, 3 rounds each way
    python bench/analytics.py --listeners 500 --seconds 20 --rounds 1 --report-sessions 2000   # a quick look

What it does, all on 127.0.0.1 (PostgreSQL and Redis as DATABASE_URL and --redis-url name them):

1. Drops and recreates its own database (`bench_analytics`) and migrates it.
2. The live path, --rounds times each way in the same run, interleaved (off on, on off, off on, ...
   so that a machine growing busier or quieter weighs on both ways alike): daphne (settings
   `spaces_project.settings.bench`) without collection (ANALYTICS_COLLECT=0) or with it, each round
   on a fresh room. --listeners anonymous listeners join at random moments over --seconds and each
   leaves 2 to 10 s after its snapshot (one asyncio client process, lean sockets that beat like
   room.js). An event's latency is what the person joining feels: from the client's connect to the
   room's snapshot in hand (CLOCK_MONOTONIC, so it includes the client's own scheduling: it errs
   high); the leaves of the others are handled by the same server meanwhile. In every round a
   separate process does what `celery beat` and a worker do with analytics-flush: analytics_flush()
   every ANALYTICS_FLUSH_EVERY_S (with nothing to write when collection is off). Each way's p99 is
   over all its rounds' joins; `sessions_written` is how many listening sessions the rounds with
   collection wrote (every join, with its leave).
3. The report of a room with --report-sessions sessions (listeners over two hours, a third of them
   anonymous, some people with two sessions), fetched --report-requests times through Django's test
   client (the whole request): first while the room is live (report_live_p95_ms: its figures
   computed at each request, by PostgreSQL from the raw sessions, rooms/analytics/aggregates.py),
   then after it ended (report_p95_ms: the figures kept when it ended, analytics_room_ended).

Targets: events_p99_ms_with <= 1.1 x events_p99_ms_without; report_p95_ms <= 150 (and
report_live_p95_ms <= 150). The last line printed is one JSON object with the figures; `sessions` is
the reported room's session count.
"""

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    ROOT,
    clear_room_keys,
    database_urls,
    open_lean,
    percentile,
    progress,
    recreate_database,
    setup_django,
    start_daphnes,
    stop_process,
)

TARGETS = {"events_ratio": 1.1, "report_p95_ms": 150}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listeners", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of each way")
    parser.add_argument("--report-sessions", type=int, default=10_000)
    parser.add_argument("--report-requests", type=int, default=60)
    parser.add_argument("--db-name", default="bench_analytics")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    parser.add_argument("--connect-timeout", type=float, default=20.0)
    # Internal: run as the flushing process of a round (what the beat and a worker do), until stopped.
    parser.add_argument("--flusher", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--flush-log", help=argparse.SUPPRESS)
    return parser.parse_args()


def new_room() -> int:
    from django.utils import timezone  # noqa: PLC0415 (after setup_django())

    from accounts.models import User  # noqa: PLC0415 (after setup_django())
    from rooms.models import Participant, Room  # noqa: PLC0415 (after setup_django())

    host = User.objects.create(
        handle=f"host{random.randrange(10**9)}", email=f"h{random.randrange(10**9)}@bench.invalid"
    )
    room = Room.objects.create(
        id=random.randrange(900_000_000, 2_000_000_000),
        title="Analytics benchmark room",
        host=host,
        state=Room.State.LIVE,
        started_at=timezone.now(),
        allow_anonymous=True,
    )
    Participant.objects.create(room=room, user=host, role=Participant.Role.HOST)
    return room.pk


async def drive(port: int, room_id: int, args: argparse.Namespace) -> tuple[list[float], int]:
    """Every listener joins at a random moment of the window and leaves 2-10 s after; return the join
    latencies (ms) and how many joins failed."""
    latencies: list[float] = []
    failures = 0
    path = f"/ws/rooms/{room_id}/?src=home"

    async def one(delay: float) -> None:
        nonlocal failures
        await asyncio.sleep(delay)
        started = time.monotonic()
        try:
            listener = await open_lean(port, path, None, args.connect_timeout)
        except Exception:
            failures += 1
            return
        latencies.append((time.monotonic() - started) * 1000)
        await asyncio.sleep(random.uniform(2, 10))
        listener.close()

    window = args.seconds - 10
    await asyncio.gather(*(one(random.uniform(0, window)) for _ in range(args.listeners)))
    await asyncio.sleep(1.5)  # the last leaves reach the server and its push
    return latencies, failures


def flusher_main(args: argparse.Namespace) -> int:
    """The flushing process of a round: analytics_flush() every ANALYTICS_FLUSH_EVERY_S, as the beat
    has a worker do, until SIGTERM; each flush's duration (ms) appended to --flush-log."""
    setup_django(args.flusher, args.redis_url)
    from django.conf import settings  # noqa: PLC0415 (after setup_django())

    from rooms.analytics.services import analytics_flush  # noqa: PLC0415 (after setup_django())

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with open(args.flush_log, "a") as log:
        log.write(json.dumps({"ready": True}) + "\n")  # started: the round's listeners may come
        log.flush()
        while not stop.wait(settings.ANALYTICS_FLUSH_EVERY_S):
            began = time.monotonic()
            written = analytics_flush()
            log.write(json.dumps({"ms": (time.monotonic() - began) * 1000, "events": written}) + "\n")
            log.flush()
    return 0


def start_flusher(bench_url: str, args: argparse.Namespace, log: Path) -> subprocess.Popen:
    """The round's flushing process, once it is ready (its start-up is not the round's load)."""
    process = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--flusher",
            bench_url,
            "--flush-log",
            str(log),
            "--redis-url",
            args.redis_url,
        ],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "spaces_project.settings.bench", "LOG_LEVEL": "WARNING"},
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not (log.exists() and log.read_text().strip()):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process)
            raise SystemExit("the flushing process did not start")
        time.sleep(0.1)
    return process


def run_phase(collect: bool, bench_url: str, args: argparse.Namespace) -> dict:
    from rooms.analytics.services import analytics_flush  # noqa: PLC0415 (after setup_django())
    from rooms.models import ListenerSession  # noqa: PLC0415 (after setup_django())

    room_id = new_room()
    clear_room_keys(args.redis_url, room_id)
    way = "with" if collect else "without"
    log = ROOT / "test-artifacts" / f"bench-analytics-{way}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    flush_log = log.with_name(f"bench-analytics-{way}-flushes.jsonl")
    flush_log.unlink(missing_ok=True)
    port, daphnes = start_daphnes(
        1, bench_url, args.redis_url, log, extra={"ANALYTICS_COLLECT": "1" if collect else "0"}
    )
    flusher = start_flusher(bench_url, args, flush_log)
    try:
        progress(
            f"{args.listeners} listeners over {args.seconds:.0f} s, collection {'on' if collect else 'off'}"
        )
        latencies, failures = asyncio.run(drive(port, room_id, args))
    finally:
        for process in (*daphnes, flusher):
            stop_process(process)
    analytics_flush()  # what the last pushes brought after the flusher's last round
    flushes = (
        [json.loads(line)["ms"] for line in flush_log.read_text().splitlines() if '"ms"' in line]
        if flush_log.exists()
        else []
    )
    sessions = ListenerSession.objects.filter(room_id=room_id, on_stage=False).count()
    closed = ListenerSession.objects.filter(room_id=room_id, left_at__isnull=False).count()
    return {
        "latencies": latencies,
        "p50_ms": round(percentile(latencies, 50), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "joins": len(latencies),
        "failures": failures,
        "sessions": sessions,
        "sessions_closed": closed,
        "flush_p95_ms": round(percentile(flushes, 95), 1) if collect and flushes else None,
    }


def seed_report_room(sessions: int) -> int:
    from django.db import connection  # noqa: PLC0415 (after setup_django())
    from django.utils import timezone  # noqa: PLC0415 (after setup_django())

    from accounts.models import User  # noqa: PLC0415 (after setup_django())
    from rooms.models import ListenerSession, Room  # noqa: PLC0415 (after setup_django())

    room = Room.objects.get(pk=new_room())
    start = timezone.now() - timedelta(hours=3)
    Room.objects.filter(pk=room.pk).update(started_at=start)
    signed_in = sessions * 2 // 3
    people = User.objects.bulk_create(
        User(handle=f"l{room.pk % 10**6}_{i}", email=f"l{room.pk}_{i}@bench.invalid")
        for i in range(signed_in // 2)
    )
    sources = ["home", "topic", "search", "profile", "notification", "share", "direct"]
    rows = []
    for i in range(sessions):
        joined = start + timedelta(seconds=random.uniform(0, 7000))
        left = joined + timedelta(seconds=random.expovariate(1 / 900))
        rows.append(
            ListenerSession(
                room_id=room.pk,
                key=f"r{room.pk}-{i}",
                user=people[i % len(people)] if i < signed_in else None,
                route=random.choice(["websocket", "websocket", "hls"]),
                source=random.choice(sources),
                joined_at=joined,
                left_at=min(left, start + timedelta(hours=2)),
            )
        )
    ListenerSession.objects.bulk_create(rows, batch_size=2000)
    # What autovacuum does soon after a table grows this much: the planner knows the room's rows.
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {ListenerSession._meta.db_table}")
    return room.pk


def time_report(room_id: int, requests: int) -> list[float]:
    from django.test import Client  # noqa: PLC0415 (after setup_django())

    from rooms.models import Room  # noqa: PLC0415 (after setup_django())

    room = Room.objects.select_related("host").get(pk=room_id)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(room.host)
    url = f"/rooms/{room_id}/analytics/"
    assert client.get(url).status_code == 200  # warm
    times = []
    for _ in range(requests):
        began = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200
    return times


def main() -> int:
    args = parse_args()
    if args.flusher:
        return flusher_main(args)
    admin_url, bench_url = database_urls(args.db_name)
    progress(f"creating database {args.db_name}")
    recreate_database(admin_url, args.db_name)
    setup_django(bench_url, args.redis_url)
    from django.core.management import call_command  # noqa: PLC0415 (after setup_django())

    call_command("migrate", verbosity=0, interactive=False)
    load_before = os.getloadavg()
    # Interleaved rounds (off on, on off, ...), so that a machine growing busier or quieter weighs on
    # both ways alike.
    rounds: dict[bool, list[dict]] = {False: [], True: []}
    for n in range(args.rounds):
        for collect in (False, True) if n % 2 == 0 else (True, False):
            phase = run_phase(collect, bench_url, args)
            rounds[collect].append(phase)
            shown = {k: v for k, v in phase.items() if k != "latencies"}
            progress(f"collection {'on' if collect else 'off'}: {shown}")

    def merged(phases: list[dict]) -> dict:
        latencies = [x for p in phases for x in p["latencies"]]
        return {
            "p50_ms": round(percentile(latencies, 50), 1),
            "p99_ms": round(percentile(latencies, 99), 1),
            "rounds_p99_ms": [p["p99_ms"] for p in phases],
            "joins": len(latencies),
            "failures": sum(p["failures"] for p in phases),
            "sessions": sum(p["sessions"] for p in phases),
            "sessions_closed": sum(p["sessions_closed"] for p in phases),
            "flush_p95_ms": max((p["flush_p95_ms"] or 0 for p in phases), default=None),
        }

    without, with_ = merged(rounds[False]), merged(rounds[True])

    from django.utils import timezone  # noqa: PLC0415 (after setup_django())

    from rooms.analytics.services import analytics_room_ended  # noqa: PLC0415 (after setup_django())
    from rooms.models import ListenerSession, Room  # noqa: PLC0415 (after setup_django())

    progress(f"a room with {args.report_sessions} sessions: its report while live, then ended")
    room_id = seed_report_room(args.report_sessions)
    sessions = ListenerSession.objects.filter(room_id=room_id).count()
    live = time_report(room_id, args.report_requests)
    Room.objects.filter(pk=room_id).update(
        state=Room.State.ENDED, ended_at=timezone.now() - timedelta(hours=1)
    )
    began = time.perf_counter()
    analytics_room_ended(room_id=room_id)
    ended_ms = (time.perf_counter() - began) * 1000
    ended = time_report(room_id, args.report_requests)
    details = {
        "without": without,
        "with": with_,
        "sessions_written": with_["sessions"],
        "report_live_p50_ms": round(percentile(live, 50), 1),
        "room_ended_figures_ms": round(ended_ms, 1),
        "report_p50_ms": round(percentile(ended, 50), 1),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(details))
    figures = {
        "sessions": sessions,
        "events_p99_ms_with": with_["p99_ms"],
        "events_p99_ms_without": without["p99_ms"],
        "report_p95_ms": round(percentile(ended, 95), 1),
        "report_live_p95_ms": round(percentile(live, 95), 1),
    }
    met = (
        figures["events_p99_ms_with"] <= TARGETS["events_ratio"] * figures["events_p99_ms_without"]
        and figures["report_p95_ms"] <= TARGETS["report_p95_ms"]
        and figures["report_live_p95_ms"] <= TARGETS["report_p95_ms"]
        and with_["sessions"] == with_["joins"]
    )
    progress("targets met" if met else "targets NOT met")
    print(json.dumps(figures))
    recreate_database(admin_url, args.db_name, drop_only=True)
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
