"""The capacity of one box: how many live rooms it holds at once, each with a host and two speakers
talking in turns, 50 websocket listeners, recording and captions on.

    python bench/capacity.py                                  # 1, 2, 3... rooms until a level fails
    python bench/capacity.py --start-rooms 2 --step 2 --max-rooms 10 --level-seconds 30

All on 127.0.0.1, bounded by --max-rooms and --timeout; it stops by itself at the first failing level.

1. Drops and recreates its own PostgreSQL database (--db-name, next to the one DATABASE_URL names)
   and starts the production layout on Redis (--redis-url): --server-processes daphne processes on
   one port, one `manage.py run_mixer`, one `manage.py run_captioner` (Whisper, nice 10) and one
   Celery worker. Recordings are written under a temporary MEDIA_ROOT, removed at the end.
2. Level by level, rooms are added until there are --start-rooms, then --step more each level. A
   room is started by its host through `room_start` (recorded, captions on), so the mixer records it
   and a captioner takes it. The host and two speakers are full clients (bench/_audio.py) that
   take turns saying espeak-ng sentences (a different voice each, real-time 20 ms Opus frames, with
   nothing sent between sentences, as the browser's DTX does); a caption reader (one more listener)
   notes every `room.caption` line; 50 lean listeners (bench/harness/lean.py) per room connect from
   --workers client processes.
3. Each level: --warmup seconds, then a window of --level-seconds, then a grace of
   CAPTION_GRACE_S for the last captions. The level fails when
   * any listener misses a program bundle the mixer published in the window (lost_bundles > 0);
   * mixer lag p99 > 100 ms: for each program bundle published in the window, when the driver's
     Redis subscriber (the place every web process hears it) has it, minus when its last frame was
     due on the room's 20 ms clock (the room's earliest bundle sets the clock), so a tick that runs
     late or a slow publication both count;
   * captions skipped > 5 %: a sentence ended in the window counts as captioned when its speaker's
     final line (not a skipped one, with words) reached the caption reader within CAPTION_GRACE_S
     of the sentence's end.
   The CPU of each kind of process in the window is recorded beside it (% of one core).

Needs espeak-ng, PostgreSQL and Redis. The machine's load average is printed with every level: the
box is meant to be measured alone. The last line printed is one JSON object.
"""

import argparse
import asyncio
import io
import json
import multiprocessing
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from array import array
from collections import Counter
from pathlib import Path

import av
import numpy as np
import redis.asyncio as aioredis
from django.conf import settings
from django.db import connections
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _audio  # noqa: E402
import harness  # noqa: E402

TARGETS = {"lost_bundles": 0, "mixer_lag_p99_ms": 100, "captions_skipped_pct": 5}
SENTENCES = [
    "Welcome everyone to our weekly book club.",
    "We will meet at the library after lunch on Tuesday.",
    "Please remember to bring your umbrella this afternoon.",
    "The train to the city leaves early in the morning.",
    "Thank you all for joining this conversation tonight.",
    "Let us talk about the future of open source software.",
    "The museum is closed on Mondays and holidays.",
    "Our team finished the project two days early.",
    "Please raise your hand if you want to speak.",
]
VOICES = ("en-us", "en-gb-x-rp+m2", "en-us+f3")  # the host, then the two speakers
GAP_S = 0.8  # between one person's sentence and the next person's
CAPTION_GRACE_S = 9.0  # CAPTIONS_MAX_DELAY_S (8 s) and the trip to the page
LISTENER_PATH = "/ws/rooms/{}/"
_HEAD = struct.Struct(">IBBIddB")  # receiver, then the bundle header (rooms/audio/wire.py)


# ---------------------------------------------------------------------------------------------
# Speech
# ---------------------------------------------------------------------------------------------


def spoken_packets(text: str, voice: str) -> list[bytes]:
    """``text`` said by espeak-ng in ``voice``, as the page's 20 ms Opus packets at 48 kHz."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", "140", "--stdout", text], check=True, capture_output=True
    ).stdout
    resampler = av.AudioResampler(format="flt", layout="mono", rate=_audio.RATE)
    pieces = []
    with av.open(io.BytesIO(wav)) as container:
        for frame in container.decode(audio=0):
            pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
    pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    audio = np.concatenate(pieces).astype(np.float32)
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    audio = np.concatenate([audio[loud[0] : loud[-1] + 1], np.zeros(_audio.RATE // 5, np.float32)])
    audio = np.pad(audio, (0, -len(audio) % _audio.FRAME))
    return _audio.encode_all(0.5 * audio / max(float(np.max(np.abs(audio))), 1e-6))


# ---------------------------------------------------------------------------------------------
# The rooms
# ---------------------------------------------------------------------------------------------


class CaptionReader(_audio.RoomClient):
    """A listener that keeps every caption line with the time it arrived, and nothing else."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, keep_audio=False, **kwargs)
        self.captions: list[tuple[float, dict]] = []

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                if isinstance(raw, str):
                    event = json.loads(raw)
                    if event.get("type") == "room.caption":
                        self.captions.append((time.time(), event))
        except ConnectionClosed:
            pass


def create_room(index: int) -> dict:
    """A recorded room with captions on, started by its host; two speakers seated, muted. Sync ORM:
    run it in a thread."""
    # Models exist only once setup_django() has run with the database the script chose.
    from django.utils import timezone  # noqa: PLC0415 (after setup_django())

    from rooms.models import Participant, Room  # noqa: PLC0415 (after setup_django())
    from rooms.services import room_start  # noqa: PLC0415 (after setup_django())

    tag = f"c{int(time.time()) % 100000}r{index}"
    roles = ("host", "speaker1", "speaker2")
    people = harness.seed_people(
        [f"{tag}_{role}" for role in roles], display_names=[f"Bench {role} {index}" for role in roles]
    )
    # Far above a fresh database's ids: pub/sub channels ignore the Redis database number.
    room = Room.objects.create(
        id=random.randrange(900_000_000, 2_000_000_000),
        title=f"Capacity room {index}",
        host=people[0],
        is_recorded=True,
        captions_enabled=True,
        scheduled_for=timezone.now(),
        allow_anonymous=True,
    )
    room_start(room=room, actor=people[0])
    Participant.objects.bulk_create(
        Participant(room=room, user=user, role=Participant.Role.SPEAKER, is_muted=True) for user in people[1:]
    )
    return {"room_id": room.pk, "people": [(user.pk, harness.session_cookie(user)) for user in people]}


class Room:
    def __init__(self, seeded: dict, port: int) -> None:
        self.id = seeded["room_id"]
        self.people = seeded["people"]
        url, origin = f"ws://127.0.0.1:{port}{LISTENER_PATH.format(self.id)}", f"http://127.0.0.1:{port}"
        self.talkers = [_audio.RoomClient(url, origin, cookie, keep_audio=False) for _, cookie in self.people]
        self.reader = CaptionReader(url, origin)
        self.turns: list[tuple[int, float, float]] = []  # (user id, first frame due, last frame due)
        self.program: list[tuple[int, float, int, float]] = []  # (seq, mixed ms, frames, arrival ms)
        self.clock_ms: float | None = None  # mixed ms - seq x 20 of its earliest bundle
        self.tasks: list[asyncio.Task] = []

    async def open(self) -> None:
        await self.reader.open()
        for client, (user_id, _) in zip(self.talkers, self.people, strict=True):
            await client.open()
            await client.unmute(user_id)

    async def converse(self, packets: list[list[list[bytes]]]) -> None:
        """The host and the speakers say one sentence each in turn, for ever."""
        turn, start = 0, time.time() + 0.3
        sequences = [1, 1, 1]
        while True:
            who = turn % 3
            said = packets[who][(turn // 3 + who) % len(SENTENCES)]
            await self.talkers[who].talk(said, start, first_seq=sequences[who])
            end = start + (len(said) - 1) * _audio.wire.FRAME_MS / 1000
            self.turns.append((self.people[who][0], start, end))
            sequences[who] += len(said)
            turn += 1
            start = end + GAP_S

    async def monitor(self, redis_url: str, ready: asyncio.Event) -> None:
        """Record every program bundle the mixer publishes for this room (what each web process gets)."""
        from rooms.live.bus import audio_channel  # noqa: PLC0415 (reads the settings: after setup_django())

        client = aioredis.Redis.from_url(redis_url)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(audio_channel(self.id))
        ready.set()
        frame_ms = _audio.wire.FRAME_MS
        try:
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is None or message.get("type") != "message":
                    continue
                arrival = time.time() * 1000
                receiver, _, _, seq, mixed_ms, _, count = _HEAD.unpack_from(message["data"])
                if receiver == 0:
                    self.program.append((seq, mixed_ms, count, arrival))
                    clock = mixed_ms - seq * frame_ms
                    self.clock_ms = clock if self.clock_ms is None else min(self.clock_ms, clock)
        finally:
            await pubsub.aclose()
            await client.aclose()

    def window(self, start: float, end: float) -> tuple[list[int], list[float]]:
        """Program sequences mixed in [start, end) (s), and each one's mixer lag (ms)."""
        frame_ms = _audio.wire.FRAME_MS
        sequences, lags = [], []
        for seq, mixed_ms, count, arrival in self.program:
            if start * 1000 <= mixed_ms < end * 1000:
                sequences.append(seq)
                lags.append(arrival - (self.clock_ms + (seq + count - 1) * frame_ms))
        return sequences, lags

    def captioned(self, start: float, end: float) -> tuple[int, int]:
        """(sentences that ended in [start, end), how many of them got their final line in time)."""
        done = 0
        ended = [(user, last) for user, _, last in self.turns if start <= last < end]
        for user, last in ended:
            done += any(
                last <= at <= last + CAPTION_GRACE_S  # a final comes at the pause, never before
                and line["user_id"] == user
                and line["final"]
                and not line["skipped"]
                and line["text"].strip()
                for at, line in self.reader.captions
            )
        return len(ended), done

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for client in [*self.talkers, self.reader]:
            await client.close()


# ---------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start-rooms", type=int, default=1)
    parser.add_argument("--step", type=int, default=1, help="rooms added at each level")
    parser.add_argument("--max-rooms", type=int, default=16)
    parser.add_argument("--listeners-per-room", type=int, default=50)
    parser.add_argument("--level-seconds", type=float, default=30.0, help="the measured window of a level")
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=2, help="client processes for the listeners")
    parser.add_argument("--server-processes", type=int, default=2, help="daphne processes on one port")
    parser.add_argument("--connect-concurrency", type=int, default=40, help="per worker")
    parser.add_argument("--connect-timeout", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=1800.0, help="the whole run, seconds")
    parser.add_argument("--db-name", default="bench_capacity")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    if not args.redis_url.startswith(("redis://127.", "redis://localhost")):
        parser.error("--redis-url must be on this machine")
    if not 1 <= args.start_rooms <= args.max_rooms or args.step < 1:
        parser.error("need 1 <= --start-rooms <= --max-rooms and --step >= 1")
    if shutil.which("espeak-ng") is None:
        parser.error("espeak-ng is not installed (apt-get install espeak-ng)")
    return args


class Capacity(harness.WorkerPipes):
    def __init__(self, args, port: int, pids: dict[str, list[int]]) -> None:
        self.args, self.port, self.pids = args, port, pids
        self.pipes: list = []
        self.workers: list = []
        self.rooms: list[Room] = []
        self.levels: list[dict] = []
        self.listeners = 0
        self.recorded = 0
        self.connect_failures: Counter = Counter()

    def start_workers(self, deadline: float) -> None:
        context = multiprocessing.get_context("spawn")
        options = {
            "deadline": deadline,
            "connect_timeout": self.args.connect_timeout,
            "connect_concurrency": self.args.connect_concurrency,
        }
        for _ in range(self.args.workers):
            parent, child = context.Pipe()
            process = context.Process(
                target=harness.rooms_worker_main, args=(child, self.port, options), daemon=True
            )
            process.start()
            self.pipes.append(parent)
            self.workers.append(process)

    async def add_rooms(self, count: int, packets) -> None:
        for _ in range(count):
            seeded = await asyncio.to_thread(create_room, len(self.rooms) + 1)
            room = Room(seeded, self.port)
            ready = asyncio.Event()
            room.tasks.append(asyncio.create_task(room.monitor(self.args.redis_url, ready)))
            await ready.wait()
            await self.wait_for_leases(room.id)
            await room.open()
            self.rooms.append(room)
        # The listeners, spread over the workers, then the new rooms start talking.
        new = self.rooms[-count:]
        share = [
            [(room.id, len(range(w, self.args.listeners_per_room, self.args.workers))) for room in new]
            for w in range(self.args.workers)
        ]
        answers = []
        for pipe, payload in zip(self.pipes, share, strict=True):
            pipe.send(("connect", payload))
        for pipe in self.pipes:
            answers.append(await asyncio.to_thread(pipe.recv))
        self.listeners = sum(a["ok"] for a in answers)
        self.connect_failures = sum((Counter(a["failures"]) for a in answers), Counter())
        for room in new:
            room.tasks.append(asyncio.create_task(room.converse(packets)))

    async def wait_for_leases(self, room_id: int, timeout: float = 60) -> None:
        client = aioredis.Redis.from_url(self.args.redis_url)
        try:
            deadline = time.monotonic() + timeout
            for kind in ("mixer", "captioner"):
                while not await client.get(f"spaces:{kind}:lease:{room_id}"):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"no {kind} took room {room_id} within {timeout:.0f} s")
                    await asyncio.sleep(0.1)
        finally:
            await client.aclose()

    def cpu(self) -> dict[str, float]:
        return {kind: harness.cpu_seconds(pids) for kind, pids in self.pids.items()}

    async def level(self, packets, target: int) -> dict:
        args = self.args
        harness.progress(f"level: {target} rooms ({target - len(self.rooms)} new)")
        await self.add_rooms(target - len(self.rooms), packets)
        await asyncio.sleep(args.warmup)
        start, load0 = time.time(), os.getloadavg()[0]
        cpu0, clients0, driver0 = self.cpu(), sum(await self.ask_async("cpu")), time.process_time()
        machine0 = harness.machine_busy_seconds()
        await asyncio.sleep(args.level_seconds)
        end = time.time()
        cpu1, clients1, driver1 = self.cpu(), sum(await self.ask_async("cpu")), time.process_time()
        machine1 = harness.machine_busy_seconds()
        load1 = os.getloadavg()[0]
        await asyncio.sleep(CAPTION_GRACE_S)
        window = end - start
        expected, mixer_lags = {}, []
        sentences = captioned = 0
        for room in self.rooms:
            expected[room.id], lags = room.window(start, end)
            mixer_lags += lags
            ended, done = room.captioned(start, end)
            sentences += ended
            captioned += done
        results = await self.ask_async("results", expected, timeout=120)
        listener_lags = array("f")
        for answer in results:
            listener_lags.frombytes(answer["lags"])
        published = sum(map(len, expected.values()))
        lost = sum(a["lost"] for a in results)
        lost += (target * args.listeners_per_room - self.listeners) * published // max(target, 1)
        cpu_pct = {kind: round(100 * (cpu1[kind] - cpu0[kind]) / window, 1) for kind in cpu1}
        cpu_pct["clients"] = round(100 * (clients1 - clients0) / window, 1)
        cpu_pct["driver"] = round(100 * (driver1 - driver0) / window, 1)
        lag_p99 = harness.percentile(mixer_lags, 99)
        skipped_pct = round(100 * (1 - captioned / sentences), 1) if sentences else None
        figures = {
            "rooms": target,
            "listeners": self.listeners,
            "lost_bundles": lost,
            "program_bundles": published,
            "mixer_lag_p50_ms": _round(harness.percentile(mixer_lags, 50)),
            "mixer_lag_p99_ms": _round(lag_p99),
            "listener_lag_p95_ms": _round(harness.percentile(list(listener_lags), 95)),
            "sentences": sentences,
            "captions_skipped_pct": skipped_pct,
            "cpu_pct": cpu_pct,
            "machine_busy_pct": round(
                100 * (machine1[0] - machine0[0]) / max(machine1[1] - machine0[1], 1e-9), 1
            ),
            "load_avg_1min": [round(load0, 2), round(load1, 2)],
            "closed": dict(sum((Counter(a["closed"]) for a in results), Counter())),
            "connect_failures": dict(self.connect_failures),
        }
        why = []
        if lost > TARGETS["lost_bundles"]:
            why.append(f"lost {lost} bundles")
        if lag_p99 is None or lag_p99 > TARGETS["mixer_lag_p99_ms"]:
            why.append(f"mixer lag p99 {_round(lag_p99)} ms")
        if skipped_pct is None or skipped_pct > TARGETS["captions_skipped_pct"]:
            why.append(f"captions skipped {skipped_pct} %")
        figures["failed"] = why
        harness.progress(json.dumps(figures))
        return figures

    async def run(self, packets) -> None:
        args = self.args
        deadline = time.monotonic() + args.timeout - 60
        self.start_workers(time.monotonic() + args.timeout - 20)
        target = args.start_rooms
        while target <= args.max_rooms:
            # A level takes its warm-up, window and grace, plus about 5 s a new room to set up.
            need = args.warmup + args.level_seconds + CAPTION_GRACE_S + 5 * (target - len(self.rooms)) + 30
            if time.monotonic() + need > deadline:
                harness.progress("out of time (--timeout): stopping")
                break
            figures = await self.level(packets, target)
            self.levels.append(figures)
            if figures["failed"]:
                break
            target += args.step
        # Every room was recorded: the mixer wrote its capture (the Ogg pages of its program mix).
        from rooms.live.capture import capture_directory  # noqa: PLC0415 (after setup_django())

        self.recorded = sum(
            1
            for room in self.rooms
            if any(p.stat().st_size for p in capture_directory(room.id).rglob("*") if p.is_file())
        )
        for room in self.rooms:
            await room.close()
        await self.ask_async("close", timeout=60)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def summary(args, driver: Capacity | None, started: float, load0: float) -> dict:
    levels = driver.levels if driver else []
    held = [level for level in levels if not level["failed"]]
    best = held[-1] if held else None
    failed = next((level for level in levels if level["failed"]), None)
    return {
        "rooms_held": best["rooms"] if best else 0,
        "listeners": best["listeners"] if best else 0,
        "captioned_speakers": 3 * best["rooms"] if best else 0,
        "speaking_at_once": best["rooms"] if best else 0,
        "failed_at": {"rooms": failed["rooms"], "why": failed["failed"]} if failed else None,
        "stopped_by": "a failing level" if failed else "--max-rooms or --timeout",
        "mixer_lag_p99_ms": best["mixer_lag_p99_ms"] if best else None,
        "captions_skipped_pct": best["captions_skipped_pct"] if best else None,
        "cpu_pct_at_rooms_held": best["cpu_pct"] if best else None,
        "levels": [
            {
                key: level[key]
                for key in (
                    "rooms",
                    "lost_bundles",
                    "mixer_lag_p99_ms",
                    "captions_skipped_pct",
                    "cpu_pct",
                    "machine_busy_pct",
                    "load_avg_1min",
                )
            }
            for level in levels
        ],
        "rooms_recorded": f"{driver.recorded} of {len(driver.rooms)}" if driver else None,
        "cores": os.cpu_count(),
        "load_avg_1min": [round(load0, 2), round(os.getloadavg()[0], 2)],
        "seconds": round(time.monotonic() - started),
        "level_seconds": args.level_seconds,
        "listeners_per_room": args.listeners_per_room,
    }


def main() -> int:
    args = parse_args()
    started, load0 = time.monotonic(), os.getloadavg()[0]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # daphne and the workers inherit it
    admin_url, bench_url = harness.database_urls(args.db_name)
    media = Path(tempfile.mkdtemp(prefix="bench-capacity-media-"))
    extra = {"MEDIA_ROOT": str(media)}
    processes: list[subprocess.Popen] = []
    driver = None

    def run() -> dict:
        nonlocal driver
        harness.progress("speech: espeak-ng sentences in three voices, encoded")
        packets = [[spoken_packets(text, voice) for text in SENTENCES] for voice in VOICES]
        harness.progress(f"creating database {args.db_name}")
        harness.recreate_database(admin_url, args.db_name)
        os.environ.update(extra)
        harness.setup_django(bench_url, args.redis_url)
        from django.core.management import call_command  # noqa: PLC0415 (after setup_django())

        call_command("migrate", verbosity=0, interactive=False)
        logs = harness.ROOT / "test-artifacts"
        logs.mkdir(exist_ok=True)
        port, daphnes = harness.start_daphnes(
            args.server_processes, bench_url, args.redis_url, logs / "bench-capacity-daphne.log", extra
        )
        processes.extend(daphnes)
        mixer = harness.start_process(
            ["manage.py", "run_mixer", "--name", f"capacity-{os.getpid()}"],
            bench_url,
            args.redis_url,
            logs / "bench-capacity-mixer.log",
            extra,
        )
        captioner = harness.start_process(
            ["manage.py", "run_captioner", "--name", f"capacity-{os.getpid()}"],
            bench_url,
            args.redis_url,
            logs / "bench-capacity-captioner.log",
            extra,
        )
        worker = harness.start_process(
            ["-m", "celery", "-A", "spaces_project", "worker", "--loglevel", "WARNING", "--concurrency", "1"],
            bench_url,
            args.redis_url,
            logs / "bench-capacity-worker.log",
            extra,
        )
        processes.extend([mixer, captioner, worker])
        pids = {
            "daphne": [d.pid for d in daphnes],
            "mixer": [mixer.pid],
            "captioner": [captioner.pid],
            "worker": [worker.pid],
        }
        driver = Capacity(args, port, pids)
        asyncio.run(asyncio.wait_for(driver.run(packets), args.timeout - 15))
        return {}

    def cleanup() -> None:
        if driver is not None:
            driver.stop_workers()
        for process in processes:
            harness.stop_process(process)
        if settings.configured:  # Django was set up
            connections.close_all()
        if not args.keep_db:
            harness.recreate_database(admin_url, args.db_name, drop_only=True)
        shutil.rmtree(media, ignore_errors=True)

    return harness.run_and_report(
        run,
        cleanup=cleanup,
        line=lambda figures, failed: summary(args, driver, started, load0),
        print_traceback=False,
    )


if __name__ == "__main__":
    sys.exit(main())
