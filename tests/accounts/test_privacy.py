"""Downloading one's data, deleting one's account, signing out everywhere (issue 12, Privacy)."""

import json
import zipfile
from datetime import timedelta
from io import BytesIO

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import DataExport, Follow, User
from accounts.services import (
    block_create,
    data_export_build,
    data_export_purge_expired,
    data_export_request,
    follow_create,
    notify,
)
from moderation.models import Report
from moderation.services import report_create
from recordings.models import Recording, Transcript, TranscriptLine
from recordings.services import RecordingFiles
from rooms.models import Room
from tests.factories import PASSWORD, RecordingFactory, RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def _post(client: Client, url: str, data: dict | None = None):
    client.get(reverse("accounts:settings"))
    return client.post(url, {**(data or {}), "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def _recording_with_audio(host) -> Recording:
    recording = RecordingFactory(room__host=host, room__title="Morning show")
    replay = RecordingFiles(recording.room_id).replay
    replay.parent.mkdir(parents=True, exist_ok=True)
    replay.write_bytes(b"fake m4a audio")
    transcript = Transcript.objects.create(recording=recording, status=Transcript.Status.READY)
    TranscriptLine.objects.create(
        transcript=transcript,
        speaker=host,
        speaker_name=host.name,
        start_ms=0,
        end_ms=900,
        text="Good morning.",
    )
    return recording


@pytest.fixture
def person(db):
    user = UserFactory(bio="I host rooms about birds.")
    friend, pest = UserFactory(), UserFactory()
    follow_create(follower=user, followee=friend)
    follow_create(follower=friend, followee=user)
    block_create(blocker=user, blocked=pest)
    RoomFactory(host=user, title="Live birds", description="Chirp")
    _recording_with_audio(user)
    report_create(
        reporter=user, target_type="user", target_id=pest.pk, reason="spam", note="Keeps posting links"
    )
    notify(recipients=[user.pk], kind="new_follower", text="Someone followed you")
    return user


class TestDataExport:
    def test_the_archive_holds_everything_and_downloads_for_its_owner(
        self, client, person, django_capture_on_commit_callbacks
    ):
        client.force_login(person)
        with django_capture_on_commit_callbacks(execute=True):
            response = _post(client, reverse("accounts:export_start"))
        assert response.status_code == 302
        export = DataExport.objects.get(user=person)
        assert export.status == "ready" and export.progress == 100 and export.expires_at > timezone.now()
        status = client.get(reverse("accounts:export_status", args=[export.pk])).json()
        assert status["ready"] is True

        page = client.get(reverse("accounts:settings")).content.decode()
        download_url = reverse("accounts:export_download", args=[export.pk])
        assert download_url in page
        download = client.get(download_url)
        assert download.status_code == 200 and download["Content-Type"] == "application/zip"
        archive = zipfile.ZipFile(BytesIO(b"".join(download.streaming_content)))
        names = set(archive.namelist())
        assert {
            "README.txt",
            "profile.json",
            "follows.json",
            "blocks.json",
            "rooms/hosted.json",
            "recordings/recordings.json",
            "notifications.json",
            "reports_filed.json",
            "transcripts.json",
        } <= names
        assert json.loads(archive.read("profile.json"))["bio"] == "I host rooms about birds."
        follows = json.loads(archive.read("follows.json"))
        assert len(follows["following"]) == 1 and len(follows["followers"]) == 1
        assert len(json.loads(archive.read("blocks.json"))) == 1
        hosted = {room["title"] for room in json.loads(archive.read("rooms/hosted.json"))}
        assert hosted == {"Live birds", "Morning show"}
        (recording,) = json.loads(archive.read("recordings/recordings.json"))
        assert archive.read(recording["audio"]) == b"fake m4a audio"
        assert json.loads(archive.read("reports_filed.json"))[0]["note"] == "Keeps posting links"
        assert json.loads(archive.read("notifications.json"))
        (transcript,) = json.loads(archive.read("transcripts.json"))
        assert (
            transcript["room_title"] == "Morning show" and transcript["lines"][0]["text"] == "Good morning."
        )

    def test_nobody_else_can_see_or_download_it(self, person, django_capture_on_commit_callbacks):
        with django_capture_on_commit_callbacks(execute=True):
            export = data_export_request(user=person)
        for viewer in (None, UserFactory()):
            client = Client()
            if viewer:
                client.force_login(viewer)
            assert client.get(reverse("accounts:export_download", args=[export.pk])).status_code in (302, 404)
            assert client.get(reverse("accounts:export_status", args=[export.pk])).status_code in (302, 404)

    def test_the_link_expires(self, client, person, django_capture_on_commit_callbacks, settings):
        with django_capture_on_commit_callbacks(execute=True):
            export = data_export_request(user=person)
        DataExport.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        export.refresh_from_db()
        client.force_login(person)
        response = client.get(reverse("accounts:export_download", args=[export.pk]))
        assert response.status_code == 410 and "expired" in response.content.decode()
        path = settings.MEDIA_ROOT / "exports" / export.file_name
        assert path.exists()
        assert data_export_purge_expired() == 1
        assert not path.exists() and not DataExport.objects.exists()

    def test_building_is_idempotent_and_one_archive_at_a_time(self, person):
        first = data_export_request(user=person)  # not built: on-commit work is not run here
        assert data_export_request(user=person).pk == first.pk
        built = data_export_build(export_id=first.pk)
        size = built.size_bytes
        again = data_export_build(export_id=first.pk)
        assert again.status == "ready" and again.size_bytes == size and again.finished_at == built.finished_at


class TestDeleteAccount:
    def test_wrong_password_deletes_nothing(self, client, person):
        client.force_login(person)
        response = _post(client, reverse("accounts:delete"), {"password": "nope", "confirm": "on"})
        assert response.status_code == 400 and "not your password" in response.content.decode()
        assert User.objects.filter(pk=person.pk).exists()

    def test_deleting_ends_rooms_removes_recordings_and_keeps_reports_anonymously(
        self, client, person, django_capture_on_commit_callbacks
    ):
        live = Room.objects.get(host=person, state=Room.State.LIVE)
        listener = UserFactory()
        recording = Recording.objects.get(room__host=person)
        directory = RecordingFiles(recording.room_id).directory
        report = Report.objects.get(reporter=person)
        other_device = Client()
        other_device.force_login(person)
        client.force_login(person)
        with django_capture_on_commit_callbacks(execute=True):
            response = _post(client, reverse("accounts:delete"), {"password": PASSWORD, "confirm": "on"})
        assert response.status_code == 302
        assert not User.objects.filter(pk=person.pk).exists()
        assert (
            not Room.objects.filter(pk=live.pk).exists()
            and not Recording.objects.filter(pk=recording.pk).exists()
        )
        assert not directory.exists()
        report.refresh_from_db()
        assert report.reporter is None and report.note == "Keeps posting links"
        assert not Follow.objects.filter(follower_id=person.pk).exists()
        # Every session is over: the other device is a visitor now.
        assert other_device.get(reverse("accounts:settings")).status_code == 302
        assert listener.pk  # the listener's account is untouched
        assert User.objects.filter(pk=listener.pk).exists()


def test_sign_out_everywhere_ends_every_session(client, user):
    other_device = Client()
    other_device.force_login(user)
    client.force_login(user)
    response = _post(client, reverse("accounts:sign_out_everywhere"))
    assert response.status_code == 302
    assert other_device.get(reverse("accounts:settings")).status_code == 302
    assert client.get(reverse("accounts:settings")).status_code == 302
    # Signing in again works.
    assert Client().login(handle=user.handle, password=PASSWORD)


def test_changing_the_password_signs_out_other_devices(client, user):
    other_device = Client()
    other_device.force_login(user)
    client.force_login(user)
    client.get(reverse("account_change_password"))
    response = client.post(
        reverse("account_change_password"),
        {
            "oldpassword": PASSWORD,
            "password1": "a-new-long-passphrase-42",
            "password2": "a-new-long-passphrase-42",
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 302
    assert client.get(reverse("accounts:settings")).status_code == 200
    assert other_device.get(reverse("accounts:settings")).status_code == 302
