"""Mouth-to-ear latency through the real server and mixer: speaker -> listener, speaker -> speaker,
and how soon a new listener hears audio.

    python bench/audio_latency.py                 # daphne + `manage.py run_mixer` on Redis
    python bench/audio_latency.py --embedded      # no Redis: the mixer runs inside daphne
    python bench/audio_latency.py --bundle-frames 5

All on 127.0.0.1, bounded by --timeout. It drops and recreates its own PostgreSQL database (--db-name,
next to the one DATABASE_URL names), seeds a live room (host, one more speaker, signed-in listeners;
the room allows anonymous listeners too) and starts daphne (settings `spaces_project.settings.bench`)
and, unless --embedded, one mixer process, the production layout.

The clients are Python, speaking the browsers' protocol (spaces_project/protocol, rooms/audio/wire.py):

1. Click train. The host sends --seconds of audio with a short click every --interval, encoded with
   Opus in real-time 20 ms frames: frame i goes out when its 20 ms have been "captured", at
   start + (i + 1) x 20 ms, stamped with the capture time of its first sample. The second speaker is
   unmuted too and sends near-silence, as an open microphone does. A listener (program mix) and the
   second speaker (their mix-minus) decode every bundle they receive and find each click's onset
   (first sample above a threshold, the same threshold that dates the click in the source).
   raw latency = arrival of the bundle holding the click - the click's capture time (network, web
   process, Redis, mixer jitter buffer and bundling, both codecs' look-ahead).
   mouth to ear = raw + where the click sits in its bundle + the playout delay, modelled on the
   browser's player (static/js/playout-worklet.js): a bundle starts playing its reserve after it
   lands (100 ms at first, at least the jitter seen), plus the jitter this client saw (p95 - min of
   bundle transit, arrival - mix time) for a page that joined on an early bundle, at most 500 ms.
   Not included: the browser's capture and output device buffers (~10-40 ms on a typical machine).
2. First audio. The host talks continuously; --joins times a new listener (alternately anonymous
   and signed in) opens a socket. first audio = first decoded non-silent frame's arrival - the start
   of the websocket handshake + the player's starting reserve (100 ms). The JSON reports the maximum.

The last line printed is one JSON object.
"""

import argparse
import asyncio
import bisect
import json
import os
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connections

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _audio  # noqa: E402
import harness  # noqa: E402
import numpy as np  # noqa: E402
from _audio import FRAME, RATE  # noqa: E402

from rooms.audio import codec, wire  # noqa: E402

TARGETS = {"s2s_p95_ms": 400, "s2l_p95_ms": 1000, "first_audio_ms": 1000}
THRESHOLD = 0.1
PLAYOUT_MIN_S = 0.100  # playout-worklet.js START_RESERVE_S
PLAYOUT_MAX_S = 0.500
SILENT_RMS = 0.01


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the click train")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between clicks")
    parser.add_argument("--joins", type=int, default=10, help="new listeners timed for first audio")
    parser.add_argument("--embedded", action="store_true", help="no Redis: the mixer runs in daphne")
    parser.add_argument("--bundle-frames", type=int, help="AUDIO_BUNDLE_FRAMES for the server")
    parser.add_argument("--timeout", type=float, default=240.0)
    parser.add_argument("--db-name", default="bench_audio_latency")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    if not args.redis_url.startswith(("redis://127.", "redis://localhost")):
        parser.error("--redis-url must be on this machine")
    return args


def click_train(seconds: float, interval: float) -> tuple[np.ndarray, list[int]]:
    """Near-silence with a 4 ms 2 kHz click every `interval`; return the audio and each click's onset
    sample (first sample above THRESHOLD, as the far side will find it)."""
    rng = np.random.default_rng(3)
    n = int(seconds * RATE) // FRAME * FRAME
    pcm = (rng.standard_normal(n) * 1e-4).astype(np.float32)
    length = int(0.004 * RATE)
    burst = 0.8 * np.hanning(length) * np.sin(2 * np.pi * 2000 * np.arange(length) / RATE)
    onsets = []
    at = 0.5
    while at + 0.05 < seconds:
        start = int(at * RATE)
        pcm[start : start + length] += burst.astype(np.float32)
        onsets.append(start + int(np.flatnonzero(np.abs(burst) > THRESHOLD)[0]))
        at += interval
    return pcm, onsets


def detect(bundles: list[tuple[float, bytes]], since: float) -> tuple[list[tuple[float, float]], list[float]]:
    """Decode the received stream; return (for each click onset found: bundle arrival, offset of the
    onset inside the bundle in seconds) and every bundle's transit (arrival - mix time, seconds)."""
    decoder = codec.make_decoder()
    found: list[tuple[float, float]] = []
    transits: list[float] = []
    last_position = -(10**12)
    for arrival, data in bundles:
        if arrival < since:
            continue
        bundle = wire.decode_bundle(data)
        transits.append(arrival - bundle.mixed_ms / 1000)
        for m, packet in enumerate(bundle.packets):
            pcm = decoder.decode(packet) if packet else np.zeros(FRAME, np.float32)
            loud = np.flatnonzero(np.abs(pcm) > THRESHOLD)
            if not loud.size:
                continue
            position = (bundle.sequence + m) * FRAME + int(loud[0])
            if position - last_position > 0.25 * RATE:
                found.append((arrival, (m * FRAME + int(loud[0])) / RATE))
            last_position = position
    return found, transits


def latencies(found, transits, mouths: list[float], interval: float) -> dict:
    jitter = (np.percentile(transits, 95) - min(transits)) if transits else 0.0
    playout = min(PLAYOUT_MAX_S, PLAYOUT_MIN_S + jitter)
    raw, ear, matched = [], [], set()
    for arrival, offset in found:
        k = bisect.bisect_left(mouths, arrival) - 1
        if k < 0 or k in matched or arrival - mouths[k] > interval:
            continue  # noise before the train, a second onset of one click, or ambiguous
        matched.add(k)
        raw.append((arrival - mouths[k]) * 1000)
        ear.append((arrival + offset + playout - mouths[k]) * 1000)
    return {
        "clicks_heard": len(matched),
        "jitter_ms": jitter * 1000,
        "playout_ms": playout * 1000,
        "raw": raw,
        "ear": ear,
    }


def pct(values: list[float], p: float) -> float | None:
    value = harness.percentile(values, p)
    return round(value, 1) if value is not None else None


class Driver:
    def __init__(self, args, url: str, origin: str, seeded: dict) -> None:
        self.args, self.url, self.origin, self.seeded = args, url, origin, seeded
        self.figures: dict = {}

    async def run(self) -> dict:
        args, seeded, figures = self.args, self.seeded, self.figures
        host_id, host_cookie = seeded["host"]
        guest_id, guest_cookie = seeded["speakers"][0]
        host = _audio.RoomClient(self.url, self.origin, host_cookie)
        guest = _audio.RoomClient(self.url, self.origin, guest_cookie)
        listener = _audio.RoomClient(self.url, self.origin, seeded["listeners"][0])
        for client in (host, guest, listener):
            await client.open()
        await host.unmute(host_id)
        await guest.unmute(guest_id)
        await asyncio.sleep(1.0)

        harness.progress(f"click train: {args.seconds:g} s, a click every {args.interval * 1000:.0f} ms")
        pcm, onsets = click_train(args.seconds, args.interval)
        host_packets = _audio.encode_all(pcm)
        rng = np.random.default_rng(9)
        quiet = (rng.standard_normal(len(pcm)) * 3e-4).astype(np.float32)
        guest_packets = _audio.encode_all(quiet)
        start = time.time() + 0.3
        await asyncio.gather(
            host.talk(host_packets, start, first_seq=1000),
            guest.talk(guest_packets, start, first_seq=50_000),
        )
        await asyncio.sleep(1.5)
        mouths = [start + onset / RATE for onset in onsets]
        figures["clicks_sent"] = len(mouths)
        for name, client in (("s2l", listener), ("s2s", guest)):
            found, transits = detect(client.bundles, start)
            figures[name] = latencies(found, transits, mouths, args.interval)
            figures[name]["bundles"] = len(transits)
        figures["host_hears_itself"] = len(detect(host.bundles, start)[0])

        harness.progress(f"first audio: {args.joins} new listeners while the host talks")
        speech = _audio.speech_like(args.joins * 1.8 + 4, seed=5)
        talking = asyncio.create_task(host.talk(_audio.encode_all(speech), time.time() + 0.1, first_seq=9000))
        await asyncio.sleep(1.5)
        firsts, failures = [], 0
        for j in range(args.joins):
            cookie = seeded["listeners"][1 + j // 2] if j % 2 else None
            heard = asyncio.Event()
            decoder = codec.make_decoder()
            moment: list[float] = []

            def on_bundle(now: float, raw: bytes, decoder=decoder, heard=heard, moment=moment) -> None:
                if heard.is_set():
                    return
                for packet in wire.decode_bundle(raw).packets:
                    pcm = decoder.decode(packet) if packet else np.zeros(FRAME, np.float32)
                    if float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) > SILENT_RMS:
                        moment.append(now)
                        heard.set()
                        return

            newcomer = _audio.RoomClient(self.url, self.origin, cookie, keep_audio=False)
            newcomer.on_bundle = on_bundle
            t0 = time.time()
            try:
                await newcomer.open()
                await asyncio.wait_for(heard.wait(), 5)
                firsts.append((moment[0] - t0 + PLAYOUT_MIN_S) * 1000)
            except (TimeoutError, OSError):
                failures += 1
            await newcomer.close()
            await asyncio.sleep(0.6)
        talking.cancel()
        figures["first_audio"] = firsts
        figures["first_audio_failures"] = failures
        for client in (host, guest, listener):
            await client.close()
        return figures


def report(args, figures: dict, mode: str) -> dict:
    s2l, s2s = figures.get("s2l", {}), figures.get("s2s", {})
    firsts = figures.get("first_audio", [])
    failed_joins = figures.get("first_audio_failures", 0)
    line = {
        "s2l_p50_ms": pct(s2l.get("ear", []), 50),
        "s2l_p95_ms": pct(s2l.get("ear", []), 95),
        "s2s_p50_ms": pct(s2s.get("ear", []), 50),
        "s2s_p95_ms": pct(s2s.get("ear", []), 95),
        "first_audio_ms": round(max(firsts), 1) if firsts and not failed_joins else None,
    }
    print(f"server: {mode}")
    print(f"machine: {os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(
        f"click train: {figures.get('clicks_sent')} clicks, one every {args.interval * 1000:.0f} ms, "
        f"Opus 32 kbps in real-time 20 ms frames"
    )
    for label, data in (
        ("speaker -> listener (program)", s2l),
        ("speaker -> speaker (mix-minus)", s2s),
    ):
        if not data:
            continue
        print(
            f"{label}: heard {data['clicks_heard']}/{figures.get('clicks_sent')} clicks in {data['bundles']} bundles; "
            f"raw (capture -> bundle arrives) p50 {pct(data['raw'], 50)} ms, p95 {pct(data['raw'], 95)} ms, "
            f"max {round(max(data['raw']), 1) if data['raw'] else None} ms"
        )
        print(
            f"  playout model: {PLAYOUT_MIN_S * 1000:.0f} ms + jitter {data['jitter_ms']:.1f} ms (p95 - min of bundle transit) = "
            f"{data['playout_ms']:.1f} ms; mouth to ear p50 {pct(data['ear'], 50)} ms, "
            f"p95 {pct(data['ear'], 95)} ms, max {round(max(data['ear']), 1) if data['ear'] else None} ms"
        )
    print(f"the host heard its own clicks {figures.get('host_hears_itself')} times (mix-minus: should be 0)")
    if firsts or failed_joins:
        print(
            f"first audio ({len(firsts)} joins, {failed_joins} heard nothing within 5 s; handshake start -> "
            f"first non-silent frame + {PLAYOUT_MIN_S * 1000:.0f} ms reserve): p50 {pct(firsts, 50)} ms, p95 {pct(firsts, 95)} ms, "
            f"max {round(max(firsts), 1) if firsts else None} ms"
        )
    misses = [
        f"{key} {line[key]} > {limit}"
        for key, limit in TARGETS.items()
        if line.get(key) is None or line[key] > limit
    ]
    print("targets: " + ("all met" if not misses else "MISSED: " + "; ".join(misses)))
    return line


def main() -> int:
    args = parse_args()
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
            argparse.Namespace(speakers=1, reactors=0, hand_raisers=0, signed_in=args.joins // 2 + 2),
            migrate=True,
        )
        harness.clear_room_keys(args.redis_url, seeded["room_id"])
        logs = harness.ROOT / "test-artifacts"
        logs.mkdir(exist_ok=True)
        server_redis = "" if args.embedded else args.redis_url
        port, daphnes = harness.start_daphnes(
            1, bench_url, server_redis, logs / "bench-audio-latency-daphne.log", extra
        )
        processes += daphnes
        if args.embedded:
            mode = f"daphne pid {daphnes[0].pid}, no Redis: embedded mixer"
        else:
            mixer = harness.start_mixer(
                bench_url, args.redis_url, logs / "bench-audio-latency-mixer.log", extra
            )
            processes.append(mixer)
            harness.wait_for_lease(args.redis_url, seeded["room_id"])
            mode = f"daphne pid {daphnes[0].pid} + run_mixer pid {mixer.pid} on Redis {args.redis_url}"
        mode += f"; bundles of {args.bundle_frames or settings.AUDIO_BUNDLE_FRAMES} frames"
        url = f"ws://127.0.0.1:{port}/ws/rooms/{seeded['room_id']}/"
        driver = Driver(args, url, f"http://127.0.0.1:{port}", seeded)
        asyncio.run(asyncio.wait_for(driver.run(), args.timeout - 30))
    except BaseException as error:
        failed = error
    finally:
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
