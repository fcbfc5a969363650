"""One live room's HLS served by nginx from deploy/ to 10,000 simulated listeners for 60 s.

    python bench/hls_fanout.py                       # 10,000 listeners, 60 s
    python bench/hls_fanout.py --listeners 2000 --seconds 20
    python bench/hls_fanout.py --listeners 2000 --seconds 20 --s3   # through object storage

What runs, all on 127.0.0.1 (no database, no Redis: nothing of them is on this path):

* **The mixer**: a child process running the room mixer itself (rooms/live/runner.py's
  RoomAudioRunner with rooms/audio/mixer.py's RoomMixer and rooms/audio/hls.py's HlsWriter, as
  `run_mixer` builds them) on its 20 ms clock. One speaker sends it Opus frames of a 440 Hz tone,
  0.4 s on every 2.3 s, paced like a microphone, each stamped with its capture time. The writer
  puts the program mix into fMP4 segments (--segment-seconds, 1 as settings.HLS_SEGMENT_SECONDS)
  and a sliding playlist under this run's HLS root.
* **nginx** with deploy/'s site, rendered by deploy/render.py (TLS, the HLS locations and their
  cache headers), `worker_processes auto` as Debian's nginx.conf has it.
* **The listeners**: bench/hls_listeners.c, compiled here (cc, OpenSSL), one TLS connection per
  listener in one epoll thread, playing by the page's rules with the page's numbers
  (spaces_project/protocol/hls_player.py, handed to it as arguments): it starts one segment plus
  START_MARGIN_MS behind the end of the newest segment it holds, once it holds that much, fetches
  every segment in order, and loads the playlist one segment after the load that last found a new
  segment was due (a retry after a miss).

With ``--s3`` the mixer's writer uploads to a bucket (rooms/live/hls_s3.py's store, as HLS_STORAGE=s3
builds it) on an S3 server started here (moto's standalone server, as the tests use), and nginx runs
the site's bucket variant (deploy/nginx/hls-bucket.conf): it fetches from the bucket and keeps
segments and, for 100 ms, playlists. Upload times (a segment handed over to its playlist stored) and
the S3 server's CPU are printed above the last line.

Listeners join evenly over --ramp seconds (20: ten thousand TLS handshakes at once would measure the
handshakes), then all of them listen for --seconds.

Figures (the last line printed is one JSON object):

* ``speaker_to_ear_p50_ms``, ``speaker_to_ear_p95_ms``: for each tone onset and each listener that
  played it, from the onset's capture time at the speaker (the clock of this machine, which every
  process shares) to the moment that listener's player *plays* it: where the player started (when it
  started, and where on its timeline, by the start rule, as the simulator reports it) plus the
  onset's place on that timeline (its segment's place in the order the player appended them, plus
  the onset's offset inside the segment, from the mixer's own record of whose voice it mixed when),
  plus every stall before it. Not when the segment arrived, nor when it started playing.
* ``stalls``: segments that reached their listener later than its player needed them (the moment
  the audio before them had played out), during the --seconds when every listener is in; each stall
  delays everything after it by its length, as a media element does. Those while listeners were
  still joining are ``stalls_while_joining``. A segment it never got (it fell out of the window) is a
  stall too.
* ``playlist_requests_per_segment``: playlist requests over segments fetched, all listeners
  (``playlist_requests_per_segment_p99``, printed above, is the 99th percentile of one listener's).
* ``segment_fetch_p95_ms``: request sent to the whole segment received, over every segment fetched.
* ``nginx_cpu_pct``: nginx's master and workers, user + system time over the listeners' run, in
  per cent of one core (200 % is both cores); ``nginx_cpu_pct_per_1000`` per thousand listeners. The
  load generator's, the mixer's, the whole machine's and what other processes took meanwhile are
  printed above the last line: on a shared machine the last one says whether the figures were
  measured on a quiet one.
* ``speaker_to_segment_p50_ms`` (above the last line): when the listener *had* the whole segment
  holding the onset, for comparison with what it hears.

Bounded: it stops after --ramp + --seconds, and everything it started is stopped on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploy import harness  # noqa: E402
from rooms.audio import wire  # noqa: E402
from rooms.audio.codec import make_encoder  # noqa: E402
from rooms.audio.hls import HlsWriter  # noqa: E402
from rooms.audio.mixer import RoomMixer  # noqa: E402
from rooms.live import hls_s3  # noqa: E402
from rooms.live.runner import RoomAudioRunner  # noqa: E402
from spaces_project.protocol import hls_player  # noqa: E402

ROOM_ID = 1
TONE_HZ = 440
# A period that is no multiple of the segment duration: onsets fall at every point of a segment.
TONE_ON_S, TONE_PERIOD_S = 0.4, 2.3
# docs/benchmarks.md: at 10,000 listeners, speaker -> ear p50 <= 2,500 ms and p95 <= 3,500 ms, no
# stall after joining, <= 1.1 playlist requests per segment per listener, nginx CPU per listener no
# higher than with 2 s segments.
TARGETS = {
    "stalls": 0,
    "speaker_to_ear_p50_ms": 2500,
    "speaker_to_ear_p95_ms": 3500,
    "playlist_requests_per_segment": 1.1,
}


# -- the mixer and its speaker (a child process) -----------------------------------------------


class OnsetRecorder:
    """Sits between the mixer and the HLS writer: notes which segment each tone onset went into, and
    where in it (the packets the writer already holds for that segment, 20 ms each)."""

    def __init__(self, writer, onsets_path: Path, speaker) -> None:
        self.writer = writer
        self.speaker = speaker
        self.onsets = open(onsets_path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close)
        self.heard = False

    def write(self, sequence: int, mixed_ms: float, packet: bytes, voices: frozenset[int]) -> None:
        if voices and not self.heard and self.speaker.onset_ms is not None:
            line = {
                "capture_ms": self.speaker.onset_ms,
                "mixed_ms": mixed_ms,
                "segment": self.writer.next_number,
                "offset_ms": self.writer.pending_frames * wire.FRAME_MS,
            }
            self.onsets.write(json.dumps(line) + "\n")
            self.onsets.flush()
        self.heard = bool(voices)
        self.writer.write(sequence, mixed_ms, packet, voices)

    def close(self, *, remove: bool = False) -> None:
        self.onsets.close()
        self.writer.close(remove=remove)


class ToneSpeaker:
    """A microphone playing tone bursts: one uplink frame every 20 ms, stamped with its capture time."""

    SPEAKER = 7

    def __init__(self) -> None:
        self.encoder = make_encoder()
        self.onset_ms: float | None = None

    async def run(self, runner) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        frame = 0
        while not runner.stopped.is_set():
            at = started + frame * wire.FRAME_MS / 1000
            delay = at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            position = (frame * wire.FRAME_MS / 1000) % TONE_PERIOD_S
            t = (np.arange(wire.FRAME_SAMPLES) + frame * wire.FRAME_SAMPLES) / wire.SAMPLE_RATE
            on = position < TONE_ON_S
            pcm = (0.4 * np.sin(2 * np.pi * TONE_HZ * t) if on else np.zeros_like(t)).astype(np.float32)
            captured_ms = time.time() * 1000
            if on and position < wire.FRAME_MS / 1000:
                self.onset_ms = captured_ms
            packet = self.encoder.encode(pcm)
            runner.push(wire.tag(self.SPEAKER, wire.encode_uplink(frame, captured_ms, packet)))
            frame += 1


def bucket_store(bucket: dict, segment_frames: int) -> hls_s3.S3HlsStore:
    """The room's store in the benchmark's bucket, as rooms/live/hls_s3.py's open_store builds it."""
    segment_s = round(segment_frames * wire.FRAME_MS / 1000)
    s3 = hls_s3.make_client(bucket["endpoint"], bucket["region"], bucket["access_key"], bucket["secret_key"])
    return hls_s3.S3HlsStore(
        s3=s3, bucket=bucket["name"], prefix=f"hls/public/{ROOM_ID}/", segment_seconds=segment_s
    )


def dump_timings(store: hls_s3.S3HlsStore, path: Path) -> None:
    """Every second, the store's upload times so far (the process is stopped from outside)."""
    while True:
        time.sleep(1)
        rows = [[t.segment_stored_ms, t.playlist_stored_ms] for t in list(store.timings)]
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"timings": rows, "dropped": store.dropped_segments}))
        temporary.replace(path)


def mixer_main(
    directory: str, onsets_path: str, seconds: float, segment_frames: int, bucket: dict | None = None
) -> None:
    async def main() -> None:
        speaker = ToneSpeaker()

        async def load_stage():
            return {ToneSpeaker.SPEAKER}, {ToneSpeaker.SPEAKER}

        async def nothing(*args) -> None:
            return None

        async def open_hls():
            if bucket is None:
                writer = HlsWriter(Path(directory), segment_frames=segment_frames)
            else:
                store = bucket_store(bucket, segment_frames)
                threading.Thread(
                    target=dump_timings, args=(store, Path(bucket["timings_path"])), daemon=True
                ).start()
                writer = HlsWriter(store, segment_frames=segment_frames)
            return OnsetRecorder(writer, Path(onsets_path), speaker)

        # As rooms/live/mixing.py's make_runner builds it (settings' bundle sizes).
        runner = RoomAudioRunner(
            ROOM_ID,
            load_stage=load_stage,
            send_bundle=nothing,
            send_levels=nothing,
            mixer=RoomMixer(bundle_frames=10, stage_bundle_frames=3),
            open_hls=open_hls,
        )
        loop = asyncio.get_running_loop()
        loop.call_later(seconds, runner.stop)
        await asyncio.gather(runner.run(), speaker.run(runner))

    asyncio.run(main())


# -- measuring -----------------------------------------------------------------------------------


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def machine_busy_seconds() -> tuple[float, float]:
    """(CPU seconds the whole machine was busy, of which in soft interrupts), all cores, from
    /proc/stat. Loopback TCP's receive work runs as soft interrupts, charged to no process."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    ticks = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:8]) - idle) / ticks, fields[6] / ticks


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                found.append(int(entry.name))
    return found


def percentile(values, fraction: float) -> float:
    if len(values) == 0:
        return float("nan")
    return float(np.percentile(np.asarray(values, dtype=float), fraction * 100))


def analyse(records_path: Path, onsets_path: Path, *, segment_ms: float, steady_from_ms: float = 0.0) -> dict:
    """Stalls, latencies at the ear and fetch times from the listeners' records (see the module's
    docstring). `stalls` counts those of the listening time once everyone has joined (segments needed
    after `steady_from_ms`); `stalls_while_joining` the others, when thousands of TLS handshakes a
    second share the CPU."""
    rows = np.loadtxt(records_path, ndmin=2) if records_path.stat().st_size else np.zeros((0, 4))
    starts_path = Path(f"{records_path}.starts")
    starts = np.loadtxt(starts_path, ndmin=2) if starts_path.stat().st_size else np.zeros((0, 5))
    start_of = {int(row[0]): row for row in starts}
    onsets = [json.loads(line) for line in onsets_path.read_text().splitlines() if line.strip()]
    onsets_in: dict[int, list[tuple[float, float]]] = {}
    for onset in onsets:
        onsets_in.setdefault(int(onset["segment"]), []).append((onset["capture_ms"], onset["offset_ms"]))
    stalls, joining, to_listener, to_ear, loads_per_segment = 0, 0, [], [], []
    fetch = rows[:, 3] if len(rows) else []
    listeners = 0
    if len(rows):
        rows = rows[np.lexsort((rows[:, 1], rows[:, 0]))]
        for block in np.split(rows, np.flatnonzero(np.diff(rows[:, 0])) + 1):
            listener = int(block[0, 0])
            segments, arrivals = block[:, 1].astype(int), block[:, 2]
            if listener not in start_of:
                continue  # never held enough to start (joined at the very end)
            listeners += 1
            _, started_ms, start_segment, position_ms, loads = start_of[listener]
            loads_per_segment.append(loads / len(segments))
            first = int(np.flatnonzero(segments == int(start_segment))[0])
            # The player's timeline: the segments in the order it appended them, segment_ms each;
            # `position_ms` into the start segment plays at started_ms. A segment that comes later
            # than its turn stalls play-out by the difference, and everything after it plays that
            # much later (as a media element does); one it never got (out of the window) is a stall.
            late_by = 0.0
            for index, (segment, arrival) in enumerate(zip(segments, arrivals, strict=True)):
                media_ms = (index - first) * segment_ms
                if index > first:
                    needed = started_ms + media_ms - position_ms + late_by
                    late = arrival > needed or segment != segments[index - 1] + 1
                    if late:
                        if needed >= steady_from_ms:
                            stalls += 1
                        else:
                            joining += 1
                        late_by += max(0.0, arrival - needed)
                for capture_ms, offset_ms in onsets_in.get(int(segment), ()):
                    to_listener.append(arrival - capture_ms)
                    if media_ms + offset_ms >= position_ms:  # played (not before where it started)
                        played = started_ms + media_ms + offset_ms - position_ms + late_by
                        to_ear.append(played - capture_ms)
    return {
        "listeners_with_audio": listeners,
        "segments_fetched": len(rows),
        "onsets": len(onsets),
        "stalls": stalls,
        "stalls_while_joining": joining,
        "segment_fetch_p95_ms": round(percentile(fetch, 0.95), 1),
        "speaker_to_ear_p50_ms": round(percentile(to_ear, 0.50)),
        "speaker_to_ear_p95_ms": round(percentile(to_ear, 0.95)),
        "speaker_to_segment_p50_ms": round(percentile(to_listener, 0.50)),
        "playlist_requests_per_segment_p99": round(percentile(loads_per_segment, 0.99), 2),
    }


# -- the run -------------------------------------------------------------------------------------


def render_site(work: Path, hls_root: Path, bucket: dict | None = None) -> tuple[Path, int]:
    storage = {}
    if bucket is not None:
        storage = {
            "HLS_STORAGE": "s3",
            "S3_BUCKET": bucket["name"],
            "S3_ENDPOINT_URL": bucket["endpoint"],
            "HLS_PROXY_CACHE_DIR": str(work / "hls-cache"),
        }
    site = harness.render_local_site(
        work,
        MEDIA_ROOT=str(work / "media"),
        HLS_ROOT=str(hls_root),
        HLS_SIGNING_SECRET="bench-only-secret",
        **storage,
    )
    return site["files"]["nginx/spaces.conf"], site["https_port"]


def build_client(work: Path) -> Path:
    binary = work / "hls_listeners"
    subprocess.run(
        ["cc", "-O2", "-o", str(binary), str(ROOT / "bench" / "hls_listeners.c"), "-lssl", "-lcrypto", "-lm"],
        check=True,
    )
    return binary


def start_bucket(work: Path) -> tuple[object, dict]:
    """moto's S3 server (tests/s3.py) with a bucket nginx may read the HLS prefix of."""
    from tests.s3 import ACCESS_KEY, REGION, SECRET_KEY, S3Server  # noqa: PLC0415 (only with --s3: moto)

    server = S3Server().start()
    name = server.new_bucket()
    policy = hls_s3.edge_read_policy(bucket=name, prefix="hls/", source_ips=["127.0.0.1/32"])
    server.client().put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
    return server, {
        "name": name,
        "endpoint": server.endpoint,
        "region": REGION,
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
        "timings_path": str(work / "uploads.json"),
    }


def bucket_playlist(bucket: dict) -> str:
    s3 = hls_s3.make_client(bucket["endpoint"], bucket["region"], bucket["access_key"], bucket["secret_key"])
    try:
        answer = s3.get_object(Bucket=bucket["name"], Key=f"hls/public/{ROOM_ID}/index.m3u8")
    except s3.exceptions.NoSuchKey:
        return ""
    return answer["Body"].read().decode()


def upload_figures(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    stored = [row[0] for row in data["timings"]]
    listed = [row[1] for row in data["timings"] if row[1] is not None]
    return {
        "upload_segment_p50_ms": round(percentile(stored, 0.5), 1),
        "upload_segment_p95_ms": round(percentile(stored, 0.95), 1),
        "upload_playlist_p50_ms": round(percentile(listed, 0.5), 1),
        "upload_playlist_p95_ms": round(percentile(listed, 0.95), 1),
        "upload_playlists_skipped": len(stored) - len(listed),
        "upload_segments_dropped": data["dropped"],
    }


def run(
    *, listeners: int, seconds: float, ramp: float, segment_s: float, work: Path, s3: bool = False
) -> dict:
    client = build_client(work)
    s3_server, bucket = start_bucket(work) if s3 else (None, None)
    try:
        return _run(
            listeners=listeners,
            seconds=seconds,
            ramp=ramp,
            segment_s=segment_s,
            work=work,
            client=client,
            bucket=bucket,
            s3_server=s3_server,
        )
    finally:
        if s3_server is not None:
            s3_server.stop()


def _run(*, listeners, seconds, ramp, segment_s, work, client, bucket, s3_server) -> dict:
    hls_root = work / "hls"
    room_dir = hls_root / "public" / str(ROOM_ID)
    onsets_path = work / "onsets.jsonl"
    records_path = work / "records.txt"
    site, https_port = render_site(work, hls_root, bucket)
    segment_frames = round(segment_s * 1000 / wire.FRAME_MS)
    segment_ms = segment_frames * wire.FRAME_MS
    holding = math.ceil(hls_player.hold_ms(segment_ms) / segment_ms)
    context = multiprocessing.get_context("spawn")
    mixer = context.Process(
        target=mixer_main,
        args=(str(room_dir), str(onsets_path), ramp + seconds + 15, segment_frames, bucket),
        daemon=True,
    )
    figures: dict = {}
    with harness.Processes(work / "logs") as processes:
        nginx = harness.start_nginx(
            processes,
            work / "nginx",
            site,
            ready_port=https_port,
            workers=os.environ.get("HLS_BENCH_NGINX_WORKERS", "auto"),
            worker_connections=max(8192, listeners + 1024),
        )
        mixer.start()
        try:

            def playlist() -> str:
                if bucket is not None:
                    return bucket_playlist(bucket)
                return (room_dir / "index.m3u8").read_text() if (room_dir / "index.m3u8").exists() else ""

            harness.wait_for(
                lambda: playlist().count("seg-") >= holding + 1, 30, "the mixer's first segments"
            )
            nginx_pids = [nginx.pid, *children_of(nginx.pid)]
            nginx_cpu = cpu_seconds(nginx_pids)
            mixer_cpu = cpu_seconds([mixer.pid])
            store_pids = [s3_server.process.pid] if s3_server is not None else []
            store_cpu = cpu_seconds(store_pids)
            machine = machine_busy_seconds()
            started = time.monotonic()
            steady_from_ms = time.time() * 1000 + ramp * 1000
            result = subprocess.run(
                [
                    str(client),
                    "localhost",
                    str(https_port),
                    f"/hls/{ROOM_ID}/index.m3u8",
                    str(listeners),
                    str(ramp),
                    str(ramp + seconds),
                    str(records_path),
                    str(hls_player.START_MARGIN_MS),
                    str(hls_player.RETRY_FIRST_MS),
                    str(hls_player.RETRY_MAX_MS),
                ],
                capture_output=True,
                text=True,
                timeout=ramp + seconds + 120,
            )
            wall = time.monotonic() - started
            nginx_cpu = cpu_seconds(nginx_pids) - nginx_cpu
            mixer_cpu = cpu_seconds([mixer.pid]) - mixer_cpu
            store_cpu = cpu_seconds(store_pids) - store_cpu
            busy, softirq = machine_busy_seconds()
            machine = busy - machine[0], softirq - machine[1]
            if result.returncode != 0:
                raise RuntimeError(f"the listeners failed: {result.stderr[-2000:]}")
            if result.stderr.strip():
                print(result.stderr.strip(), file=sys.stderr)
            summary = json.loads(result.stdout.strip().splitlines()[-1])
            figures["client"] = summary
            figures["load_generator_cpu_pct"] = round(100 * summary["cpu_s"] / summary["wall_s"], 1)
            figures["nginx_cpu_pct"] = round(100 * nginx_cpu / wall, 1)
            figures["nginx_cpu_pct_per_1000"] = round(100 * nginx_cpu / wall / listeners * 1000, 2)
            figures["playlist_requests_per_segment"] = round(
                summary["playlist_requests"] / max(1, summary["segments"]), 3
            )
            figures["nginx_workers"] = len(nginx_pids) - 1
            figures["mixer_cpu_pct"] = round(100 * mixer_cpu / wall, 1)
            if bucket is not None:
                figures["s3_server_cpu_pct"] = round(100 * store_cpu / wall, 1)
                figures.update(upload_figures(Path(bucket["timings_path"])))
            # Everything this machine ran meanwhile, this benchmark included (200 % = both cores
            # busy): what else was running shows as the difference.
            figures["machine_cpu_pct"] = round(100 * machine[0] / wall, 1)
            figures["softirq_cpu_pct"] = round(100 * machine[1] / wall, 1)
            figures["others_cpu_pct"] = round(
                100 * (machine[0] - machine[1] - nginx_cpu - mixer_cpu - store_cpu - summary["cpu_s"]) / wall,
                1,
            )
        finally:
            mixer.terminate()
            mixer.join(10)
    figures["segment_s"] = segment_ms / 1000
    figures.update(analyse(records_path, onsets_path, segment_ms=segment_ms, steady_from_ms=steady_from_ms))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long every listener listens")
    parser.add_argument("--ramp", type=float, default=20.0, help="listeners join evenly over this long")
    parser.add_argument(
        "--segment-seconds",
        type=float,
        default=1.0,
        help="seconds per segment (settings.HLS_SEGMENT_SECONDS)",
    )
    parser.add_argument(
        "--s3",
        action="store_true",
        help="through object storage: moto's S3 server, nginx proxying the bucket",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, records)")
    args = parser.parse_args()
    if not shutil.which("cc") or not shutil.which(harness.NGINX):
        print(
            "needs a C compiler with OpenSSL's headers (cc, libssl-dev) and Debian's nginx", file=sys.stderr
        )
        return 2
    work = Path(tempfile.mkdtemp(prefix="hls-fanout-"))
    try:
        figures = run(
            listeners=args.listeners,
            seconds=args.seconds,
            ramp=args.ramp,
            segment_s=args.segment_seconds,
            work=work,
            s3=args.s3,
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work directory: {work}", file=sys.stderr)
    client = figures.pop("client")
    print(json.dumps({"client": client}))
    print(json.dumps({k: v for k, v in figures.items()}))
    print(
        json.dumps(
            {
                "listeners": args.listeners,
                **({"storage": "s3"} if args.s3 else {}),
                "segment_s": figures["segment_s"],
                "speaker_to_ear_p50_ms": figures["speaker_to_ear_p50_ms"],
                "speaker_to_ear_p95_ms": figures["speaker_to_ear_p95_ms"],
                "stalls": figures["stalls"],
                "stalls_while_joining": figures["stalls_while_joining"],
                "playlist_requests_per_segment": figures["playlist_requests_per_segment"],
                "segment_fetch_p95_ms": figures["segment_fetch_p95_ms"],
                "nginx_cpu_pct": figures["nginx_cpu_pct"],
                "nginx_cpu_pct_per_1000": figures["nginx_cpu_pct_per_1000"],
                **({"upload_playlist_p95_ms": figures.get("upload_playlist_p95_ms")} if args.s3 else {}),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
