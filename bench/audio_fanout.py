"""Audio fan-out in one room: one speaker talking, N listener sockets, loss, lag, bandwidth, server CPU.

    python bench/audio_fanout.py --listeners 2000 [--seconds 60]
    python bench/audio_fanout.py --listeners 2000 --server-processes 1 --bundle-frames 3

All on 127.0.0.1, bounded by --timeout; it stops by itself.

1. Drops and recreates its own PostgreSQL database (--db-name, next to the one DATABASE_URL names),
   seeds a live room that allows anonymous listeners (a host, --signed-in signed-in listeners, the
   rest anonymous), and starts the production layout: --server-processes daphne processes accepting
   on one port (settings `spaces_project.settings.bench`; the kernel hands each connection to one
   process, and each process subscribes to the room's audio channel once and writes every bundle
   to its own sockets) and one `manage.py run_mixer` process on Redis.
2. The host unmutes. The listeners connect from --workers client processes. Each is a lean
   websocket client (bench/harness/lean.py LeanListener: asyncio Protocol, parses frames itself) that
   answers daphne's pings and sends the protocol's heartbeat every `heartbeat_seconds`.
3. The host talks continuously (speech-like audio, Opus 32 kbps, real-time 20 ms frames, so no bundle
   is silent). After --warmup seconds the window of --seconds starts. A Redis subscriber in the
   driver records every program bundle the mixer publishes; the program bundles mixed inside the
   window are what each listener is expected to receive.
   lost_bundles = listeners x expected - received (summed over listeners).
   lag = arrival - mix time of the bundle's last frame (mixed_ms of the first frame + (N - 1) x 20 ms,
   from the bundle header): from the moment the bundle could be sent to the moment the listener's
   client has it. One machine, so time.time() is shared.
   kbps_per_listener = payload bytes of the binary frames x 8 / window / 1000, per listener.
   server_cpu_pct = CPU of the daphne processes + the mixer process in the window, % of one core.

The last line printed is one JSON object.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import resource
import struct
import sys
import time
from array import array
from collections import Counter
from pathlib import Path

import redis.asyncio as aioredis
from django.conf import settings
from django.db import connections

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _audio  # noqa: E402
import harness  # noqa: E402

TARGETS = {"listeners": 2000, "lost_bundles": 0, "lag_p95_ms": 500, "kbps_per_listener": 40}
_HEAD = struct.Struct(">IBBIddB")  # receiver, then the bundle header (rooms/audio/wire.py)


# ---------------------------------------------------------------------------------------------
# Worker processes: hold the listeners
# ---------------------------------------------------------------------------------------------


def worker_main(conn, port: int, path: str, cookies: list, options: dict) -> None:
    try:
        asyncio.run(_worker(conn, port, path, cookies, options))
    except KeyboardInterrupt:
        pass


async def _worker(conn, port: int, path: str, cookies: list, options: dict) -> None:
    listeners: list = []
    failures: Counter = Counter()
    async for command, payload in harness.commands(conn, options["deadline"]):
        if command == "connect":
            limit = asyncio.Semaphore(options["connect_concurrency"])

            async def one(cookie, limit=limit):
                async with limit:
                    try:
                        listeners.append(
                            await harness.open_lean(port, path, cookie, options["connect_timeout"])
                        )
                    except Exception as error:  # every failure is counted, whatever its kind
                        failures[str(error) or type(error).__name__] += 1

            await asyncio.gather(*(one(c) for c in cookies))
            conn.send({"ok": len(listeners), "failures": dict(failures)})
        elif command == "cpu":
            conn.send(time.process_time())
        elif command == "results":
            expected = set(payload)
            lost, received, payload_bytes, wire_bytes = 0, 0, 0, 0
            lags = array("f")
            for listener in listeners:
                got = 0
                for seq, lag in zip(listener.seqs, listener.lags, strict=True):
                    if seq in expected:
                        got += 1
                        lags.append(lag)
                lost += len(expected) - got
                received += got
            # Bytes: over the whole time the listener was connected, scaled later by bundles.
            payload_bytes = sum(listener.audio_bytes for listener in listeners)
            wire_bytes = sum(listener.audio_wire_bytes for listener in listeners)
            bundles_total = sum(len(listener.seqs) for listener in listeners)
            conn.send(
                {
                    "lost": lost,
                    "received": received,
                    "lags": lags.tobytes(),
                    "payload_bytes": payload_bytes,
                    "wire_bytes": wire_bytes,
                    "bundles_total": bundles_total,
                    "text_frames": sum(listener.text_frames for listener in listeners),
                    "text_bytes": sum(listener.text_bytes for listener in listeners),
                    "pings": sum(listener.pings for listener in listeners),
                    "closed": dict(
                        Counter(listener.close_code for listener in listeners if listener.close_code)
                    ),
                    "cpu_seconds": time.process_time(),
                }
            )
        elif command == "close":
            for listener in listeners:
                listener.close()
            await asyncio.sleep(0.5)
            conn.send("closed")
    for listener in listeners:
        listener.close()


# ---------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=60.0, help="the measured window")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--signed-in", type=int, default=20, help="listeners that are signed in")
    parser.add_argument("--workers", type=int, default=2, help="client processes for the listeners")
    parser.add_argument("--server-processes", type=int, default=2, help="daphne processes on one port")
    parser.add_argument("--bundle-frames", type=int, help="AUDIO_BUNDLE_FRAMES for the server")
    parser.add_argument("--connect-concurrency", type=int, default=40, help="per worker")
    parser.add_argument("--connect-timeout", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, help="the whole run, seconds (default: window + 240)")
    parser.add_argument("--db-name", default="bench_audio_fanout")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    if not args.redis_url.startswith(("redis://127.", "redis://localhost")):
        parser.error("--redis-url must be on this machine")
    args.timeout = args.timeout or args.seconds + args.warmup + 240
    return args


class Driver(harness.WorkerPipes):
    def __init__(self, args, port: int, seeded: dict, daphne_pids: list[int], mixer_pid: int) -> None:
        self.args, self.port, self.seeded = args, port, seeded
        self.daphne_pids, self.mixer_pid = daphne_pids, mixer_pid
        self.path = f"/ws/rooms/{seeded['room_id']}/"
        self.pipes: list = []
        self.workers: list = []
        self.figures: dict = {}
        self.program: list[tuple[int, float, int, int]] = []  # (seq, mixed_ms, frames, bytes)

    def start_workers(self, deadline: float) -> None:
        context = multiprocessing.get_context("spawn")
        cookies: list = list(self.seeded["listeners"])
        cookies += [None] * (self.args.listeners - len(cookies))
        random.Random(7).shuffle(cookies)
        options = {
            "deadline": deadline,
            "connect_timeout": self.args.connect_timeout,
            "connect_concurrency": self.args.connect_concurrency,
        }
        for i in range(self.args.workers):
            parent, child = context.Pipe()
            process = context.Process(
                target=worker_main,
                args=(child, self.port, self.path, cookies[i :: self.args.workers], options),
                daemon=True,
            )
            process.start()
            self.pipes.append(parent)
            self.workers.append(process)

    async def monitor(self, ready: asyncio.Event) -> None:
        """Record every program bundle the mixer publishes (what each web process receives once)."""
        from rooms.live.bus import audio_channel  # noqa: PLC0415 (reads the settings: after setup_django())

        client = aioredis.Redis.from_url(self.args.redis_url)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(audio_channel(self.seeded["room_id"]))
        ready.set()
        try:
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is None or message.get("type") != "message":
                    continue
                data = message["data"]
                receiver, _, _, seq, mixed_ms, _, count = _HEAD.unpack_from(data)
                if receiver == 0:
                    self.program.append((seq, mixed_ms, count, len(data) - 4))
        finally:
            await pubsub.aclose()
            await client.aclose()

    def server_cpu(self) -> tuple[float, float]:
        return harness.cpu_seconds(self.daphne_pids), harness.cpu_seconds([self.mixer_pid])

    async def run(self) -> dict:
        args, seeded, figures = self.args, self.seeded, self.figures
        deadline = time.monotonic() + args.timeout - 20
        self.start_workers(deadline)
        origin = f"http://127.0.0.1:{self.port}"
        host = _audio.RoomClient(f"ws://127.0.0.1:{self.port}{self.path}", origin, seeded["host"][1])
        host.keep_audio = False
        await host.open()
        await host.unmute(seeded["host"][0])

        talk_seconds = args.warmup + args.seconds + 4
        harness.progress(f"encoding {talk_seconds:.0f} s of speech-like audio")
        packets = _audio.encode_all(_audio.speech_like(talk_seconds, seed=11))
        figures["uplink_packet_bytes"] = sum(map(len, packets)) / len(packets)

        harness.progress(f"connecting {args.listeners} listeners from {args.workers} processes")
        started = time.monotonic()
        connected = await self.ask_async("connect", timeout=args.timeout / 2)
        figures["connect_seconds"] = time.monotonic() - started
        figures["listeners_connected"] = sum(a["ok"] for a in connected)
        figures["connect_failures"] = dict(sum((Counter(a["failures"]) for a in connected), Counter()))
        await asyncio.sleep(3)  # the audience broadcasts after the joins settle

        ready = asyncio.Event()
        monitor = asyncio.create_task(self.monitor(ready))
        await ready.wait()
        harness.progress(f"talking: {args.warmup:g} s warm-up, then {args.seconds:g} s measured")
        start = time.time() + 0.2
        talking = asyncio.create_task(host.talk(packets, start, first_seq=1))
        window_start = start + args.warmup
        await asyncio.sleep(max(0.0, window_start - time.time()))
        cpu0 = self.server_cpu()
        clients0 = sum(await self.ask_async("cpu"))
        machine0 = harness.machine_busy_seconds()
        driver0 = time.process_time()
        load0 = os.getloadavg()[0]
        window_end = window_start + args.seconds
        await asyncio.sleep(max(0.0, window_end - time.time()))
        cpu1 = self.server_cpu()
        clients1 = sum(await self.ask_async("cpu"))
        machine1 = harness.machine_busy_seconds()
        figures["driver_cpu_seconds"] = time.process_time() - driver0
        await talking
        figures["speaker_closed"] = host.closed_while_talking
        await asyncio.sleep(2)  # the last bundles of the window drain
        monitor.cancel()

        window = window_end - window_start
        figures["window_seconds"] = window
        figures["daphne_cpu_seconds"] = cpu1[0] - cpu0[0]
        figures["mixer_cpu_seconds"] = cpu1[1] - cpu0[1]
        figures["client_cpu_seconds"] = clients1 - clients0
        figures["machine_busy_percent"] = round(
            100 * (machine1[0] - machine0[0]) / max(machine1[1] - machine0[1], 1e-9), 1
        )
        figures["machine_cpu_seconds"] = machine1[0] - machine0[0]
        figures["load"] = (load0, os.getloadavg()[0])

        expected = [
            seq for seq, mixed, _, _ in self.program if window_start * 1000 <= mixed < window_end * 1000
        ]
        figures["program_bundles"] = len(expected)
        figures["program_bundle_bytes"] = sum(
            size for seq, mixed, _, size in self.program if window_start * 1000 <= mixed < window_end * 1000
        ) / max(len(expected), 1)
        figures["frames_per_bundle"] = Counter(count for _, _, count, _ in self.program).most_common(1)[0][0]
        # A gap in the published sequence is a bundle the mixer skipped (silence) or never made.
        figures["mixer_gaps"] = sum(
            1
            for (a, _, n, _), (b, _, _, _) in zip(self.program, self.program[1:], strict=False)
            if (b - a) & 0xFFFFFFFF != n
        )
        results = await self.ask_async("results", expected, timeout=120)
        lags = array("f")
        for r in results:
            lags.frombytes(r["lags"])
        figures["lags"] = lags
        figures["lost_bundles"] = sum(r["lost"] for r in results)
        figures["received"] = sum(r["received"] for r in results)
        total_bundles = sum(r["bundles_total"] for r in results)
        payload = sum(r["payload_bytes"] for r in results)
        wire_bytes = sum(r["wire_bytes"] for r in results)
        figures["bytes_per_bundle"] = payload / max(total_bundles, 1)
        figures["framing_bytes_per_bundle"] = (wire_bytes - payload) / max(total_bundles, 1)
        figures["text_frames"] = sum(r["text_frames"] for r in results)
        figures["text_bytes"] = sum(r["text_bytes"] for r in results)
        figures["pings"] = sum(r["pings"] for r in results)
        figures["closed"] = dict(sum((Counter(r["closed"]) for r in results), Counter()))
        await self.ask_async("close", timeout=60)
        await host.close()
        return figures


def wire_frame_ms() -> int:
    return _audio.wire.FRAME_MS


def report(args, figures: dict, mode: str) -> dict:
    connected = figures.get("listeners_connected") or 0
    window = figures.get("window_seconds") or args.seconds
    lags = list(figures.get("lags", []))
    per_bundle = figures.get("bytes_per_bundle", 0)
    bundles_per_s = (figures.get("program_bundles") or 0) / window
    kbps = per_bundle * bundles_per_s * 8 / 1000 if connected else None
    framing = figures.get("framing_bytes_per_bundle", 0) * bundles_per_s * 8 / 1000
    server_cpu = figures.get("daphne_cpu_seconds", 0) + figures.get("mixer_cpu_seconds", 0)
    lost = figures.get("lost_bundles")
    if lost is not None:
        lost += (args.listeners - connected) * (figures.get("program_bundles") or 0)
    line = {
        "listeners": connected,
        "lost_bundles": lost,
        "lag_p95_ms": round(harness.percentile(lags, 95), 1) if lags else None,
        "kbps_per_listener": round(kbps, 1) if kbps is not None else None,
        "server_cpu_pct": round(100 * server_cpu / window, 1) if "daphne_cpu_seconds" in figures else None,
    }
    print(f"server: {mode}")
    print(
        f"machine: {os.cpu_count()} cores; load average {figures.get('load', (0, 0))[0]:.1f} at the window's start, "
        f"{figures.get('load', (0, 0))[1]:.1f} at its end; {figures.get('machine_busy_percent')}% of both cores busy "
        f"in the window"
    )
    print(
        f"listeners: {args.listeners} asked ({min(args.signed_in, args.listeners)} signed in), {connected} connected "
        f"in {figures.get('connect_seconds', 0):.1f} s from {args.workers} processes; failures "
        f"{figures.get('connect_failures') or 'none'}; closed during the run {figures.get('closed') or 'none'}"
    )
    print(
        f"program: {figures.get('program_bundles')} bundles mixed in the {window:.0f} s window "
        f"({bundles_per_s:.1f}/s, {figures.get('frames_per_bundle')} frames of 20 ms each, "
        f"{figures.get('program_bundle_bytes', 0):.0f} bytes; uplink packets {figures.get('uplink_packet_bytes', 0):.0f} bytes); "
        f"gaps in the mixer's sequence {figures.get('mixer_gaps')}"
    )
    if figures.get("speaker_closed"):
        code, after = figures["speaker_closed"]
        print(f"THE SERVER CLOSED THE SPEAKER'S SOCKET (code {code}) {after:.1f} s into the talk")
    print(
        f"deliveries: expected {connected * (figures.get('program_bundles') or 0)}, received {figures.get('received')}, "
        f"lost {lost}"
    )
    if lags:
        print(
            f"lag (last frame mixed -> listener has the bundle): p50 {harness.percentile(lags, 50):.1f} ms, "
            f"p95 {harness.percentile(lags, 95):.1f} ms, p99 {harness.percentile(lags, 99):.1f} ms, max {max(lags):.1f} ms"
        )
    if kbps is not None:
        print(
            f"bandwidth per listener: {kbps:.1f} kbit/s of websocket payload ({per_bundle:.0f} bytes a bundle); "
            f"websocket framing adds {framing:.2f} kbit/s; TCP/IP headers add roughly "
            f"{bundles_per_s * 52 * 8 / 1000:.1f} kbit/s more (52 bytes a segment, one segment a bundle); "
            f"text events: {figures.get('text_frames', 0) / max(connected, 1):.1f} frames, "
            f"{figures.get('text_bytes', 0) / max(connected, 1) / 1024:.1f} KiB per listener over the run"
        )
    if figures.get("frames_per_bundle"):
        nominal = 1000 / (wire_frame_ms() * figures["frames_per_bundle"])
        print(
            f"  at the full rate of a continuous voice ({nominal:.1f} bundles/s): "
            f"{per_bundle * nominal * 8 / 1000:.1f} kbit/s of payload; the mixer made "
            f"{100 * bundles_per_s / nominal:.0f}% of that in the window"
        )
    if "daphne_cpu_seconds" in figures:
        print(
            f"CPU in the window ({window:.0f} s): daphne {figures['daphne_cpu_seconds']:.1f} s "
            f"({100 * figures['daphne_cpu_seconds'] / window:.0f}% of a core over {args.server_processes} processes), "
            f"mixer {figures['mixer_cpu_seconds']:.1f} s ({100 * figures['mixer_cpu_seconds'] / window:.1f}%), "
            f"listener clients {figures['client_cpu_seconds']:.1f} s, driver {figures['driver_cpu_seconds']:.1f} s, "
            f"everything else (Redis, PostgreSQL, other jobs) "
            f"{figures['machine_cpu_seconds'] - server_cpu - figures['client_cpu_seconds'] - figures['driver_cpu_seconds']:.1f} s"
        )
    misses = []
    if connected < TARGETS["listeners"]:
        misses.append(f"{connected} listeners < {TARGETS['listeners']}")
    if lost != 0:
        misses.append(f"lost {lost}")
    if line["lag_p95_ms"] is None or line["lag_p95_ms"] > TARGETS["lag_p95_ms"]:
        misses.append(f"lag p95 {line['lag_p95_ms']} ms > {TARGETS['lag_p95_ms']}")
    if line["kbps_per_listener"] is None or line["kbps_per_listener"] > TARGETS["kbps_per_listener"]:
        misses.append(f"{line['kbps_per_listener']} kbit/s > {TARGETS['kbps_per_listener']}")
    print("targets: " + ("all met" if not misses else "MISSED: " + "; ".join(misses)))
    return line


def main() -> int:
    args = parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # daphne and the workers inherit it
    admin_url, bench_url = harness.database_urls(args.db_name)
    processes = []
    failed = None
    driver = None
    mode = "not started"
    extra = {"AUDIO_BUNDLE_FRAMES": str(args.bundle_frames)} if args.bundle_frames else {}
    try:
        harness.progress(f"creating database {args.db_name}")
        harness.recreate_database(admin_url, args.db_name)
        harness.setup_django(bench_url, args.redis_url)
        seeded = harness.seed(
            argparse.Namespace(speakers=0, reactors=0, hand_raisers=0, signed_in=args.signed_in), migrate=True
        )
        harness.clear_room_keys(args.redis_url, seeded["room_id"])
        logs = harness.ROOT / "test-artifacts"
        logs.mkdir(exist_ok=True)
        port, daphnes = harness.start_daphnes(
            args.server_processes, bench_url, args.redis_url, logs / "bench-audio-fanout-daphne.log", extra
        )
        processes += daphnes
        mixer = harness.start_mixer(bench_url, args.redis_url, logs / "bench-audio-fanout-mixer.log", extra)
        processes.append(mixer)
        harness.wait_for_lease(args.redis_url, seeded["room_id"])
        mode = (
            f"{len(daphnes)} daphne process(es) (pid {' '.join(str(d.pid) for d in daphnes)}) on 127.0.0.1:{port} "
            f"+ run_mixer pid {mixer.pid} on Redis {args.redis_url}; bundles of "
            f"{args.bundle_frames or settings.AUDIO_BUNDLE_FRAMES} frames"
        )
        driver = Driver(args, port, seeded, [d.pid for d in daphnes], mixer.pid)
        asyncio.run(asyncio.wait_for(driver.run(), args.timeout - 15))
    except BaseException as error:
        failed = error
    finally:
        if driver is not None:
            driver.stop_workers()
        for process in processes:
            harness.stop_process(process)
        if settings.configured:  # Django was set up
            connections.close_all()
        if not args.keep_db:
            harness.recreate_database(admin_url, args.db_name, drop_only=True)
    if failed is not None:
        print(f"benchmark did not finish: {type(failed).__name__}: {failed}", file=sys.stderr)
    line = report(args, driver.figures if driver else {}, mode)
    print(json.dumps(line))
    return 1 if failed is not None else 0


if __name__ == "__main__":
    sys.exit(main())
