"""A recorded room from end to end, with every real piece: the websocket server, a `run_mixer`
process that mixes and captures the room to disk, and a Celery worker that finalizes it on Redis.
A Python client speaking the browser's protocol plays the microphone (a 440 Hz tone).

Skipped without PostgreSQL and Redis, which CI has.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from mutagen.mp4 import MP4

from recordings.services import RecordingFiles
from rooms import services as room_services
from tests.factories import UserFactory
from tests.live.conftest import close_worker_thread_connections  # noqa: F401 (autouse fixture)
from tests.live.test_audio import Ear, _wait_for_holder, speak
from tests.live.wsclient import join

from .helpers import amplitude_at, decode_m4a
from .ready import wait_until_ready
from .test_worker import _test_database_url, workers  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
db = database_sync_to_async


@pytest.fixture
def mixer_process(settings, media, workers):  # noqa: F811
    settings.AUDIO_MIXER = "external"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "spaces_project.settings.test",
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(media),
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_mixer", "--name", "recording-mixer"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield process
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


async def test_a_live_room_is_recorded_finalized_by_a_worker_and_published(mixer_process, workers):  # noqa: F811
    workers.start()
    host = await db(UserFactory)(display_name="Ada Host")
    room = await db(room_services.room_create)(
        host=host, title="Tones at noon", topics=["audio", "testing"], is_recorded=True
    )
    await db(room_services.participant_set_muted)(room_id=room.pk, actor=host, muted=False)
    await _wait_for_holder(room.pk, timeout=15)
    socket = await join(room.pk, host)
    listener = await join(room.pk, await db(UserFactory)())
    ear = Ear(listener)
    await speak(socket, 440, 8.0)
    assert ear.heard(440) > 0.02  # it was live, not only recorded
    ear.stop()
    await socket.send({"type": "room.end"})
    await socket.wait_for("room.ended")

    recording = await wait_until_ready(room)

    files = RecordingFiles(room.pk)
    pcm, rate = decode_m4a(files.replay)
    seconds = len(pcm) / rate
    assert abs(seconds * 1000 - recording.duration_ms) <= 100
    assert seconds >= 8.0  # all of the talk, from before the first word to the end
    assert amplitude_at(pcm, 440, rate) > 0.05
    tags = MP4(files.replay).tags
    assert tags["\xa9nam"] == ["Tones at noon"]
    assert "Ada Host" in tags["\xa9ART"][0]
    assert tags["covr"]
    assert files.original.exists()
