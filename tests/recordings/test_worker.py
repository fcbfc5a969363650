"""End to end with real Celery worker processes on the Redis broker (skipped without Redis and
PostgreSQL, which CI has): a room recorded for 10 s is ended by its host, the chain runs in the worker,
the replay is published once, whatever happens to the worker.

The capture is made the way a live room makes it: a RoomMixer mixing a speaker's 440 Hz tone hands
its program packets to a CaptureWriter (tests/recordings/helpers.py).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from mutagen.mp4 import MP4

from accounts.models import Notification
from recordings import services
from recordings.models import Recording
from recordings.services import RecordingFiles, capture_directory
from rooms import services as room_services
from spaces_project.celery import app as celery_app

from .helpers import amplitude_at, capture_tone, decode_m4a

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))
# What a person waits, at most, for the task of a killed worker to reach another (issue 21).
LOST_TASK_BOUND_S = 120


def _test_database_url() -> str:
    db = django_settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        pytest.skip("a worker process needs a database it can share: run with PostgreSQL")
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Workers:
    def __init__(self, env: dict, log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []

    def start(
        self, *, pool: str = "solo", concurrency: int = 1, app: str = "spaces_project"
    ) -> subprocess.Popen:
        log = self.log_dir / f"worker-{len(self.processes) + 1}.log"
        command = [
            CELERY,
            "-A",
            app,
            "worker",
            "-l",
            "info",
            "--pool",
            pool,
            "-c",
            str(concurrency),
        ]
        command += ["--without-mingle", "--without-gossip", "-n", f"rec{len(self.processes) + 1}@%h"]
        with open(log, "wb") as out:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so kill -9 takes its children too
            )
        process.log = log
        self.processes.append(process)
        deadline = time.monotonic() + 60
        while b" ready." not in log.read_bytes():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.2)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(5)

    def count(self, text: str) -> int:
        return sum(process.log.read_text(errors="replace").count(text) for process in self.processes)


@pytest.fixture
def workers(settings, media, tmp_path):
    if not settings.REDIS_URL:
        pytest.skip("a real worker needs Redis (REDIS_URL)")

    # A message left by an earlier run (a killed worker) would be delivered again: start clean.
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("celery", "unacked", "unacked_index")
    client.close()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "spaces_project.settings.test",
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(media),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "PYTHONUNBUFFERED": "1",
    }
    # This process dispatches to the broker instead of running tasks itself. Celery read its
    # configuration from the settings already, so its own switch is turned too.
    settings.CELERY_TASK_ALWAYS_EAGER = False
    celery_app.conf.task_always_eager = False
    started = Workers(env, tmp_path)
    yield started
    started.stop_all()
    celery_app.conf.task_always_eager = True


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def recording_of(room) -> Recording:
    return Recording.objects.get(room=room)


def record_and_end(host, *, seconds: float = 10) -> Recording:
    room = room_services.room_create(
        host=host, title="Tones at noon", topics=["audio", "testing"], is_recorded=True
    )
    capture_tone(capture_directory(room.pk), speaker_id=host.pk, seconds=seconds)
    room_services.room_end(room=room, actor=host)  # autocommit: the chain is dispatched now
    return recording_of(room)


def ready_notifications() -> list[int]:
    return sorted(
        Notification.objects.filter(kind=Notification.Kind.RECORDING_READY).values_list(
            "recipient_id", flat=True
        )
    )


def assert_full_replay(recording: Recording, seconds: float) -> None:
    replay = RecordingFiles(recording.room_id).replay
    assert recording.duration_ms == seconds * 1000
    assert abs(MP4(str(replay)).info.length * 1000 - recording.duration_ms) <= 100
    pcm, rate = decode_m4a(replay)
    assert abs(len(pcm) / rate - seconds) <= 0.1
    assert amplitude_at(pcm[rate : int((seconds - 1) * rate)], 440, rate) > 0.1
    leftovers = [p.name for p in replay.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_a_recorded_room_is_published_by_the_worker_with_its_tags(workers, host, followers):
    workers.start()
    recording = record_and_end(host)
    wait_for(lambda: recording_of(recording.room).status == "ready", 90, "the replay")
    recording.refresh_from_db()
    assert_full_replay(recording, 10)
    tags = MP4(str(RecordingFiles(recording.room_id).replay))
    assert tags["\xa9nam"] == ["Tones at noon"] and tags["\xa9ART"] == ["Ada Host"]
    assert tags["\xa9gen"] == ["audio, testing"]
    assert bytes(tags["covr"][0]).startswith(b"\xff\xd8")  # a JPEG cover
    assert ready_notifications() == sorted(f.pk for f in followers)


def test_the_chain_run_twice_publishes_once(workers, host, followers):
    # Two worker processes, so the duplicate chains really run at the same time.
    workers.start(pool="prefork", concurrency=2)
    recording = record_and_end(host)
    services.recording_process(recording_id=recording.pk)  # a duplicate dispatch, at once
    wait_for(lambda: workers.count("publish_recording[") >= 2 * 2, 90, "both chains to finish")
    recording.refresh_from_db()
    # Both runs started; the second waited for the first's lock, then found the work done.
    assert recording.status == "ready" and workers.count(f"recording {recording.pk} finalized:") == 1
    published_at = recording.published_at
    services.recording_process(recording_id=recording.pk)  # and once more, after publishing
    wait_for(lambda: workers.count("publish_recording[") >= 3 * 2, 60, "the third chain")
    recording.refresh_from_db()
    assert recording.published_at == published_at
    assert workers.count(f"recording {recording.pk} finalized:") == 1
    assert Recording.objects.filter(status="ready").count() == 1
    assert ready_notifications() == sorted(f.pk for f in followers)
    assert_full_replay(recording, 10)


def test_a_worker_killed_during_finalize_is_replaced_and_the_job_finishes(workers, host, followers):
    slow = workers.start(app="tests.recordings.slow_worker")
    recording = record_and_end(host)
    wait_for(lambda: recording_of(recording.room).finalize_attempts == 1, 60, "finalize to start")
    wait_for(
        lambda: list(RecordingFiles(recording.room_id).directory.glob(".original.ogg.*.tmp")),
        30,
        "the first file",
    )
    workers.kill(slow)
    killed = time.monotonic()
    recording.refresh_from_db()
    assert recording.status == "processing" and recording.finalized_at is None
    # The broker hands the unacknowledged message out again once its lease, no longer renewed, is
    # the visibility timeout old (production's: settings/base.py).
    replacement = workers.start()
    wait_for(
        lambda: "recordings.tasks.finalize_recording[" in replacement.log.read_text(errors="replace"),
        LOST_TASK_BOUND_S + 60,
        "finalizing delivered again",
    )
    waited = time.monotonic() - killed
    assert waited <= LOST_TASK_BOUND_S
    wait_for(lambda: recording_of(recording.room).status == "ready", 90, "the replay after the restart")
    print(
        f"recordings: finalizing went to the next worker {waited:.1f} s after its worker was killed; "
        f"the replay was ready {time.monotonic() - killed:.1f} s after the kill"
    )
    recording.refresh_from_db()
    assert recording.finalize_attempts == 2  # the killed run, then the one that finished
    assert Recording.objects.filter(status="ready").count() == 1
    assert ready_notifications() == sorted(f.pk for f in followers)
    assert_full_replay(recording, 10)
