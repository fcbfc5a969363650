"""One live room's HLS served by nginx from deploy/ to 10,000 simulated listeners for 60 s.

    python bench/hls_fanout.py                       # 10,000 listeners, 60 s
    python bench/hls_fanout.py --listeners 2000 --seconds 20

What runs, all on 127.0.0.1 (no database, no Redis: nothing of them is on this path):

* **The mixer**: a child process running the room mixer itself (rooms/live/runner.py's
  RoomAudioRunner with rooms/audio/mixer.py's RoomMixer and rooms/audio/hls.py's HlsWriter, as
  `run_mixer` builds them) on its 20 ms clock. One speaker sends it Opus frames of a 440 Hz tone,
  0.4 s on every 2.3 s, paced like a microphone, each stamped with its capture time. The writer
  puts the program mix into fMP4 segments (2 s, HlsWriter's default) and a sliding playlist under this run's HLS root.
* **nginx** with deploy/'s site, rendered by deploy/render.py (TLS, the HLS locations and their
  cache headers), `worker_processes auto` as Debian's nginx.conf has it.
* **The listeners**: bench/hls_listeners.c, compiled here (cc, OpenSSL), one TLS connection per
  listener in one epoll thread. Listeners join evenly over --ramp seconds, start HOLD_BACK (2)
  segments from the live edge and fetch every segment in order, reloading the playlist at the phase
  it joined with after each next segment's end (from its PROGRAM-DATE-TIME): the same rules as
  static/js/hls-player.js.

Listeners join over --ramp seconds (20: ten thousand TLS handshakes at once would measure the
handshakes), then all of them listen for --seconds.

Figures (the last line printed is one JSON object):

* ``stalls``: segments that reached their listener later than a player that started at the live
  edge needs them, during the --seconds when every listener is in (those while listeners were still
  joining are printed above the last line as ``stalls_while_joining``). Such a player starts playing when its HOLD_BACK
  segments are in, one segment plus START_MARGIN (1.5 s) before the end of the newest, as
  static/js/hls-player.js does; segment k is needed when the audio before it has played out,
  ``start + (k - newest) x segment duration + START_MARGIN``. A segment it never got (it fell out of the window) is a stall too.
* ``segment_fetch_p95_ms``: request sent to the whole segment received, over every segment fetched.
* ``speaker_to_listener_p50_ms``: for each tone onset and each listener, from the onset's capture
  time at the speaker (the clock of this machine, which every process shares) to the moment that
  listener had the whole segment containing it; the segment is the one the mixer was filling when
  the onset first reached the program mix (the mixer's own record of whose voice it mixed). This is
  when the audio is *available* to the listener; a player plays it its buffer (one segment plus START_MARGIN at the start)
  later, and ``speaker_to_playback_p50_ms`` (printed above the last line) adds that, from the
  player model above.
* ``nginx_cpu_pct``: nginx's master and workers, user + system time over the listeners' run, in
  per cent of one core (200 % is both cores). The load generator's, the mixer's, the whole
  machine's and what other processes took meanwhile are printed above the last line: on a shared
  machine the last one says whether the figures were measured on a quiet one.

Bounded: it stops after --ramp + --seconds, and everything it started is stopped on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploy import harness  # noqa: E402
from rooms.audio import wire  # noqa: E402
from rooms.audio.codec import make_encoder  # noqa: E402
from rooms.audio.hls import SEGMENT_FRAMES, HlsWriter  # noqa: E402
from rooms.audio.mixer import RoomMixer  # noqa: E402
from rooms.live.runner import RoomAudioRunner  # noqa: E402

ROOM_ID = 1
HOLD_BACK = 2
START_MARGIN_MS = 1500  # static/js/hls-player.js's START_MARGIN_S
TONE_HZ = 440
# A period that is no multiple of the segment duration: onsets fall at every point of a segment.
TONE_ON_S, TONE_PERIOD_S = 0.4, 2.3
TARGETS = {"stalls": 0, "speaker_to_listener_p50_ms": 4000}


# -- the mixer and its speaker (a child process) -----------------------------------------------


class OnsetRecorder:
    """Sits between the mixer and the HLS writer: notes which segment each tone onset went into."""

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


def mixer_main(directory: str, onsets_path: str, seconds: float) -> None:
    async def main() -> None:
        speaker = ToneSpeaker()

        async def load_stage():
            return {ToneSpeaker.SPEAKER}, {ToneSpeaker.SPEAKER}

        async def nothing(*args) -> None:
            return None

        async def open_hls():
            return OnsetRecorder(HlsWriter(Path(directory)), Path(onsets_path), speaker)

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
    """Stalls, latencies and fetch times from the listeners' records. `stalls` counts those of the
    listening time once everyone has joined (segments needed after `steady_from_ms`);
    `stalls_while_joining` the others, when thousands of TLS handshakes a second share the CPU."""
    rows = np.loadtxt(records_path, ndmin=2) if records_path.stat().st_size else np.zeros((0, 4))
    onsets = [json.loads(line) for line in onsets_path.read_text().splitlines() if line.strip()]
    stalls, joining, fetch, to_listener, to_playback = 0, 0, rows[:, 3] if len(rows) else [], [], []
    onset_by_segment: dict[int, list[float]] = {}
    for onset in onsets:
        onset_by_segment.setdefault(int(onset["segment"]), []).append(onset["capture_ms"])
    listeners = 0
    if len(rows):
        order = np.lexsort((rows[:, 1], rows[:, 0]))
        rows = rows[order]
        splits = np.flatnonzero(np.diff(rows[:, 0])) + 1
        for block in np.split(rows, splits):
            listeners += 1
            segments = block[:, 1].astype(int)
            arrivals = block[:, 2]
            first = segments[0]
            held = min(HOLD_BACK, len(segments)) - 1
            start = float(arrivals[: held + 1].max())
            # Play-out starts START_MARGIN_MS plus one segment before the end of the newest segment
            # held (static/js/hls-player.js): the next segment is needed START_MARGIN_MS after start.
            needed = np.maximum(start + (segments - first - held) * segment_ms + START_MARGIN_MS, start)
            late = arrivals > needed
            # A segment it never got (it fell out of the window) stalls the one after the gap.
            late[1:] |= np.diff(segments) > 1
            steady = needed >= steady_from_ms
            stalls += int(np.count_nonzero(late & steady))
            joining += int(np.count_nonzero(late & ~steady))
            for segment, arrival, need in zip(segments, arrivals, needed, strict=True):
                for capture_ms in onset_by_segment.get(int(segment), ()):
                    to_listener.append(arrival - capture_ms)
                    to_playback.append(max(arrival, need) - capture_ms)
    return {
        "listeners_with_audio": listeners,
        "segments_fetched": len(rows),
        "onsets": len(onsets),
        "stalls": stalls,
        "stalls_while_joining": joining,
        "segment_fetch_p95_ms": round(percentile(fetch, 0.95), 1),
        "speaker_to_listener_p50_ms": round(percentile(to_listener, 0.50)),
        "speaker_to_listener_p95_ms": round(percentile(to_listener, 0.95)),
        "speaker_to_playback_p50_ms": round(percentile(to_playback, 0.50)),
    }


# -- the run -------------------------------------------------------------------------------------


def render_site(work: Path, hls_root: Path) -> tuple[Path, int]:
    site = harness.render_local_site(
        work,
        MEDIA_ROOT=str(work / "media"),
        HLS_ROOT=str(hls_root),
        HLS_SIGNING_SECRET="bench-only-secret",
    )
    return site["files"]["nginx/spaces.conf"], site["https_port"]


def build_client(work: Path) -> Path:
    binary = work / "hls_listeners"
    subprocess.run(
        ["cc", "-O2", "-o", str(binary), str(ROOT / "bench" / "hls_listeners.c"), "-lssl", "-lcrypto", "-lm"],
        check=True,
    )
    return binary


def run(*, listeners: int, seconds: float, ramp: float, work: Path) -> dict:
    hls_root = work / "hls"
    room_dir = hls_root / "public" / str(ROOM_ID)
    onsets_path = work / "onsets.jsonl"
    records_path = work / "records.txt"
    client = build_client(work)
    site, https_port = render_site(work, hls_root)
    context = multiprocessing.get_context("spawn")
    mixer = context.Process(
        target=mixer_main, args=(str(room_dir), str(onsets_path), ramp + seconds + 15), daemon=True
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
            harness.wait_for(
                lambda: (
                    (room_dir / "index.m3u8").exists()
                    and (room_dir / "index.m3u8").read_text().count("seg-") >= HOLD_BACK + 1
                ),
                30,
                "the mixer's first segments",
            )
            nginx_pids = [nginx.pid, *children_of(nginx.pid)]
            nginx_cpu = cpu_seconds(nginx_pids)
            mixer_cpu = cpu_seconds([mixer.pid])
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
                ],
                capture_output=True,
                text=True,
                timeout=ramp + seconds + 120,
            )
            wall = time.monotonic() - started
            nginx_cpu = cpu_seconds(nginx_pids) - nginx_cpu
            mixer_cpu = cpu_seconds([mixer.pid]) - mixer_cpu
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
            figures["nginx_workers"] = len(nginx_pids) - 1
            figures["mixer_cpu_pct"] = round(100 * mixer_cpu / wall, 1)
            # Everything this machine ran meanwhile, this benchmark included (200 % = both cores
            # busy): what else was running shows as the difference.
            figures["machine_cpu_pct"] = round(100 * machine[0] / wall, 1)
            figures["softirq_cpu_pct"] = round(100 * machine[1] / wall, 1)
            figures["others_cpu_pct"] = round(
                100 * (machine[0] - machine[1] - nginx_cpu - mixer_cpu - summary["cpu_s"]) / wall, 1
            )
        finally:
            mixer.terminate()
            mixer.join(10)
    figures["segment_s"] = SEGMENT_FRAMES * wire.FRAME_MS / 1000
    figures.update(
        analyse(
            records_path,
            onsets_path,
            segment_ms=SEGMENT_FRAMES * wire.FRAME_MS,
            steady_from_ms=steady_from_ms,
        )
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long every listener listens")
    parser.add_argument("--ramp", type=float, default=20.0, help="listeners join evenly over this long")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, records)")
    args = parser.parse_args()
    if not shutil.which("cc") or not shutil.which(harness.NGINX):
        print(
            "needs a C compiler with OpenSSL's headers (cc, libssl-dev) and Debian's nginx", file=sys.stderr
        )
        return 2
    work = Path(tempfile.mkdtemp(prefix="hls-fanout-"))
    try:
        figures = run(listeners=args.listeners, seconds=args.seconds, ramp=args.ramp, work=work)
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
                "stalls": figures["stalls"],
                "segment_fetch_p95_ms": figures["segment_fetch_p95_ms"],
                "speaker_to_listener_p50_ms": figures["speaker_to_listener_p50_ms"],
                "nginx_cpu_pct": figures["nginx_cpu_pct"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
