"""How fast a recording is finalized, as a multiple of real time.

    python bench/finalize.py --minutes 60 [--repeat 3] [--keep DIR]

Synthesizes a capture of that length with the capture code the mixer uses (``CaptureWriter``): a
speech-like voice is encoded once with the mixer's program settings (Opus 32 kbit/s, complexity 1, FEC)
and its packets are reused, with pauses the mixer leaves empty (written as DTX) and voices that change
as in a conversation. Writing the capture is not timed (fsync is off for it; live, it is one fsync a
second). Then the same code the Celery task runs is timed: the cover art, reading and checking every
segment, the Ogg Opus original, decoding and AAC encoding the M4A, tagging both, the duration check.

The machine may be busy: ``--repeat`` runs finalize several times and reports the best. The last line
printed is one JSON object: {"audio_s": ..., "finalize_s": ..., "x_realtime": ...}.
"""

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from recordings.artwork import render_cover  # noqa: E402
from recordings.finalize import ReplayTags, finalize_capture  # noqa: E402
from rooms.audio import codec, wire  # noqa: E402
from rooms.audio.capture import CaptureWriter  # noqa: E402

RATE = wire.SAMPLE_RATE
FRAME = wire.FRAME_SAMPLES
LOOP_SECONDS = 30


def speech_like(seconds: float, seed: int = 1) -> np.ndarray:
    """A harmonic series on a wandering pitch under moving formants, in syllables and talk spurts."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    f0 = 130 * (1 + 0.12 * np.sin(2 * np.pi * 0.7 * t) + 0.05 * np.sin(2 * np.pi * 3.1 * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    out = np.zeros(n)
    for k in range(1, 25):
        formant = (
            np.exp(-(((k * f0 - 600 - 150 * np.sin(2 * np.pi * 2.3 * t)) / 250) ** 2))
            + 0.5 * np.exp(-(((k * f0 - 1700 - 300 * np.sin(2 * np.pi * 1.7 * t)) / 400) ** 2))
            + 0.05
        )
        out += formant * np.sin(k * phase + rng.uniform(0, 6)) / k**0.5
    out *= 0.3 + 0.7 * np.sin(2 * np.pi * 4.0 * t + 1.0) ** 2
    out += rng.standard_normal(n) * 0.01
    return (0.3 * out / np.max(np.abs(out))).astype(np.float32)


def program_packets() -> tuple[list[bytes], list[frozenset[int]]]:
    """LOOP_SECONDS of program packets and who is heard in each: two voices taking turns, with
    pauses of silence (empty packets, as the mixer leaves them)."""
    pcm = speech_like(LOOP_SECONDS)
    encoder = codec.make_encoder(bitrate=32_000, complexity=1, fec=True)
    packets, voices = [], []
    for i in range(len(pcm) // FRAME):
        second = i * wire.FRAME_MS / 1000
        phase = second % 10
        if phase >= 8.5:  # a pause between turns: nobody heard, nothing encoded
            packets.append(b"")
            voices.append(frozenset())
            continue
        packets.append(encoder.encode(pcm[i * FRAME : (i + 1) * FRAME]))
        voices.append(frozenset({1 if (second // 10) % 2 == 0 else 2}))
    return packets, voices


def write_capture(directory: Path, minutes: float) -> int:
    packets, voices = program_packets()
    total = int(minutes * 60 * 1000 / wire.FRAME_MS)
    start_ms = time.time() * 1000
    # Two segments, as after a mixer takeover, so joining segments is part of the measure.
    cut = total // 3
    written = 0
    for first, last in ((0, cut), (cut, total)):
        writer = CaptureWriter(directory, started_ms=start_ms + first * wire.FRAME_MS, fsync=False)
        for i in range(first, last):
            j = i % len(packets)
            writer.write(i, start_ms + i * wire.FRAME_MS, packets[j], voices[j])
        writer.close()
        written += last - first
    return written


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the capture and replay here and keep them")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="spaces-finalize-"))
    capture_dir, out_dir = work / "capture", work / "out"
    shutil.rmtree(capture_dir, ignore_errors=True)
    try:
        t0 = time.perf_counter()
        packets = write_capture(capture_dir, args.minutes)
        audio_s = packets * wire.FRAME_MS / 1000
        print(
            f"capture: {audio_s / 60:.1f} min of audio, {packets} packets in 2 segments "
            f"({sum(p.stat().st_size for p in capture_dir.iterdir()) / 1e6:.1f} MB), "
            f"written in {time.perf_counter() - t0:.1f} s (not timed)"
        )
        runs = []
        for run in range(args.repeat):
            t0 = time.perf_counter()
            cover = render_cover(
                title="A synthetic hour of talk", host="Bench Host", topics=["bench", "audio"]
            )
            result = finalize_capture(
                capture_dir,
                out_dir,
                tags=ReplayTags(
                    title="A synthetic hour of talk",
                    artist="Bench Host",
                    date="2025-01-01",
                    topics=["bench", "audio"],
                    cover_jpeg=cover,
                ),
            )
            elapsed = time.perf_counter() - t0
            runs.append(elapsed)
            print(
                f"run {run + 1}: finalized in {elapsed:.2f} s = {audio_s / elapsed:.0f}x real time; "
                f"M4A {result.replay_bytes / 1e6:.1f} MB lasting {result.m4a_duration_ms / 1000:.2f} s "
                f"(captured {result.duration_ms / 1000:.2f} s), {len(result.turns)} turns"
            )
        best = min(runs)
        print(f"best of {len(runs)}: {best:.2f} s for {audio_s:.0f} s of audio (target: >= 100x real time)")
        print(
            json.dumps(
                {
                    "audio_s": round(audio_s, 1),
                    "finalize_s": round(best, 2),
                    "x_realtime": round(audio_s / best, 1),
                }
            )
        )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
