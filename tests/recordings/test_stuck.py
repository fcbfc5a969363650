"""A recording whose finalizing chain was never dispatched (the broker was down) is not lost."""

from datetime import timedelta

import pytest
from django.utils import timezone

from recordings import services
from recordings.models import Recording
from recordings.services import capture_directory
from rooms import services as room_services
from rooms.live import bus

from .helpers import capture_tone

pytestmark = pytest.mark.django_db


def end_without_dispatch(room, host, django_capture_on_commit_callbacks) -> Recording:
    """End the room as the host does while the broker is down: the on-commit dispatch never runs."""
    with django_capture_on_commit_callbacks(execute=False):
        room_services.room_end(room=room, actor=host)
    return Recording.objects.get(room=room)


def age(recording: Recording, seconds: float) -> None:
    Recording.objects.filter(pk=recording.pk).update(
        processing_started_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_a_recording_stuck_in_processing_is_dispatched_again_and_published(
    recorded_room, host, django_capture_on_commit_callbacks
):
    capture_tone(capture_directory(recorded_room.pk), speaker_id=host.pk, seconds=2)
    recording = end_without_dispatch(recorded_room, host, django_capture_on_commit_callbacks)
    assert recording.status == "processing" and recording.dispatched_at is None
    assert services.recordings_redispatch_stuck() == []  # not stuck yet: it may still be on its way
    age(recording, 601)
    assert services.recordings_redispatch_stuck() == [recording.pk]  # without a broker, runs here
    recording.refresh_from_db()
    assert recording.status == "ready" and recording.dispatched_at is not None
    assert services.recordings_redispatch_stuck() == []


def test_a_recording_dispatched_recently_is_left_to_its_chain(
    recorded_room, host, django_capture_on_commit_callbacks
):
    recording = end_without_dispatch(recorded_room, host, django_capture_on_commit_callbacks)
    age(recording, 3600)
    Recording.objects.filter(pk=recording.pk).update(dispatched_at=timezone.now() - timedelta(seconds=30))
    assert services.recordings_redispatch_stuck() == []
    Recording.objects.filter(pk=recording.pk).update(dispatched_at=timezone.now() - timedelta(seconds=601))
    assert services.recordings_redispatch_stuck() == [recording.pk]


def test_a_failing_publish_does_not_keep_the_finalizing_chain_from_starting(
    recorded_room, host, monkeypatch, django_capture_on_commit_callbacks
):
    """Redis is down when the host ends the room: publishing room.ended fails after the commit, and
    the hook after it, which starts finalizing, still runs (it ran in-process here, and found
    nothing captured)."""
    monkeypatch.setattr(bus, "_bus", bus.RedisBus("redis://127.0.0.1:9/0"))  # nothing listens there
    with django_capture_on_commit_callbacks(execute=True):
        room_services.room_end(room=recorded_room, actor=host)
    recorded_room.refresh_from_db()
    assert recorded_room.state == "ended"
    recording = Recording.objects.get(room=recorded_room)
    assert recording.status == "failed" and "Nothing was captured" in recording.failure_reason
