"""Event fan-out in one live room: N listener sockets, 200 events, latency, loss, memory, connects.

    python bench/room_events.py                  # starts daphne on a free port
    python bench/room_events.py --listeners 200  # a smaller room
    python bench/room_events.py --target ws://127.0.0.1:8000 --server-pid 1234

What it does, all on 127.0.0.1 and bounded by --timeout (300 s):

1. Drops and recreates its own PostgreSQL database (`bench_room_events` next to the one
   DATABASE_URL names, or --db-name), migrates it and seeds a live room: a host, speakers on stage,
   "reactors" and "hand raisers" (signed-in people who send the events), and a few signed-in
   listeners. Every signed-in socket carries a real Django session cookie. The bulk of the
   listeners are anonymous (the room allows them), as most of a large audience would be.
   With --target nothing is dropped: the accounts and room are added to the database DATABASE_URL
   names, which must be the one the target server uses.
2. Starts daphne (settings `spaces_project.settings.bench`: DEBUG off, Redis channel layer, room
   bus and presence in Redis) and clears the room's Redis keys.
3. Connects the actors, reads the server's RSS, connects the listeners from --workers client
   processes (the `websockets` library; one asyncio process cannot both drive a thousand sockets
   and time them fairly on two cores), waits, reads the RSS again: kib_per_socket is the
   difference over the number of listeners.
4. Sends --events actions at --rate a second, round robin: emoji reactions from the reactors
   (each stays under the 1 a second limit), hand raises and lowers, a speaker unmuting and the
   host muting them again. Each action produces one event every listener must receive; an event
   is matched by its content and its occurrence on that socket. Latency is from just before the
   actor's send to the moment the listener's client hands the frame over (CLOCK_MONOTONIC, shared
   by all processes), so it includes the client's own scheduling delay: it errs high, not low.
   lost = listeners x events sent - events received.
5. Closes the listeners and then opens --burst sockets at the same instant (asyncio.gather in each
   worker, one shared start time): connect_failures counts handshakes refused or failed, sockets
   closed before their snapshot, and snapshots not received within --connect-timeout.
6. A web process restart (bench/reconnect_storm.py, skipped with --no-restart): production's layout
   from deploy/ (nginx in front of two web processes on unix sockets) on the same database, the
   listeners connected through nginx, then web process 1 restarted as `systemctl restart` does it;
   reconnect_p99_s is the time from the restart until 99 % of its listeners have their snapshot
   again (target 3 s).

Every socket beats (`heartbeat`) every `heartbeat_seconds` from its snapshot. The last line
printed is one JSON object with the figures.
"""

import argparse
import asyncio
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from django.conf import settings
from django.db import connections

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    ROOT,
    EventClient,
    WorkerPipes,
    clear_room_keys,
    cpu_seconds,
    database_urls,
    events_worker_main,
    free_port,
    machine_busy_seconds,
    percentile,
    progress,
    recreate_database,
    rss_kib,
    run_and_report,
    seed,
    setup_django,
    start_daphne,
    stop_process,
)
from reconnect_storm import run_storm  # noqa: E402

from spaces_project.protocol import REACTIONS  # noqa: E402

PATTERN = "RHRURHRMRH"  # 5 reactions, 3 hand raises or lowers, 1 unmute, 1 mute in every ten
REACTION_SPACING_SECONDS = 1.5  # per reactor: under the 1 a second limit, with room for jitter

TARGETS = {
    "listeners": 1000,
    "p99_ms": 250,
    "lost": 0,
    "kib_per_socket": 64,
    "connect_failures": 0,
    "reconnect_p99_s": 3.0,
}


# ---------------------------------------------------------------------------------------------
# The driver: database, server, actors, schedule, figures.
# ---------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument("--signed-in", type=int, default=20, help="listeners that are signed in")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="actions per second")
    parser.add_argument("--burst", type=int, default=500, help="sockets connecting at once")
    parser.add_argument("--workers", type=int, default=2, help="client processes for the listeners")
    parser.add_argument(
        "--server-processes",
        type=int,
        default=os.cpu_count() or 1,
        help="daphne processes sharing one listening socket (default: one per core, as in production)",
    )
    parser.add_argument("--connect-concurrency", type=int, default=50, help="per worker, listener phase")
    parser.add_argument("--connect-timeout", type=float, default=20.0)
    parser.add_argument("--speakers", type=int, default=4)
    parser.add_argument("--reactors", type=int, default=10)
    parser.add_argument("--hand-raisers", type=int, default=6)
    parser.add_argument("--timeout", type=float, default=300.0, help="the whole run, seconds")
    parser.add_argument("--db-name", default="bench_room_events")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    parser.add_argument("--target", help="ws://127.0.0.1:PORT of a running server instead of starting one")
    parser.add_argument("--server-pid", type=int, help="with --target: the server's pid, for memory")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database at the end")
    parser.add_argument(
        "--no-restart", action="store_true", help="skip phase 6, the web process restart behind nginx"
    )
    args = parser.parse_args()
    if args.target and not args.target.startswith(("ws://127.", "ws://localhost", "ws://[::1]")):
        parser.error("--target must be on this machine (ws://127.0.0.1:PORT)")
    if not args.redis_url.startswith(("redis://127.", "redis://localhost")):
        parser.error("--redis-url must be on this machine")
    return args


class Driver(WorkerPipes):
    def __init__(self, args: argparse.Namespace, url: str, origin: str, seeded: dict, server_pids: list[int]):
        self.args = args
        self.url = url
        self.origin = origin
        self.seeded = seeded
        self.server_pids = server_pids
        self.pipes: list = []
        self.workers: list = []
        self.figures: dict = {}

    def start_workers(self, deadline: float) -> None:
        context = multiprocessing.get_context("spawn")
        cookies: list[str | None] = list(self.seeded["listeners"])
        cookies += [None] * (self.args.listeners - len(cookies))
        random.Random(7).shuffle(cookies)
        shares = [cookies[i :: self.args.workers] for i in range(self.args.workers)]
        options = {
            "deadline": deadline,
            "connect_timeout": self.args.connect_timeout,
            "connect_concurrency": self.args.connect_concurrency,
        }
        for share in shares:
            parent, child = context.Pipe()
            process = context.Process(
                target=events_worker_main, args=(child, self.url, self.origin, share, options), daemon=True
            )
            process.start()
            self.pipes.append(parent)
            self.workers.append(process)

    async def run(self) -> dict:
        args, seeded = self.args, self.seeded
        figures = self.figures
        deadline = time.monotonic() + args.timeout - 20
        self.start_workers(deadline)

        # Actors first, so that their own joins are over before any listener is there.
        host = EventClient(self.url, self.origin, seeded["host"][1])
        speakers = [EventClient(self.url, self.origin, c) for _, c in seeded["speakers"]]
        reactors = [EventClient(self.url, self.origin, c) for _, c in seeded["reactors"]]
        raisers = [EventClient(self.url, self.origin, c) for _, c in seeded["raisers"]]
        actors = [host, *speakers, *reactors, *raisers]
        for actor in actors:
            await actor.open(args.connect_timeout)
        assert host.snapshot["you"]["role"] == "host", host.snapshot["you"]
        assert all(s.snapshot["you"]["role"] == "speaker" for s in speakers)
        await asyncio.sleep(2)

        rss_before = rss_kib(self.server_pids) if self.server_pids else None
        progress(f"connecting {args.listeners} listeners")
        started = time.monotonic()
        connected = await self.ask_async("connect", timeout=args.timeout)
        figures["connect_seconds"] = time.monotonic() - started
        figures["listeners_connected"] = sum(a["ok"] for a in connected)
        figures["listener_connect_failures"] = dict(
            sum((Counter(a["failures"]) for a in connected), Counter())
        )
        await asyncio.sleep(3)  # the audience broadcast and any lazy allocation settle
        rss_after = rss_kib(self.server_pids) if self.server_pids else None
        if rss_before is not None:
            figures["rss_before_mib"] = rss_before / 1024
            figures["rss_after_mib"] = rss_after / 1024
            figures["kib_per_socket"] = round((rss_after - rss_before) / max(args.listeners, 1), 1)
        else:
            figures["kib_per_socket"] = None

        progress(f"sending {args.events} events")
        sent = await self.send_events(host, speakers, reactors, raisers)
        expected = figures["listeners_connected"] * len(sent)

        # Drain: wait until every listener has every event, or 15 s after the last send.
        drain_until = time.monotonic() + 15
        while time.monotonic() < drain_until:
            if sum(await self.ask_async("count")) >= expected:
                break
            await asyncio.sleep(0.25)
        if self.server_pids:
            figures["server_cpu_seconds_events"] = cpu_seconds(self.server_pids) - figures.pop(
                "_cpu_at_start"
            )
        figures["client_cpu_seconds_events"] = sum(await self.ask_async("cpu")) - figures.pop(
            "_clients_at_start"
        )
        busy0, total0 = figures.pop("_machine_at_start")
        busy1, total1 = machine_busy_seconds()
        figures["events_wall_seconds"] = (total1 - total0) / os.cpu_count()
        figures["machine_busy_percent"] = round(100 * (busy1 - busy0) / max(total1 - total0, 1e-9), 1)
        figures["driver_cpu_seconds_events"] = time.process_time() - figures.pop("_driver_at_start")
        # Whatever else ran on the machine meanwhile (PostgreSQL and Redis, and anybody else's
        # work): on a shared two-core machine this is the first thing to look at in a bad run.
        figures["other_cpu_seconds_events"] = (
            busy1
            - busy0
            - figures.get("server_cpu_seconds_events", 0)
            - figures["client_cpu_seconds_events"]
            - figures["driver_cpu_seconds_events"]
        )
        results = await self.ask_async("results", sent, timeout=120)
        latencies = [ms for r in results for ms in r["latencies"]]
        received = sum(r["matched"] for r in results)
        figures["events"] = len(sent)
        figures["expected"] = expected
        figures["received"] = received
        figures["unexpected"] = sum(r["unexpected"] for r in results)
        figures["lost"] = args.listeners * len(sent) - received
        figures["closed_early"] = dict(sum((Counter(r["closed_early"]) for r in results), Counter()))
        figures["client_cpu_seconds"] = [round(r["cpu_seconds"], 1) for r in results]
        for p in (50, 95, 99):
            value = percentile(latencies, p)
            figures[f"p{p}_ms"] = round(value, 1) if value is not None else None
        figures["max_ms"] = round(max(latencies), 1) if latencies else None
        # Where the time goes: the host's own socket sees each event as soon as the server publishes
        # it (the action's trip through the server), and the spread is first to last listener of
        # the same event (the fan-out).
        host_seen = {(key, n): at for key, n, at in host.received}
        publish = [(host_seen[k] - t0) * 1000 for k, t0 in sent.items() if k in host_seen]
        spans: dict = {}
        for r in results:
            for k, (low, high) in r["spread"].items():
                a, b = spans.get(k, (low, high))
                spans[k] = (min(a, low), max(b, high))
        spread = [(high - low) * 1000 for low, high in spans.values()]
        figures["host_sees_p50_ms"] = round(percentile(publish, 50) or 0, 1)
        figures["host_sees_p99_ms"] = round(percentile(publish, 99) or 0, 1)
        figures["spread_p50_ms"] = round(percentile(spread, 50) or 0, 1)
        figures["spread_p99_ms"] = round(percentile(spread, 99) or 0, 1)
        figures["actor_errors"] = Counter(e.get("code") for actor in actors for e in actor.errors)

        await self.ask_async("close", timeout=60)
        await self.wait_room_empty()
        progress(f"connect burst of {args.burst}")
        start_at = time.monotonic() + 1.0
        share = [
            args.burst // args.workers + (1 if i < args.burst % args.workers else 0)
            for i in range(args.workers)
        ]
        for pipe, count in zip(self.pipes, share, strict=True):
            pipe.send(("burst", (count, start_at)))
        bursts = []
        for pipe in self.pipes:
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError("a worker did not finish the connect burst")
            bursts.append(pipe.recv())
        failures = sum((Counter(b["failures"]) for b in bursts), Counter())
        connect_ms = [ms for b in bursts for ms in b["connect_ms"]]
        figures["connect_failures"] = sum(failures.values())
        figures["connect_failure_reasons"] = dict(failures)
        figures["burst_connect_p50_ms"] = round(percentile(connect_ms, 50) or 0, 1)
        figures["burst_connect_p99_ms"] = round(percentile(connect_ms, 99) or 0, 1)
        figures["burst_connect_max_ms"] = round(max(connect_ms), 1) if connect_ms else None

        for actor in actors:
            await actor.close()
        return figures

    async def wait_room_empty(self) -> None:
        """Let the server finish tearing the listeners down before the burst."""
        client = aioredis.Redis.from_url(self.args.redis_url)
        key = f"spaces:presence:{self.seeded['room_id']}:conns"
        actors = 1 + self.args.speakers + self.args.reactors + self.args.hand_raisers
        try:
            for _ in range(60):
                if await client.hlen(key) <= actors:
                    break
                await asyncio.sleep(0.25)
            await asyncio.sleep(1)
        finally:
            await client.aclose()

    async def send_events(self, host: EventClient, speakers: list, reactors: list, raisers: list) -> dict:
        """Send the actions on schedule; return {(event key, occurrence): send time}."""
        args = self.args
        sent: dict = {}
        occurrences: Counter = Counter()
        ids = {
            "host": self.seeded["host"][0],
            "speakers": [i for i, _ in self.seeded["speakers"]],
            "reactors": [i for i, _ in self.seeded["reactors"]],
            "raisers": [i for i, _ in self.seeded["raisers"]],
        }
        hands = [False] * len(raisers)
        reactor_free_at = [0.0] * len(reactors)
        next_reactor = next_raiser = next_speaker = 0
        unmuted: list[int] = []  # speakers unmuted and not yet muted by the host, in order
        counts: Counter = Counter()
        if self.server_pids:
            self.figures["_cpu_at_start"] = cpu_seconds(self.server_pids)
        self.figures["_clients_at_start"] = sum(await self.ask_async("cpu"))
        self.figures["_machine_at_start"] = machine_busy_seconds()
        self.figures["_driver_at_start"] = time.process_time()
        t0 = time.monotonic() + 0.5
        for i in range(args.events):
            kind = PATTERN[i % len(PATTERN)]
            await asyncio.sleep(max(0.0, t0 + i / args.rate - time.monotonic()))
            if kind == "R":
                r = next_reactor
                next_reactor = (next_reactor + 1) % len(reactors)
                await asyncio.sleep(max(0.0, reactor_free_at[r] - time.monotonic()))
                emoji = REACTIONS[(i // len(reactors)) % len(REACTIONS)]
                key, actor, message = ("reaction", ids["reactors"][r], emoji), reactors[r], {"emoji": emoji}
                message["type"] = "reaction.send"
                reactor_free_at[r] = time.monotonic() + REACTION_SPACING_SECONDS
            elif kind == "H":
                h = next_raiser
                next_raiser = (next_raiser + 1) % len(raisers)
                hands[h] = not hands[h]
                key = ("participant", ids["raisers"][h], "listener", True, hands[h])
                actor, message = raisers[h], {"type": "hand.raise" if hands[h] else "hand.lower"}
            elif kind == "U":
                s = next_speaker
                next_speaker = (next_speaker + 1) % len(speakers)
                unmuted.append(s)
                key = ("participant", ids["speakers"][s], "speaker", False, False)
                actor, message = speakers[s], {"type": "mic.unmute"}
            else:  # "M": the host mutes the speaker who unmuted first; wait until that unmute is in
                s = unmuted.pop(0)
                speaker_id = ids["speakers"][s]
                unmute_key = ("participant", speaker_id, "speaker", False, False)
                wait_until = time.monotonic() + 5
                while host.seen[unmute_key] < occurrences[unmute_key] and time.monotonic() < wait_until:
                    await asyncio.sleep(0.005)
                key = ("participant", speaker_id, "speaker", True, False)
                actor, message = host, {"type": "speaker.mute", "user_id": speaker_id}
            occurrences[key] += 1
            counts[kind] += 1
            sent[(key, occurrences[key])] = time.monotonic()
            await actor.send(message)
        self.figures["actions"] = {
            "reactions": counts["R"],
            "hand_raises_and_lowers": counts["H"],
            "speaker_unmutes": counts["U"],
            "host_mutes": counts["M"],
        }
        self.figures["send_seconds"] = time.monotonic() - t0
        return sent


def report(args: argparse.Namespace, figures: dict, mode: str) -> dict:
    line = {
        "listeners": args.listeners,
        "events": figures.get("events"),
        "lost": figures.get("lost"),
        "p50_ms": figures.get("p50_ms"),
        "p95_ms": figures.get("p95_ms"),
        "p99_ms": figures.get("p99_ms"),
        "kib_per_socket": figures.get("kib_per_socket"),
        "connect_failures": figures.get("connect_failures"),
        "reconnect_p99_s": figures.get("reconnect_p99_s"),
    }
    anonymous = args.listeners - min(args.signed_in, args.listeners)
    print(f"server: {mode}")
    print(f"machine: {os.cpu_count()} cores, load average at the end {os.getloadavg()[0]:.1f}")
    print(
        f"listeners: {args.listeners} ({anonymous} anonymous, {args.listeners - anonymous} signed in) "
        f"in {args.workers} client processes; connected {figures.get('listeners_connected')} "
        f"in {figures.get('connect_seconds', 0):.1f} s; refused {figures.get('listener_connect_failures')}"
    )
    print(
        f"actors: 1 host, {args.speakers} speakers, {args.reactors} reactors, {args.hand_raisers} hand raisers "
        f"(signed in, not counted as listeners)"
    )
    print(
        f"events: {figures.get('events')} at {args.rate:g}/s, sent in {figures.get('send_seconds', 0):.1f} s: "
        f"{figures.get('actions')}; refused by the server: {dict(figures.get('actor_errors', {})) or 'none'}"
    )
    print(
        f"deliveries: expected {args.listeners * (figures.get('events') or 0)}, received {figures.get('received')}, "
        f"lost {figures.get('lost')}, unmatched {figures.get('unexpected')}, "
        f"sockets closed during the run {figures.get('closed_early') or 'none'}"
    )
    print(
        f"latency (send -> listener has the frame): p50 {figures.get('p50_ms')} ms, p95 {figures.get('p95_ms')} ms, "
        f"p99 {figures.get('p99_ms')} ms, max {figures.get('max_ms')} ms"
    )
    print(
        f"  of which: the host's socket has it after p50 {figures.get('host_sees_p50_ms')} ms, "
        f"p99 {figures.get('host_sees_p99_ms')} ms (the action through the server); first to last listener "
        f"p50 {figures.get('spread_p50_ms')} ms, p99 {figures.get('spread_p99_ms')} ms (the fan-out)"
    )
    if figures.get("kib_per_socket") is not None:
        print(
            f"server memory: RSS {figures['rss_before_mib']:.1f} MiB -> {figures['rss_after_mib']:.1f} MiB "
            f"with the listeners: {figures['kib_per_socket']} KiB per socket"
        )
    else:
        print("server memory: not measured (give --server-pid with --target)")
    if "client_cpu_seconds_events" in figures:
        print(
            f"CPU while the events were sent and drained ({figures['events_wall_seconds']:.1f} s on "
            f"{os.cpu_count()} cores, {figures['machine_busy_percent']}% busy): "
            f"server {figures.get('server_cpu_seconds_events', float('nan')):.1f} s, "
            f"listener clients {figures['client_cpu_seconds_events']:.1f} s, "
            f"actors {figures['driver_cpu_seconds_events']:.1f} s, "
            f"everything else (PostgreSQL, Redis, other work) {figures['other_cpu_seconds_events']:.1f} s"
        )
    print(
        f"connect burst: {args.burst} at once, {figures.get('connect_failures')} failed "
        f"{figures.get('connect_failure_reasons') or ''}; connect+snapshot p50 {figures.get('burst_connect_p50_ms')} ms, "
        f"p99 {figures.get('burst_connect_p99_ms')} ms, max {figures.get('burst_connect_max_ms')} ms"
    )
    if "reconnect_p99_s" in figures:
        print(
            f"web process restart behind nginx: {figures.get('storm_on_restarted_process')} of "
            f"{figures.get('storm_connected')} listeners on the restarted process; stopped in "
            f"{figures.get('restart_stop_s')} s, started again in {figures.get('restart_start_s')} s; their "
            f"sockets dropped after p50 {figures.get('dropped_p50_s')} s; snapshot again after p50 "
            f"{figures.get('reconnect_p50_s')} s, p99 {figures.get('reconnect_p99_s')} s, max "
            f"{figures.get('reconnect_max_s')} s; {figures.get('reconnect_failures')} without one; sockets per "
            f"process after {figures.get('after_restart_sockets')}"
        )
    misses = []
    if line["reconnect_p99_s"] is not None and line["reconnect_p99_s"] > TARGETS["reconnect_p99_s"]:
        misses.append(f"reconnect p99 {line['reconnect_p99_s']} s > {TARGETS['reconnect_p99_s']} s")
    if figures.get("reconnect_failures"):
        misses.append(f"{figures['reconnect_failures']} listeners not back after the restart")
    if (line["p99_ms"] or 1e9) > TARGETS["p99_ms"]:
        misses.append(f"p99 {line['p99_ms']} ms > {TARGETS['p99_ms']} ms")
    if line["lost"] != 0:
        misses.append(f"lost {line['lost']}")
    if line["kib_per_socket"] is not None and line["kib_per_socket"] > TARGETS["kib_per_socket"]:
        misses.append(f"{line['kib_per_socket']} KiB per socket > {TARGETS['kib_per_socket']}")
    if line["connect_failures"] != 0:
        misses.append(f"{line['connect_failures']} connect failures")
    print("targets: " + ("all met" if not misses else "MISSED: " + "; ".join(misses)))
    return line


def main() -> int:
    args = parse_args()
    run_deadline = time.monotonic() + args.timeout
    admin_url, bench_url = database_urls(args.db_name)
    daphnes: list[subprocess.Popen] = []
    driver = None
    mode = f"running server {args.target}"

    def run() -> dict:
        nonlocal driver, mode
        try:
            if args.target:
                setup_django(os.environ.get("DATABASE_URL") or bench_url, args.redis_url)
                seeded = seed(args, migrate=False)
                url_base, server_pids = args.target.rstrip("/"), [args.server_pid] if args.server_pid else []
            else:
                progress(f"creating database {args.db_name}")
                recreate_database(admin_url, args.db_name)
                setup_django(bench_url, args.redis_url)
                seeded = seed(args, migrate=True)
                clear_room_keys(args.redis_url, seeded["room_id"])
                port = free_port()
                log_path = ROOT / "test-artifacts" / "bench-room-events-daphne.log"
                log_path.parent.mkdir(parents=True, exist_ok=True)
                if args.server_processes == 1:
                    daphnes.append(start_daphne(port, bench_url, args.redis_url, log_path))
                else:
                    # The processes share one listening socket; the kernel hands each connection to one.
                    listener = socket.socket()
                    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    listener.bind(("127.0.0.1", port))
                    listener.listen(1024)
                    for n in range(args.server_processes):
                        log = log_path.with_name(f"{log_path.stem}-{n}.log")
                        daphnes.append(start_daphne(port, bench_url, args.redis_url, log, listener))
                    listener.close()
                url_base, server_pids = f"ws://127.0.0.1:{port}", [d.pid for d in daphnes]
                mode = (
                    f"daphne pid {' '.join(map(str, server_pids))} on 127.0.0.1:{port} "
                    f"(log {log_path.relative_to(ROOT).parent}/{log_path.stem}*)"
                )
            mode += f"; DEBUG {settings.DEBUG}, CONN_MAX_AGE {settings.DATABASES['default']['CONN_MAX_AGE']}"
            url = f"{url_base}/ws/rooms/{seeded['room_id']}/"
            driver = Driver(args, url, f"http://{urlsplit(url_base).netloc}", seeded, server_pids)
            remaining = run_deadline - time.monotonic() - 10
            asyncio.run(asyncio.wait_for(driver.run(), remaining))
        finally:
            if driver is not None:
                driver.stop_workers()
            for daphne in daphnes:
                stop_process(daphne)
        if not args.target and not args.no_restart:
            progress("phase 6: a web process restart behind nginx")
            driver.figures.update(
                run_storm(database_url=bench_url, listeners=args.listeners, workers=args.workers)
            )
        return driver.figures

    def cleanup() -> None:
        if not args.target:
            if settings.configured:  # Django was set up
                connections.close_all()
            if not args.keep_db:
                recreate_database(admin_url, args.db_name, drop_only=True)

    return run_and_report(
        run,
        cleanup=cleanup,
        line=lambda figures, failed: report(args, driver.figures if driver else {}, mode),
        print_traceback=False,
    )


if __name__ == "__main__":
    sys.exit(main())
