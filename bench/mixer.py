"""CPU cost of one room's mixer, as a share of one core.

    python bench/mixer.py --speakers 13 [--seconds 20] [--active N] [--repeat 3]
                                    [--complexity 5] [--no-fec]

Generates speech-like voices with numpy (a glottal-pulse-like harmonic series at each speaker's own
pitch, shaped by moving formants, in syllables of 120-260 ms with short gaps, grouped into talk
spurts of 1-4 s separated by pauses), encodes every speaker's uplink with a real Opus encoder (DTX on,
as the browsers send it) and lays the frames out on a timeline with network jitter and a little
reordering. All of that happens before timing. Then only the mixer is timed: every frame pushed at its
arrival time and one ``tick`` per 20 ms, in real-time order but as fast as possible. CPU % of one core
= process CPU time / audio duration.

Every speaker is on stage (each receives a mix-minus stream), which is the expensive case.
Scenarios:
  all-pauses     all speakers talk all the time, with natural pauses in each voice (the headline)
  conversation   turn-taking, about 2-3 voices at once
  all-nonstop    all speakers talk without any pause (an upper bound, not a real room)
``--active N`` runs a single scenario in which N speakers talk with natural pauses and the others are
on stage but silent (their browsers send DTX).

The last line printed is one JSON object; its ``cpu_pct_of_core`` is the median of the all-pauses runs.
"""

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from rooms.audio import codec, wire  # noqa: E402
from rooms.audio.mixer import RoomMixer  # noqa: E402

RATE = wire.SAMPLE_RATE
FRAME = wire.FRAME_SAMPLES
T0_MS = 1_700_000_000_000.0


def voice(
    rng: np.random.Generator, seconds: float, f0: float, activity: list[tuple[float, float]]
) -> np.ndarray:
    """Speech-like audio: syllables inside the given (start, end) talk spurts, quiet room noise elsewhere."""
    total = int(seconds * RATE)
    out = (rng.standard_normal(total) * 10 ** (-72 / 20)).astype(np.float32)
    for start, end in activity:
        t = start
        while t < end:
            length = min(rng.uniform(0.12, 0.26), end - t)
            n = int(length * RATE)
            i0 = int(t * RATE)
            if n < 64 or i0 + n > total:
                break
            time_axis = np.arange(n) / RATE
            pitch = f0 * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(2, 5) * time_axis + rng.uniform(0, 6)))
            phase = 2 * np.pi * np.cumsum(pitch) / RATE
            formant1, formant2 = rng.uniform(300, 850), rng.uniform(900, 2400)
            syllable = np.zeros(n)
            for k in range(1, int(3800 // f0)):
                fk = k * f0
                gain = (
                    1 / k
                    + 1.5 * np.exp(-(((fk - formant1) / 120) ** 2))
                    + 0.8 * np.exp(-(((fk - formant2) / 200) ** 2))
                )
                syllable += gain * np.sin(k * phase)
            if rng.random() < 0.4:  # a fricative onset
                m = min(n, int(0.05 * RATE))
                syllable[:m] += rng.standard_normal(m) * 0.6
            envelope = np.sin(np.pi * np.arange(n) / n) ** 0.7
            loudness = 10 ** (rng.uniform(-22, -10) / 20)
            syllable *= envelope * loudness / (np.sqrt(np.mean(syllable**2)) + 1e-9)
            out[i0 : i0 + n] += syllable.astype(np.float32)
            t += length + rng.uniform(0.03, 0.09)
    return np.clip(out, -1, 1)


def spurts(rng: random.Random, seconds: float, talk: tuple[float, float], pause: tuple[float, float]) -> list:
    activity, t = [], rng.uniform(0, pause[1])
    while t < seconds:
        length = rng.uniform(*talk)
        activity.append((t, min(seconds, t + length)))
        t += length + rng.uniform(*pause)
    return activity


def scenario_activity(name: str, speakers: int, seconds: float, active: int, rng: random.Random) -> list:
    if name == "all-nonstop":
        return [[(0.0, seconds)] for _ in range(speakers)]
    if name == "all-pauses":
        return [spurts(rng, seconds, (1.0, 4.0), (0.3, 1.5)) for _ in range(speakers)]
    if name == "conversation":
        # Mean spurt 2.5 s; a pause long enough that about 2.5 of the speakers talk at any moment.
        mean_pause = 2.5 * (speakers / 2.5 - 1)
        return [
            spurts(rng, seconds, (1.0, 4.0), (0.5 * mean_pause, 1.5 * mean_pause)) for _ in range(speakers)
        ]
    # --active N
    return [spurts(rng, seconds, (1.0, 4.0), (0.3, 1.5)) if i < active else [] for i in range(speakers)]


def build_events(speakers: int, seconds: float, activity: list, seed: int) -> tuple[list, dict]:
    """Encode every uplink and return (events sorted by arrival, facts about the input)."""
    rng = np.random.default_rng(seed)
    jitter = random.Random(seed)
    frames = int(seconds * 1000 / wire.FRAME_MS)
    events = []
    packets = dtx = 0
    for user_id in range(1, speakers + 1):
        pcm = voice(rng, seconds, 95 + 9 * user_id, activity[user_id - 1])
        encoder = codec.make_encoder(complexity=9, dtx=True)  # what a browser would send
        first_seq = jitter.randrange(1 << 32)  # includes wrap-around for some speakers
        for i in range(frames):
            packet = encoder.encode(pcm[i * FRAME : (i + 1) * FRAME])
            packets += 1
            if len(packet) <= 2:
                dtx += 1
            captured = T0_MS + i * wire.FRAME_MS
            arrival = captured + 25 + jitter.expovariate(1 / 6)  # network and browser delay, jittery
            events.append((arrival, user_id, wire.encode_uplink(first_seq + i, captured, packet)))
    events.sort(key=lambda e: e[0])
    talking = np.zeros(frames)
    for spans in activity:
        for start, end in spans:
            talking[int(start * 50) : int(end * 50)] += 1
    return events, {"dtx_share": dtx / packets, "mean_talking": float(talking.mean())}


def run_mixer(events: list, speakers: int, seconds: float, args) -> tuple[float, dict]:
    mixer = RoomMixer(complexity=args.complexity, fec=not args.no_fec)
    everyone = list(range(1, speakers + 1))
    mixer.set_allowed(everyone)
    mixer.set_stage(everyone)
    ticks = int(seconds * 1000 / wire.FRAME_MS)
    sent = 0
    index = 0
    start_cpu = time.process_time()
    for k in range(ticks):
        now = T0_MS + 40 + k * wire.FRAME_MS
        while index < len(events) and events[index][0] <= now:
            arrival, user_id, data = events[index]
            mixer.push(user_id, data, arrival)
            index += 1
        for _receiver, bundle in mixer.tick(now):
            sent += len(bundle)
    cpu = time.process_time() - start_cpu
    stats = dict(mixer.stats)
    stats["downlink_bytes"] = sent
    return cpu, stats


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--speakers", type=int, default=13)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--active", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--complexity", type=int, default=1)
    parser.add_argument("--no-fec", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    names = (
        [f"active-{args.active}"]
        if args.active is not None
        else ["all-pauses", "conversation", "all-nonstop"]
    )
    print(
        f"mixer bench: {args.speakers} speakers, all on stage, {args.seconds:g} s of audio, "
        f"codec backend {codec.default_backend()}, complexity {args.complexity}, "
        f"FEC {'off' if args.no_fec else 'on'}, {args.repeat} runs each"
    )
    results = {}
    for name in names:
        activity = scenario_activity(
            name, args.speakers, args.seconds, args.active or 0, random.Random(args.seed)
        )
        events, facts = build_events(args.speakers, args.seconds, activity, args.seed)
        runs, stats = [], {}
        for _ in range(args.repeat):
            cpu, stats = run_mixer(events, args.speakers, args.seconds, args)
            runs.append(100 * cpu / args.seconds)
        ticks = stats["ticks"]
        encodes_per_tick = (stats["encodes"]) / ticks
        results[name] = {"best": min(runs), "median": statistics.median(runs), "runs": runs}
        print(
            f"  {name:13s} best {min(runs):5.1f} %  median {statistics.median(runs):5.1f} %  "
            f"of one core | voices talking on average {facts['mean_talking']:.1f}, "
            f"uplink DTX packets {100 * facts['dtx_share']:.0f} %, encodes/tick {encodes_per_tick:.2f} "
            f"(primes {stats['prime_encodes'] / ticks:.2f}), encodes skipped for silence/tick "
            f"{stats['silent_frames'] / ticks:.2f}, "
            f"downlink {8 * stats['downlink_bytes'] / args.seconds / (1 + args.speakers) / 1000:.1f} kbit/s "
            f"per stream, late {stats['late']}, lost {stats['lost']}"
        )
    headline = names[0]
    print(
        f"headline: {headline} ("
        + (
            "every speaker sending continuously with natural pauses in each voice"
            if args.active is None
            else f"{args.active} speakers talking with natural pauses, the rest silent on stage"
        )
        + "), "
        f"median of {args.repeat} runs; target <= 15 % of one core"
    )
    summary = {
        "speakers": args.speakers,
        "cpu_pct_of_core": round(results[headline]["median"], 2),
        "best_pct": round(results[headline]["best"], 2),
        "scenario": headline,
        "complexity": args.complexity,
        "fec": not args.no_fec,
        "backend": codec.default_backend(),
        "scenarios": {
            name: {k: round(v, 2) for k, v in r.items() if k != "runs"} for name, r in results.items()
        },
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
