"""What keeping media in object storage (MEDIA_STORAGE=s3) costs a mixer and the finalizer.

    python bench/media_s3.py --minutes 10 [--repeat 3]

Starts the tests' S3 server (moto's, tests/s3.py, on 127.0.0.1: the network is loopback, so what is
measured is our side's work, not a provider's latency) and, with the settings MEDIA_STORAGE=s3 builds:

1. A mixer's capture (rooms/live/capture.py's StoredCapture) of ``--minutes`` of program packets,
   flushed every second as the mixer's runner does: how long each flush takes on its worker thread
   (p50, p95, max; an upload of the open segment every RECORDINGS_CAPTURE_UPLOAD_S, a new segment
   every RECORDINGS_CAPTURE_SEGMENT_S), and the bytes and requests it sends per minute of audio.
2. Finalizing that capture as the Celery task does in S3 mode (download the segments, finalize, upload
   the original and the replay) against finalizing the same capture from and to local disk; the best
   of ``--repeat`` each.

The last line printed is one JSON object.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.s3 import S3Server  # noqa: E402

RUNS_PER_SECOND = 50


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    server = S3Server().start()
    try:
        bucket = server.new_bucket()
        os.environ.update(server.environment(bucket))
        os.environ["DJANGO_SETTINGS_MODULE"] = "spaces_project.settings.bench"
        import django  # noqa: PLC0415 (after the environment names the bucket)

        django.setup()
        run(server, bucket, args.minutes, args.repeat)
    finally:
        server.stop()


def run(server: S3Server, bucket: str, minutes: float, repeat: int) -> None:
    # Django is set up by now (main): these read its settings.
    from django.conf import settings  # noqa: PLC0415 (after django.setup, in main)

    from bench.finalize import program_packets  # noqa: PLC0415 (after django.setup, in main)
    from recordings.artwork import render_cover  # noqa: PLC0415 (after django.setup, in main)
    from recordings.finalize import ORIGINAL_NAME, REPLAY_NAME, ReplayTags, finalize_capture  # noqa: PLC0415 (after django.setup, in main)
    from rooms.audio import wire  # noqa: PLC0415 (after django.setup, in main)
    from rooms.live.capture import StoredCapture, capture_prefix  # noqa: PLC0415 (after django.setup, in main)
    from spaces_project import media  # noqa: PLC0415 (after django.setup, in main)

    media.warm_up()
    room_id = 1
    packets, voices = program_packets()
    total = int(minutes * 60 * 1000 / wire.FRAME_MS)
    capture = StoredCapture(
        room_id,
        started_ms=time.time() * 1000,
        segment_s=settings.RECORDINGS_CAPTURE_SEGMENT_S,
        upload_s=settings.RECORDINGS_CAPTURE_UPLOAD_S,
    )
    # The mixer's clock is simulated (faster than real time), the store's upload interval is not:
    # make the upload interval count in packets instead, as it would in a real room.
    flushes, uploads, uploaded = [], 0, 0
    real_upload = media.upload

    def counting_upload(path, name):
        nonlocal uploads, uploaded
        uploads += 1
        uploaded += path.stat().st_size
        real_upload(path, name)

    media.upload = counting_upload
    every = int(settings.RECORDINGS_CAPTURE_UPLOAD_S * RUNS_PER_SECOND)
    try:
        for i in range(total):
            j = i % len(packets)
            capture.write(i, i * wire.FRAME_MS, packets[j], voices[j])
            if i % RUNS_PER_SECOND == RUNS_PER_SECOND - 1:
                if (i // RUNS_PER_SECOND) % (every // RUNS_PER_SECOND or 1) == 0:
                    capture._uploaded_at = 0.0  # due now, as RECORDINGS_CAPTURE_UPLOAD_S passed
                else:
                    capture._uploaded_at = time.monotonic()
                t0 = time.perf_counter()
                capture.flush()
                flushes.append((time.perf_counter() - t0) * 1000)
        capture.close()
    finally:
        media.upload = real_upload
    audio_s = total * wire.FRAME_MS / 1000
    quantiles = statistics.quantiles(flushes, n=100)
    print(
        f"capture: {audio_s / 60:.1f} min, {len(flushes)} flushes: p50 {quantiles[49]:.1f} ms, "
        f"p95 {quantiles[94]:.1f} ms, max {max(flushes):.1f} ms; {uploads} uploads, "
        f"{uploaded / 1e6:.1f} MB ({uploaded / 1e3 / (audio_s / 60):.0f} kB and "
        f"{uploads / (audio_s / 60):.0f} PUTs per minute of audio)"
    )

    prefix = capture_prefix(room_id)
    tags = ReplayTags(
        title="Bench",
        artist="Bench Host",
        date="2025-01-01",
        cover_jpeg=render_cover(title="Bench", host="Bench Host", topics=[]),
    )
    local, stored = [], []
    with tempfile.TemporaryDirectory(prefix="spaces-bench-") as work:
        with media.fetched_tree(prefix) as fetched:
            local_capture = Path(work) / "capture"
            local_capture.mkdir()
            for path in fetched.iterdir():
                (local_capture / path.name).write_bytes(path.read_bytes())
        for _ in range(repeat):
            t0 = time.perf_counter()
            finalize_capture(local_capture, Path(work) / "out", tags=tags)
            local.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            with media.fetched_tree(prefix) as directory, media.workspace("recordings/1/") as out:
                finalize_capture(directory, out, tags=tags)
                media.store(out, "recordings/1/", [ORIGINAL_NAME, REPLAY_NAME])
            stored.append(time.perf_counter() - t0)
    print(
        f"finalize {audio_s / 60:.1f} min: local disk best {min(local):.2f} s, through the bucket best "
        f"{min(stored):.2f} s (+{min(stored) - min(local):.2f} s), of {repeat} each"
    )
    print(
        json.dumps(
            {
                "audio_s": audio_s,
                "flush_p50_ms": round(quantiles[49], 1),
                "flush_p95_ms": round(quantiles[94], 1),
                "flush_max_ms": round(max(flushes), 1),
                "upload_kb_per_audio_min": round(uploaded / 1e3 / (audio_s / 60)),
                "puts_per_audio_min": round(uploads / (audio_s / 60)),
                "finalize_local_s": round(min(local), 2),
                "finalize_s3_s": round(min(stored), 2),
                "x_realtime_s3": round(audio_s / min(stored)),
            }
        )
    )


if __name__ == "__main__":
    main()
