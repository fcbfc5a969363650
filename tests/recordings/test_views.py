"""Who may see, hear and manage a replay, over HTTP; Range requests; plays; the progress page."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.services import block_create
from recordings.models import Recording
from recordings.services import RecordingFiles
from rooms import services as room_services
from rooms.models import Participant
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def url(name, recording):
    return reverse(f"recordings:{name}", args=[recording.pk])


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


class TestWhoMayListen:
    def test_anyone_may_replay_a_room_open_to_anonymous_listeners(self, client, ready_recording):
        page = client.get(url("detail", ready_recording))
        assert page.status_code == 200
        html = page.content.decode()
        assert url("stream", ready_recording) in html and "Tones at noon" in html
        assert url("download", ready_recording) not in html  # listeners get no download link
        stream = client.get(url("stream", ready_recording))
        assert stream.status_code == 200 and stream["Content-Type"] == "audio/mp4"
        assert body(stream) == RecordingFiles(ready_recording.room_id).replay.read_bytes()
        assert client.get(url("waveform", ready_recording)).status_code == 200
        assert client.get(url("cover", ready_recording))["Content-Type"] == "image/jpeg"

    def test_anonymous_visitors_are_refused_where_the_host_refused_anonymous_listeners(
        self, client, ready_recording
    ):
        room = ready_recording.room
        room.allow_anonymous = False
        room.save(update_fields=["allow_anonymous"])
        page = client.get(url("detail", ready_recording))
        assert page.status_code == 403 and "Sign in" in page.content.decode()
        assert client.get(url("stream", ready_recording)).status_code == 403
        assert client.get(url("status", ready_recording)).status_code == 403
        signed_in = UserFactory()
        client.force_login(signed_in)
        assert client.get(url("stream", ready_recording)).status_code == 200

    @pytest.mark.parametrize("who_blocks", ["host", "listener"])
    def test_a_block_either_way_hides_the_replay(self, client, ready_recording, host, who_blocks):
        listener = UserFactory()
        if who_blocks == "host":
            block_create(blocker=host, blocked=listener)
        else:
            block_create(blocker=listener, blocked=host)
        client.force_login(listener)
        for name in ("detail", "stream", "status", "cover", "waveform"):
            assert client.get(url(name, ready_recording)).status_code == 404, name

    def test_someone_removed_from_the_room_cannot_replay_it(self, client, ready_recording):
        removed = UserFactory()
        Participant.objects.create(room=ready_recording.room, user=removed, is_removed=True)
        client.force_login(removed)
        assert client.get(url("stream", ready_recording)).status_code == 403

    def test_a_removed_recording_is_gone(self, client, ready_recording):
        Recording.objects.filter(pk=ready_recording.pk).update(status=Recording.Status.REMOVED)
        assert client.get(url("detail", ready_recording)).status_code == 404
        assert client.get(url("stream", ready_recording)).status_code == 404


class TestHost:
    def test_the_host_downloads_the_m4a_as_an_attachment(self, client, ready_recording, host):
        client.force_login(host)
        page = client.get(url("detail", ready_recording)).content.decode()
        assert url("download", ready_recording) in page and url("delete", ready_recording) in page
        response = client.get(url("download", ready_recording))
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith('attachment; filename="tones-at-noon-')
        assert body(response) == RecordingFiles(ready_recording.room_id).replay.read_bytes()

    def test_a_listener_cannot_download(self, client, ready_recording):
        client.force_login(UserFactory())
        assert client.get(url("download", ready_recording)).status_code == 403

    def test_the_host_deletes_it_from_the_page(
        self, csrf_client, ready_recording, host, django_capture_on_commit_callbacks
    ):
        csrf_client.force_login(host)
        csrf_client.get(url("detail", ready_recording))
        with django_capture_on_commit_callbacks(execute=True):
            response = csrf_client.post(
                url("delete", ready_recording),
                {"csrfmiddlewaretoken": csrf_client.cookies["csrftoken"].value},
            )
        assert response.status_code == 302 and response["Location"] == reverse(
            "rooms:detail", args=[ready_recording.room_id]
        )
        assert Recording.objects.get(pk=ready_recording.pk).status == Recording.Status.REMOVED
        assert not RecordingFiles(ready_recording.room_id).directory.exists()
        assert csrf_client.get(url("detail", ready_recording)).status_code == 404

    def test_a_listener_cannot_delete(self, csrf_client, ready_recording):
        csrf_client.force_login(UserFactory())
        csrf_client.get(url("detail", ready_recording))
        response = csrf_client.post(
            url("delete", ready_recording), {"csrfmiddlewaretoken": csrf_client.cookies["csrftoken"].value}
        )
        assert response.status_code == 403
        assert Recording.objects.get(pk=ready_recording.pk).status == Recording.Status.READY


class TestRange:
    def test_a_range_gets_206_with_exactly_those_bytes(self, client, ready_recording):
        data = RecordingFiles(ready_recording.room_id).replay.read_bytes()
        response = client.get(url("stream", ready_recording), HTTP_RANGE="bytes=100-1099")
        assert response.status_code == 206
        assert response["Content-Range"] == f"bytes 100-1099/{len(data)}"
        assert response["Content-Length"] == "1000" and body(response) == data[100:1100]

    def test_open_ended_and_suffix_ranges(self, client, ready_recording):
        data = RecordingFiles(ready_recording.room_id).replay.read_bytes()
        tail = client.get(url("stream", ready_recording), HTTP_RANGE=f"bytes={len(data) - 10}-")
        assert tail.status_code == 206 and body(tail) == data[-10:]
        suffix = client.get(url("stream", ready_recording), HTTP_RANGE="bytes=-500")
        assert suffix["Content-Range"] == f"bytes {len(data) - 500}-{len(data) - 1}/{len(data)}"
        assert body(suffix) == data[-500:]
        past_end = client.get(url("stream", ready_recording), HTTP_RANGE=f"bytes=0-{len(data) + 99}")
        assert past_end.status_code == 206 and body(past_end) == data

    def test_a_range_past_the_end_is_416(self, client, ready_recording):
        size = RecordingFiles(ready_recording.room_id).replay.stat().st_size
        response = client.get(url("stream", ready_recording), HTTP_RANGE=f"bytes={size}-")
        assert response.status_code == 416 and response["Content-Range"] == f"bytes */{size}"

    def test_a_web_server_can_send_the_file_after_the_permission_check(
        self, client, settings, ready_recording
    ):
        settings.RECORDINGS_SENDFILE = "x-accel-redirect"
        response = client.get(url("stream", ready_recording))
        assert response["X-Accel-Redirect"] == (
            f"/protected-recordings/recordings/{ready_recording.room_id}/replay.m4a"
        )
        assert response.content == b""
        settings.RECORDINGS_SENDFILE = "x-sendfile"
        response = client.get(url("stream", ready_recording))
        assert response["X-Sendfile"] == str(RecordingFiles(ready_recording.room_id).replay)
        # The permission check still comes first: a refused visitor never gets the header.
        settings.RECORDINGS_SENDFILE = "x-accel-redirect"
        room = ready_recording.room
        room.allow_anonymous = False
        room.save(update_fields=["allow_anonymous"])
        refused = client.get(url("stream", ready_recording))
        assert refused.status_code == 403 and "X-Accel-Redirect" not in refused


class TestPlays:
    def play(self, client, recording):
        client.get(url("detail", recording))
        return client.post(url("play", recording), HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)

    def test_a_play_counts_once_per_viewer_session(self, csrf_client, ready_recording):
        first = self.play(csrf_client, ready_recording)
        assert first.status_code == 200 and first.json() == {"counted": True, "play_count": 1}
        assert self.play(csrf_client, ready_recording).json() == {"counted": False, "play_count": 1}
        other = self.play(Client(enforce_csrf_checks=True), ready_recording)  # another visitor
        assert other.json()["play_count"] == 2
        assert (
            "data-play-count>2</span> plays"
            in csrf_client.get(url("detail", ready_recording)).content.decode()
        )

    def test_a_play_needs_the_csrf_token(self, csrf_client, ready_recording):
        response = csrf_client.post(url("play", ready_recording))
        assert response.status_code == 403
        assert Recording.objects.get(pk=ready_recording.pk).play_count == 0


class TestProgress:
    def test_the_page_shows_the_steps_until_ready(
        self, client, recorded_room, host, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=False):  # the chain has not run yet
            room_services.room_end(room=recorded_room, actor=host)
        recording = Recording.objects.get(room=recorded_room)
        page = client.get(url("detail", recording)).content.decode()
        assert "Preparing the replay" in page and "Checking the capture" in page
        assert url("stream", recording) not in page
        assert client.get(url("stream", recording)).status_code == 404
        status = client.get(url("status", recording)).json()
        assert status["status"] == "processing" and not status["ready"]
        assert [step["done"] for step in status["steps"]] == [True, False, False, False, False]
        assert [step["active"] for step in status["steps"]] == [False, True, False, False, False]
        assert status["steps"][2]["label"] == "Writing the transcript"

    def test_the_ended_room_page_links_to_the_replay(self, client, ready_recording):
        page = client.get(reverse("rooms:detail", args=[ready_recording.room_id])).content.decode()
        assert url("detail", ready_recording) in page and "Play the replay" in page
