"""A ticket rush: 500 buyers at once over HTTP against daphne for 100 seats, development provider.

    python bench/tickets.py
    python bench/tickets.py --buyers 500 --seats 100 --processes 2

What it does, all on 127.0.0.1:

1. Drops and recreates its own PostgreSQL database (`bench_tickets` next to the one DATABASE_URL
   names, or --db-name), migrates it and seeds a scheduled room on sale (--seats seats) and
   --buyers people, each with a real Django session.
2. Starts --processes daphne processes on one port (settings `spaces_project.settings.bench`,
   PAYMENT_PROVIDER=development: every checkout is paid at once, so a sale is one request), each
   with a pool of --pool PostgreSQL connections (DB_POOL_MAX_SIZE): daphne runs every request in a
   thread of its own, and without a pool 500 requests at once open 500 connections.
3. Warms the server processes up (the host's own purchase, refused, 80 times), opens one connection
   per buyer, then sends every buyer's "Get a ticket" POST (the room page's
   form, with a CSRF cookie and token) at the same instant. checkout_p95_ms is the 95th percentile
   of the time from a buyer's request to the server's answer (a redirect to their ticket, or back
   to the room saying it is sold out), measured by the client: it includes the queue at the server.
4. Counts in the database: sold (paid tickets), oversold (paid tickets beyond the seats, and the
   room's seat counter beyond its capacity). errors_5xx counts answers of 500 and above, and
   requests that got no answer.
5. The floor: before the sale, the same buyers (same sessions, same daphne processes, one fresh
   connection each, as for the sale) send a POST at the same instant to a view that only answers
   (bench/floor_urls.py, mounted only here: the session, the user and the CSRF check, then a
   redirect). floor_p95_ms is its p95, measured the same way; the target is
   checkout_p95_ms <= 1.25 x floor_p95_ms (`checkout_to_floor`): what a sale costs beyond merely
   answering 500 signed-in people at once on this machine.

The database is dropped at the end. The last line printed is one JSON object with the figures.
"""

import argparse
import asyncio
import json
import os
import random
import secrets
import sys
import tempfile
import time
from datetime import timedelta
from importlib import import_module
from pathlib import Path

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    database_urls,
    percentile,
    progress,
    recreate_database,
    setup_django,
    start_daphnes,
    stop_process,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--buyers", type=int, default=500)
    parser.add_argument("--seats", type=int, default=100)
    parser.add_argument("--processes", type=int, default=2, help="daphne processes on one port")
    parser.add_argument(
        "--pool", type=int, default=20, help="PostgreSQL connections per daphne (DB_POOL_MAX_SIZE)"
    )
    parser.add_argument(
        "--http-concurrency",
        type=int,
        default=8,
        help="requests in Django at once per daphne (HTTP_MAX_CONCURRENT)",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="per request, seconds")
    parser.add_argument(
        "--ramp",
        type=float,
        default=0.0,
        help="the buyers click over this many seconds after the sale opens (0: all in one instant)",
    )
    parser.add_argument("--db-name", default="bench_tickets")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    return parser.parse_args()


def seed(args: argparse.Namespace) -> dict:
    # The app's modules can be imported only once setup_django() has run with the settings main() chose.
    from accounts.models import User  # noqa: PLC0415 (after setup_django())
    from rooms import tickets  # noqa: PLC0415 (after setup_django())
    from rooms.models import Room  # noqa: PLC0415 (after setup_django())

    call_command("migrate", verbosity=0, interactive=False)
    password = make_password(None)
    host = User.objects.create(handle="bench_host", email="host@bench.invalid", password=password)
    buyers = User.objects.bulk_create(
        User(handle=f"bench_buyer{i}", email=f"buyer{i}@bench.invalid", password=password)
        for i in range(args.buyers)
    )
    room = Room.objects.create(
        title="Benchmark ticketed room",
        host=host,
        state=Room.State.SCHEDULED,
        scheduled_for=timezone.now() + timedelta(days=1),
    )
    tickets.ticket_sales_set(room_id=room.pk, actor=host, price="10.00", capacity=args.seats)
    store = import_module(settings.SESSION_ENGINE).SessionStore

    def cookie(user) -> str:
        session = store()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        return session.session_key

    return {
        "room_id": room.pk,
        "sessions": [cookie(user) for user in buyers],
        "host_session": cookie(host),
        "session_cookie": settings.SESSION_COOKIE_NAME,
        "csrf_cookie": settings.CSRF_COOKIE_NAME,
    }


async def buy(
    port: int,
    path: str,
    cookie_names: tuple[str, str],
    session_key: str,
    start: asyncio.Event,
    timeout: float,
    delay: float = 0.0,
):
    """One buyer: connect, wait for the start (and `delay` seconds more: when they click), POST,
    read the status line and Location. Returns (status or None, location, seconds)."""
    session_name, csrf_name = cookie_names
    token = secrets.token_hex(16)
    request = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Cookie: {session_name}={session_key}; {csrf_name}={token}\r\n"
        f"X-CSRFToken: {token}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 0\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    except (TimeoutError, OSError):
        return None, "", 0.0
    await start.wait()
    if delay:
        await asyncio.sleep(delay)
    began = time.monotonic()
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        elapsed = time.monotonic() - began
    except (TimeoutError, OSError, asyncio.IncompleteReadError):
        return None, "", time.monotonic() - began
    finally:
        writer.close()
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    location = next(
        (line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("location:")), ""
    )
    return status, location, elapsed


async def warm_up(port: int, seeded: dict, timeout: float, rounds: int = 20) -> None:
    """Load each server process's code before the clock starts: the host asks to buy a ticket for
    their own room (refused, so no seat is taken) through the same view and services."""
    start = asyncio.Event()
    start.set()
    path = f"/rooms/{seeded['room_id']}/tickets/buy/"
    names = (seeded["session_cookie"], seeded["csrf_cookie"])
    for _ in range(rounds):
        await asyncio.gather(
            *(buy(port, path, names, seeded["host_session"], start, timeout) for _ in range(4))
        )


FLOOR_PATH = "/bench/floor/"


async def rush(port: int, seeded: dict, timeout: float, ramp: float, path: str | None = None) -> list[tuple]:
    await warm_up(port, seeded, timeout)
    start = asyncio.Event()
    path = path or f"/rooms/{seeded['room_id']}/tickets/buy/"
    names = (seeded["session_cookie"], seeded["csrf_cookie"])
    # Everyone is connected when the sale opens; each clicks at a moment of the first `ramp` seconds
    # (evenly spread, in a shuffled order), or all in the same instant with --ramp 0.
    count = len(seeded["sessions"])
    moments = [ramp * i / count for i in range(count)]
    random.Random(7).shuffle(moments)
    buyers = [
        asyncio.create_task(buy(port, path, names, key, start, timeout, moment))
        for key, moment in zip(seeded["sessions"], moments, strict=True)
    ]
    await asyncio.sleep(1.0)  # every connection open
    start.set()
    return await asyncio.gather(*buyers)


def main() -> int:
    args = parse_args()
    admin_url, bench_url = database_urls(args.db_name)
    daphnes = []
    try:
        progress(f"recreating {args.db_name} and seeding {args.buyers} buyers, {args.seats} seats")
        recreate_database(admin_url, args.db_name)
        os.environ["PAYMENT_PROVIDER"] = "development"
        setup_django(bench_url, args.redis_url)
        seeded = seed(args)
        log_path = Path(tempfile.mkdtemp(prefix="bench-tickets-")) / "daphne.log"
        port, daphnes = start_daphnes(
            args.processes,
            bench_url,
            args.redis_url,
            log_path,
            extra={
                "PAYMENT_PROVIDER": "development",
                "DB_POOL_MAX_SIZE": str(args.pool),
                "HTTP_MAX_CONCURRENT": str(args.http_concurrency),
                "BENCH_URLCONF": "bench.floor_urls",
            },
        )
        progress(f"{len(daphnes)} daphne process(es) on {port}; the floor: {args.buyers} buyers at once")
        floor = asyncio.run(rush(port, seeded, args.timeout, args.ramp, path=FLOOR_PATH))
        floor_ms = [elapsed * 1000 for status, _, elapsed in floor if status == 302]
        floor_errors = sum(1 for status, _, _ in floor if status != 302)
        progress(
            f"floor answered p50 {percentile(floor_ms, 50) or 0:.0f} / p95 {percentile(floor_ms, 95) or 0:.0f} ms"
            f" ({floor_errors} not answered with a redirect)"
        )
        progress(f"the sale: {args.buyers} buyers at once")
        results = asyncio.run(rush(port, seeded, args.timeout, args.ramp))

        from rooms.models import Room, Ticket  # noqa: PLC0415 (after setup_django())

        connection.close()
        room = Room.objects.get(pk=seeded["room_id"])
        sold = Ticket.objects.filter(room=room, status=Ticket.Status.PAID).count()
        answered = [r for r in results if r[0] is not None]
        to_ticket = sum(
            1 for status, location, _ in answered if status == 302 and location.startswith("/tickets/")
        )
        refused = sum(
            1 for status, location, _ in answered if status == 302 and location.startswith("/rooms/")
        )
        errors = sum(1 for r in results if r[0] is None or r[0] >= 500)
        oversold = max(0, sold - args.seats) + max(0, room.tickets_taken - (room.ticket_capacity or 0))
        latencies = [elapsed * 1000 for status, _, elapsed in answered]
        sale_ms = [e * 1000 for st, loc, e in answered if loc.startswith("/tickets/")]
        refused_ms = [e * 1000 for st, loc, e in answered if loc.startswith("/rooms/")]
        progress(
            f"tickets answered p50 {percentile(sale_ms, 50) or 0:.0f} / p95 {percentile(sale_ms, 95) or 0:.0f} ms; "
            f"sold out p50 {percentile(refused_ms, 50) or 0:.0f} / p95 {percentile(refused_ms, 95) or 0:.0f} ms"
        )
        progress(
            f"answers: {to_ticket} to a ticket, {refused} sold out, {errors} errors; "
            f"seat counter {room.tickets_taken}/{room.ticket_capacity}; "
            f"p50 {percentile(latencies, 50):.0f} ms, max {max(latencies):.0f} ms"
        )
        figures = {
            "buyers": args.buyers,
            "seats": args.seats,
            "sold": sold,
            "oversold": oversold,
            "errors_5xx": errors,
            "checkout_p95_ms": round(percentile(latencies, 95) or 0, 1),
            "floor_p95_ms": round(percentile(floor_ms, 95) or 0, 1),
            "floor_errors": floor_errors,
            "checkout_to_floor": round((percentile(latencies, 95) or 0) / (percentile(floor_ms, 95) or 1), 2),
            "sales_p95_ms": round(percentile(sale_ms, 95) or 0, 1),
            "sold_out_p95_ms": round(percentile(refused_ms, 95) or 0, 1),
            "load_average": round(os.getloadavg()[0], 1),
            "targets": {"checkout_to_floor": 1.25, "sold": args.seats, "oversold": 0, "errors_5xx": 0},
        }
    finally:
        for daphne in daphnes:
            stop_process(daphne)
        try:
            connections.close_all()
        except Exception:
            pass
        recreate_database(admin_url, args.db_name, drop_only=True)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
