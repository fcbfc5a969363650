"""Three "machines" sharing only the database, Redis and the bucket (MEDIA_STORAGE=s3): a `run_mixer`
process mixes and captures a live room into the bucket, a Celery worker process finalizes it from
the bucket into the bucket, and this process serves the replay by a presigned URL. Each has a
MEDIA_ROOT of its own that none of them may create.

Skipped without PostgreSQL and Redis, which CI has.
"""

import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse

from recordings.services import RecordingFiles
from rooms import services as room_services
from spaces_project import media as media_files
from tests.factories import UserFactory
from tests.live.conftest import close_worker_thread_connections  # noqa: F401 (autouse fixture)
from tests.live.test_audio import Ear, _wait_for_holder, speak
from tests.live.wsclient import join
from tests.recordings.helpers import amplitude_at, decode_m4a
from tests.recordings.ready import wait_until_ready
from tests.recordings.test_worker import _test_database_url, workers  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
db = database_sync_to_async


@pytest.fixture
def media(settings, tmp_path, s3_media):
    """Every process's MEDIA_ROOT (for the web process, the mixer's and the worker's): never created."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def nodes(settings, media, s3_media, workers, tmp_path):  # noqa: F811
    server, bucket = s3_media
    settings.AUDIO_MIXER = "external"
    stored = server.environment(bucket)
    workers.env.update(stored)
    workers.env["TMPDIR"] = str(tmp_path / "worker-tmp")
    (tmp_path / "worker-tmp").mkdir()
    mixer_tmp = tmp_path / "mixer-tmp"
    mixer_tmp.mkdir()
    env = {
        **os.environ,
        **stored,
        "DJANGO_SETTINGS_MODULE": "spaces_project.settings.test",
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(media),
        "TMPDIR": str(mixer_tmp),
        "RECORDINGS_CAPTURE_SEGMENT_S": "3",
        "RECORDINGS_CAPTURE_UPLOAD_S": "1",
    }
    log = tmp_path / "mixer.log"
    with open(log, "wb") as out:
        mixer = subprocess.Popen(
            [sys.executable, "manage.py", "run_mixer", "--name", "s3-mixer"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    yield SimpleNamespace(
        server=server, bucket=bucket, mixer_tmp=mixer_tmp, worker_tmp=tmp_path / "worker-tmp", mixer_log=log
    )
    mixer.terminate()
    try:
        mixer.wait(10)
    except subprocess.TimeoutExpired:
        mixer.kill()


async def test_a_room_mixed_on_one_node_is_finalized_on_another_and_replayed_from_the_bucket(
    nodes,
    workers,  # noqa: F811
    media,
):
    server, bucket, mixer_tmp, worker_tmp = nodes.server, nodes.bucket, nodes.mixer_tmp, nodes.worker_tmp
    workers.start()
    host = await db(UserFactory)(display_name="Ada Host")
    room = await db(room_services.room_create)(
        host=host, title="Tones at noon", is_recorded=True, allow_anonymous=True
    )
    await db(room_services.participant_set_muted)(room_id=room.pk, actor=host, muted=False)
    await _wait_for_holder(room.pk, timeout=15)
    socket = await join(room.pk, host)
    listener = await join(room.pk, await db(UserFactory)())
    ear = Ear(listener)
    await speak(socket, 440, 8.0)
    assert ear.heard(440) > 0.02
    ear.stop()
    files = RecordingFiles(room.pk)
    # While the room is live its capture is already in the bucket, segment by segment.
    assert any(key.startswith(files.capture_prefix) for key in server.keys(bucket))
    await socket.send({"type": "room.end"})
    await socket.wait_for("room.ended")

    recording = await wait_until_ready(room)

    stored = server.keys(bucket)
    assert {files.original_name, files.replay_name, files.cover_name, files.waveform_name} <= set(stored)
    segments = [key for key in stored if key.startswith(files.capture_prefix) and key.endswith(".ogg")]
    assert len(segments) >= 2 and recording.segment_count == len(segments)  # a new one every 3 s
    with media_files.fetched(files.replay_name) as replay:
        pcm, rate = decode_m4a(replay)
    assert abs(len(pcm) / rate * 1000 - recording.duration_ms) <= 100
    # Everything the mixer captured is in the replay, across the segment joins and the machines: it
    # says how much it stored each time it closed a capture (more than once if, on a loaded machine,
    # it missed its 500 ms lease and took the room again, which loses a moment in any storage mode).
    log = nodes.mixer_log.read_text()
    stored_ms = [int(ms) for ms in re.findall(r"capture of room \d+ closed: (\d+) ms stored", log)]
    assert stored_ms and abs(sum(stored_ms) - recording.duration_ms) <= 20 * len(stored_ms), log
    if "lost the lease" not in log:
        assert len(pcm) / rate >= 8.0, (recording.segment_times, log)  # all of the talk
    assert amplitude_at(pcm, 440, rate) > 0.05

    client = Client()
    await db(client.get)(reverse("recordings:detail", args=[recording.pk]))
    response = await db(client.get)(reverse("recordings:stream", args=[recording.pk]))
    assert response.status_code == 302
    with urllib.request.urlopen(
        urllib.request.Request(response["Location"], headers={"Range": "bytes=0-1023"})
    ) as answer:
        assert answer.status == 206 and len(answer.read()) == 1024

    # No process wrote under MEDIA_ROOT, and none left a temporary file of ours behind (all are
    # named spaces-*, spaces_project/media.py and rooms/live/capture.py).
    assert not media.exists()
    assert [
        p.name for p in [*mixer_tmp.iterdir(), *worker_tmp.iterdir()] if p.name.startswith("spaces-")
    ] == []
