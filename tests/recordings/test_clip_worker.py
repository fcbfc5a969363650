"""Clips cut by a real Celery worker process on the Redis broker (skipped without Redis and PostgreSQL,
which CI has): a listener clips the last 10 s of a live recorded room, then 12 s of its replay; each
clip is a playable Ogg Opus file that FFmpeg (PyAV) decodes to exactly the asked length, with the
speaker's tone in it."""

import pytest

from recordings import services
from recordings.clips import decode_ogg
from recordings.models import Clip, Recording
from recordings.services import ClipFiles, capture_directory
from rooms import services as room_services
from tests.factories import UserFactory

from .helpers import amplitude_at, capture_tone
from .test_worker import wait_for, workers  # noqa: F401 (the worker fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def _ready(clip: Clip) -> Clip:
    wait_for(lambda: Clip.objects.get(pk=clip.pk).status != "pending", 60, f"clip {clip.pk} to be cut")
    clip.refresh_from_db()
    assert clip.status == "ready", clip.failure_reason
    return clip


def _assert_playable(clip: Clip, seconds: float) -> None:
    pcm, rate = decode_ogg(ClipFiles(clip.pk).audio)
    assert rate == 48_000
    assert abs(len(pcm) / rate - seconds) <= 0.01, len(pcm) / rate
    assert clip.duration_ms == seconds * 1000
    assert amplitude_at(pcm[rate // 2 : -rate // 2], 440, rate) > 0.1


def test_the_worker_cuts_live_and_replay_clips_that_play_for_their_length(workers, host, settings):  # noqa: F811
    settings.CLIPS_PER_HOUR = 100
    listener = UserFactory()
    workers.start()
    room = room_services.room_create(host=host, title="Tones at noon", is_recorded=True)
    writer = capture_tone(capture_directory(room.pk), speaker_id=host.pk, seconds=20, close=False)

    live = _ready(services.clip_create_live(room_id=room.pk, actor=listener, seconds=10))
    assert live.source == "live" and (live.start_ms, live.end_ms) == (9_980, 19_980)
    _assert_playable(live, 10)
    assert live.speakers == [[host.pk, "Ada Host"]]

    writer.close()
    room_services.room_end(room=room, actor=host)  # the finalizing chain runs in the worker too
    wait_for(lambda: Recording.objects.get(room=room).status == "ready", 90, "the replay")
    replay_clip = _ready(
        services.clip_create_from_replay(
            recording_id=room.recording.pk, actor=listener, start="5", end="17", title="Twelve seconds"
        )
    )
    assert (replay_clip.start_ms, replay_clip.end_ms) == (5_000, 17_000)
    _assert_playable(replay_clip, 12)
    assert workers.count("cut_clip[") >= 2
