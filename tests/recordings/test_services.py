"""The recording's life: the switch, capture bookkeeping, the chain run in-process, removal."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from mutagen.mp4 import MP4

from accounts.models import Notification
from moderation.services import moderation_remove_recording
from recordings import services
from recordings.models import Recording
from recordings.services import RecordingFiles, capture_directory, room_is_recorded
from rooms import services as room_services
from rooms.models import Room
from spaces_project.errors import NotFound, ServiceError
from tests.factories import UserFactory

from .conftest import end_room
from .helpers import capture_tone

pytestmark = pytest.mark.django_db


class TestSwitch:
    def test_a_recorded_room_that_goes_live_is_capturing(self, recorded_room):
        assert recorded_room.recording.status == Recording.Status.CAPTURING
        assert room_is_recorded(recorded_room.pk)
        assert capture_directory(recorded_room.pk).parts[-3:] == (
            "recordings",
            str(recorded_room.pk),
            "capture",
        )

    def test_a_room_without_the_switch_has_no_recording(self, host):
        room = room_services.room_create(host=host, title="Off the record")
        assert not Recording.objects.filter(room=room).exists()
        assert not room_is_recorded(room.pk)

    def test_a_scheduled_room_can_be_switched_on_and_records_when_started(self, host):
        room = room_services.room_create(
            host=host, title="Later", start_now=False, scheduled_for=timezone.now() + timedelta(hours=2)
        )
        room_services.room_update(
            room=room,
            actor=host,
            title="Later",
            description="",
            topics=[],
            speaker_policy="everyone",
            allow_anonymous=True,
            is_recorded=True,
        )
        assert not room_is_recorded(room.pk)  # not live yet: no mixer should capture
        room = room_services.room_start(room=room, actor=host)
        assert room.recording.status == Recording.Status.CAPTURING and room_is_recorded(room.pk)

    def test_the_switch_cannot_be_turned_on_after_the_start(self, host):
        room = room_services.room_create(host=host, title="Live now")
        with pytest.raises(ServiceError) as error:
            room_services.room_update(
                room=room,
                actor=host,
                title="Live now",
                description="",
                topics=[],
                speaker_policy="everyone",
                allow_anonymous=True,
                is_recorded=True,
            )
        assert error.value.code == "recording_locked"
        room.refresh_from_db()
        assert not room.is_recorded and not Recording.objects.filter(room=room).exists()

    def test_the_edit_page_neither_offers_nor_accepts_the_switch_after_the_start(self, host, csrf_client):
        room = room_services.room_create(host=host, title="Live now")
        csrf_client.force_login(host)
        url = reverse("rooms:edit", args=[room.pk])
        page = csrf_client.get(url)
        assert 'name="is_recorded"' not in page.content.decode()
        data = {
            "title": "Live now",
            "description": "",
            "topics": "",
            "tz": "UTC",
            "speaker_policy": "everyone",
            "allow_anonymous": "on",
            "is_recorded": "on",
            "csrfmiddlewaretoken": csrf_client.cookies["csrftoken"].value,
        }
        csrf_client.post(url, data)
        room.refresh_from_db()
        assert not room.is_recorded and not room_is_recorded(room.pk)


class TestChainInProcess:
    def test_ending_a_recorded_room_publishes_a_tagged_replay_and_tells_followers(
        self, recorded_room, host, followers, django_capture_on_commit_callbacks
    ):
        capture_tone(capture_directory(recorded_room.pk), speaker_id=host.pk, seconds=2)
        end_room(recorded_room, host, django_capture_on_commit_callbacks)
        recording = Recording.objects.get(room=recorded_room)
        assert recording.status == Recording.Status.READY and recording.published_at
        assert recording.duration_ms == 2000 and recording.finalize_attempts == 1
        files = RecordingFiles(recorded_room.pk)
        assert all(path.exists() for path in (files.replay, files.original, files.cover, files.waveform))
        tags = MP4(str(files.replay))
        assert tags["\xa9nam"] == ["Tones at noon"] and tags["\xa9ART"] == ["Ada Host"]
        assert [turn[0] for turn in recording.turns] == [host.pk] and len(recording.peaks) == 1000
        notified = Notification.objects.filter(kind=Notification.Kind.RECORDING_READY)
        assert sorted(n.recipient_id for n in notified) == sorted(f.pk for f in followers)
        assert {n.url for n in notified} == {reverse("recordings:detail", args=[recording.pk])}

    def test_running_the_chain_again_changes_nothing(self, ready_recording, followers):
        published_at = ready_recording.published_at
        count = Notification.objects.filter(kind=Notification.Kind.RECORDING_READY).count()
        services.recording_process(recording_id=ready_recording.pk)
        services.recording_finalize(recording_id=ready_recording.pk)
        services.recording_publish(recording_id=ready_recording.pk)
        ready_recording.refresh_from_db()
        assert ready_recording.published_at == published_at and ready_recording.finalize_attempts == 1
        assert Notification.objects.filter(kind=Notification.Kind.RECORDING_READY).count() == count

    def test_a_room_ended_with_nothing_captured_fails_visibly(
        self, recorded_room, host, django_capture_on_commit_callbacks
    ):
        end_room(recorded_room, host, django_capture_on_commit_callbacks)
        recording = Recording.objects.get(room=recorded_room)
        assert recording.status == Recording.Status.FAILED
        assert "Nothing was captured" in recording.failure_reason
        assert not Notification.objects.filter(kind=Notification.Kind.RECORDING_READY).exists()

    def test_a_moderator_ending_the_room_also_finalizes(
        self, recorded_room, host, django_capture_on_commit_callbacks
    ):
        capture_tone(capture_directory(recorded_room.pk), speaker_id=host.pk, seconds=1)
        with django_capture_on_commit_callbacks(execute=True):
            room_services.room_force_end(room=recorded_room)
        assert Recording.objects.get(room=recorded_room).status == Recording.Status.READY

    def test_an_unrecorded_room_ends_without_a_chain(self, host, django_capture_on_commit_callbacks):
        room = room_services.room_create(host=host, title="Off the record")
        end_room(room, host, django_capture_on_commit_callbacks)
        assert Room.objects.get(pk=room.pk).state == Room.State.ENDED
        assert not Recording.objects.exists()


class TestRemoval:
    def test_the_host_deletes_the_recording_and_its_files(
        self, ready_recording, host, django_capture_on_commit_callbacks
    ):
        directory = RecordingFiles(ready_recording.room_id).directory
        with django_capture_on_commit_callbacks(execute=True):
            services.recording_delete(recording_id=ready_recording.pk, actor=host)
        assert Recording.objects.get(pk=ready_recording.pk).status == Recording.Status.REMOVED
        assert not directory.exists()
        with pytest.raises(NotFound):
            services.recording_delete(recording_id=ready_recording.pk, actor=host)

    def test_nobody_else_can_delete_it(self, ready_recording):
        with pytest.raises(ServiceError) as error:
            services.recording_delete(recording_id=ready_recording.pk, actor=UserFactory())
        assert error.value.code == "not_allowed"
        assert RecordingFiles(ready_recording.room_id).replay.exists()

    def test_a_moderator_removal_deletes_the_files(self, ready_recording, django_capture_on_commit_callbacks):
        moderator = UserFactory(is_superuser=True, is_staff=True)
        with django_capture_on_commit_callbacks(execute=True):
            moderation_remove_recording(moderator=moderator, recording=ready_recording)
        assert Recording.objects.get(pk=ready_recording.pk).status == Recording.Status.REMOVED
        assert not RecordingFiles(ready_recording.room_id).directory.exists()
