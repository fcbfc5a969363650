import pytest

from accounts.services import follow_create
from recordings.services import capture_directory
from rooms import services as room_services
from tests.factories import UserFactory

from .helpers import capture_tone


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def host(db):
    return UserFactory(display_name="Ada Host")


@pytest.fixture
def followers(host):
    people = [UserFactory(), UserFactory()]
    for person in people:
        follow_create(follower=person, followee=host)
    return people


@pytest.fixture
def recorded_room(host):
    return room_services.room_create(
        host=host, title="Tones at noon", topics=["audio", "testing"], is_recorded=True, allow_anonymous=True
    )


def end_room(room, host, django_capture_on_commit_callbacks):
    """End the room as its host does; without a broker the finalizing chain runs on commit."""
    with django_capture_on_commit_callbacks(execute=True):
        room_services.room_end(room=room, actor=host)


@pytest.fixture
def ready_recording(recorded_room, host, django_capture_on_commit_callbacks):
    capture_tone(capture_directory(recorded_room.pk), speaker_id=host.pk, seconds=2)
    end_room(recorded_room, host, django_capture_on_commit_callbacks)
    recording = recorded_room.recording
    recording.refresh_from_db()
    assert recording.status == "ready", recording.failure_reason
    return recording
