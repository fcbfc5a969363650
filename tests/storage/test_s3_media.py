"""MEDIA_STORAGE=s3 in this process, against the tests' S3 server (moto's, tests/s3.py): every file
the code writes lands in the bucket, nothing under MEDIA_ROOT, no temporary file is left, and private
files go out only after the permission check, by a short presigned URL.

The finalizing chain runs here on commit (no broker); tests/storage/test_s3_nodes.py runs it in a
real Celery worker beside a real mixer process.
"""

import io
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from mutagen.mp4 import MP4

from accounts import services as account_services
from accounts.services import block_create, data_export_build, data_export_request
from recordings import services
from recordings.clips import decode_ogg
from recordings.models import Clip, Recording
from recordings.services import ClipFiles, RecordingFiles
from rooms import services as room_services
from rooms.audio.mixer import RoomMixer
from rooms.live.capture import StoredCapture, open_capture, stored_segment_numbers
from spaces_project import media
from tests.accounts.conftest import png_bytes
from tests.audio.signals import T0, tone, uplinks
from tests.factories import PASSWORD, UserFactory
from tests.recordings.helpers import amplitude_at, decode_m4a

pytestmark = pytest.mark.django_db


@pytest.fixture
def s3(s3_media, settings, tmp_path, monkeypatch):
    """The bucket, a MEDIA_ROOT that must never be created, and a temporary directory of this test's
    own (tempfile's), which must be empty again after each piece of work."""
    server, bucket = s3_media
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.RECORDINGS_CAPTURE_SEGMENT_S = 4  # a 10 s capture is three segments
    settings.RECORDINGS_CAPTURE_UPLOAD_S = 0.5
    settings.CLIPS_PER_HOUR = 1000
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    return SimpleNamespace(server=server, bucket=bucket, media_root=tmp_path / "media", temp=temp)


def keys(s3) -> list[str]:
    return s3.server.keys(s3.bucket)


def assert_nothing_local(s3) -> None:
    assert not s3.media_root.exists(), sorted(p.as_posix() for p in s3.media_root.rglob("*"))
    assert list(s3.temp.iterdir()) == []


def speak_into(capture, *, speaker_id: int, seconds: float, close: bool = True) -> None:
    """A RoomMixer mixing a speaker's 440 Hz tone into ``capture``, flushed every second as the
    mixer's runner does (rooms/live/runner.py); the clock is the caller's, faster than real time."""
    frames = int(seconds * 50)
    mixer = RoomMixer(on_program_packet=capture.write)
    mixer.set_allowed({speaker_id})
    mixer.set_stage({speaker_id})
    voice = uplinks(tone(440, frames))
    for k in range(frames):
        now = T0 + 20 * k
        mixer.push(speaker_id, voice[k], now + 5)
        mixer.tick(now + 20)
        if k % 50 == 49:
            capture.flush()
    if close:
        capture.close()


def record(
    host, django_capture_on_commit_callbacks, *, seconds: float = 10, title="Tones at noon"
) -> Recording:
    room = room_services.room_create(host=host, title=title, is_recorded=True, allow_anonymous=True)
    capture = open_capture(room.pk)
    assert isinstance(capture, StoredCapture)
    speak_into(capture, speaker_id=host.pk, seconds=seconds)
    with django_capture_on_commit_callbacks(execute=True):
        room_services.room_end(room=room, actor=host)
    recording = Recording.objects.get(room=room)
    assert recording.status == Recording.Status.READY, recording.failure_reason
    return recording


def fetch(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as answer:
        return answer.status, answer.headers, answer.read()


@pytest.fixture
def host(db):
    return UserFactory(display_name="Ada Host")


def test_an_avatar_lands_in_the_bucket_with_a_plain_url_a_cdn_can_cache(
    s3, host, django_capture_on_commit_callbacks
):
    account_services.user_set_avatar(user=host, raw=png_bytes(size=(300, 200)))
    host.refresh_from_db()
    names = [getattr(host, f"avatar_{size}").name for size in (64, 128, 256)]
    assert sorted(keys(s3)) == sorted(names) and all(name.startswith("avatars/") for name in names)
    url = host.avatar_256.url
    assert "X-Amz-" not in url and url.endswith(f"/{s3.bucket}/{names[2]}")
    status, headers, body = fetch(url)
    assert status == 200 and body[:2] == b"\xff\xd8"
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    # A new avatar replaces the old files once the change commits.
    with django_capture_on_commit_callbacks(execute=True):
        account_services.user_set_avatar(user=host, raw=png_bytes(size=(300, 200), color=(1, 2, 3)))
    host.refresh_from_db()
    assert not set(names) & set(keys(s3)) and len(keys(s3)) == 3
    assert_nothing_local(s3)


def test_a_room_is_captured_to_the_bucket_and_finalized_from_it(s3, host, django_capture_on_commit_callbacks):
    recording = record(host, django_capture_on_commit_callbacks, seconds=10)
    files = RecordingFiles(recording.room_id)
    stored = keys(s3)
    # The capture: one segment per RECORDINGS_CAPTURE_SEGMENT_S, each with its timeline.
    segments = [key for key in stored if key.startswith(files.capture_prefix) and key.endswith(".ogg")]
    assert len(segments) == 3 and recording.segment_count == 3
    assert {files.original_name, files.replay_name, files.cover_name, files.waveform_name} <= set(stored)
    assert abs(recording.duration_ms - 10_000) <= 100
    with media.fetched(files.replay_name) as replay:
        pcm, rate = decode_m4a(replay)
        assert abs(len(pcm) / rate * 1000 - recording.duration_ms) <= 100
        assert amplitude_at(pcm, 440, rate) > 0.05  # the tone across the segment joins
        assert MP4(replay).tags["\xa9nam"] == ["Tones at noon"]
    assert_nothing_local(s3)


def test_a_replay_goes_out_by_a_short_presigned_url_after_the_permission_check(
    s3, host, client, django_capture_on_commit_callbacks, settings
):
    recording = record(host, django_capture_on_commit_callbacks, seconds=3)
    replay = RecordingFiles(recording.room_id).replay_name
    client.get(reverse("recordings:detail", args=[recording.pk]))
    response = client.get(reverse("recordings:stream", args=[recording.pk]))
    assert response.status_code == 302 and response["Cache-Control"] == "private, no-store"
    location = response["Location"]
    query = parse_qs(urlsplit(location).query)
    assert urlsplit(location).path == f"/{s3.bucket}/{replay}"
    # Short: the presign time, plus the replay's length so that one listening is not cut off.
    assert query["X-Amz-Expires"] == [str(settings.S3_PRESIGN_SECONDS + 3)] and "X-Amz-Signature" in query
    cover = client.get(reverse("recordings:cover", args=[recording.pk]))["Location"]
    assert parse_qs(urlsplit(cover).query)["X-Amz-Expires"] == [str(settings.S3_PRESIGN_SECONDS)]
    # The store answers Range itself, as the player seeks.
    status, headers, body = fetch(location, {"Range": "bytes=100-199"})
    assert status == 206 and headers["Content-Range"].startswith("bytes 100-199/")
    assert headers["Content-Type"] == "audio/mp4"
    assert body == media.read_bytes(replay)[100:200]
    # Without the signature the bucket refuses it: only avatars are readable by anyone (the bucket
    # policy of docs/production.md). The tests' server does not check signatures themselves.
    with pytest.raises(urllib.error.HTTPError) as refused:
        fetch(location.split("?")[0])
    assert refused.value.code == 403

    # Whoever may not listen gets no URL at all, as on disk.
    stranger = UserFactory()
    block_create(blocker=host, blocked=stranger)
    client.force_login(stranger)
    for name in ("stream", "cover", "waveform"):
        refused = client.get(reverse(f"recordings:{name}", args=[recording.pk]))
        assert refused.status_code == 404 and "Location" not in refused, name
    client.logout()
    room = recording.room
    room.allow_anonymous = False
    room.save(update_fields=["allow_anonymous"])
    assert client.get(reverse("recordings:stream", args=[recording.pk])).status_code == 403
    # The host's download names the file for saving.
    client.force_login(host)
    download = client.get(reverse("recordings:download", args=[recording.pk]))
    assert download.status_code == 302
    disposition = parse_qs(urlsplit(download["Location"]).query)["response-content-disposition"][0]
    assert disposition.startswith('attachment; filename="tones-at-noon-')
    # The replay page lets the browser play from the bucket.
    page = client.get(reverse("recordings:detail", args=[recording.pk]))
    assert s3.server.endpoint in page["Content-Security-Policy"].split("media-src")[1].split(";")[0]


def test_a_clip_is_cut_from_the_bucket_into_the_bucket(s3, host, client, django_capture_on_commit_callbacks):
    recording = record(host, django_capture_on_commit_callbacks, seconds=8)
    listener = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        clip = services.clip_create_from_replay(
            recording_id=recording.pk, actor=listener, start="2.0", end="6.5", title="The good part"
        )
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY, clip.failure_reason
    files = ClipFiles(clip.pk)
    assert {files.audio_name, files.waveform_name} <= set(keys(s3))
    with media.fetched(files.audio_name) as audio:
        pcm, rate = decode_ogg(audio)
    assert abs(len(pcm) / rate - 4.5) <= 0.02 and amplitude_at(pcm[rate // 4 : -rate // 4], 440, rate) > 0.1
    client.force_login(listener)
    response = client.get(reverse("clips:audio", args=[clip.pk]))
    assert response.status_code == 302
    status, headers, body = fetch(response["Location"])
    assert (
        status == 200
        and headers["Content-Type"] == "audio/ogg"
        and body == media.read_bytes(files.audio_name)
    )
    assert_nothing_local(s3)

    # The host deletes the recording: its files and its clips' go from the bucket.
    with django_capture_on_commit_callbacks(execute=True):
        services.recording_delete(recording_id=recording.pk, actor=host)
    assert keys(s3) == []


def test_a_data_export_is_built_into_the_bucket_and_downloaded_by_its_owner_only(
    s3, host, client, django_capture_on_commit_callbacks
):
    recording = record(host, django_capture_on_commit_callbacks, seconds=3)
    with django_capture_on_commit_callbacks(execute=False):
        export = data_export_request(user=host)
    export = data_export_build(export_id=export.pk)
    assert export.status == "ready"
    name = account_services.data_export_name(export)
    assert name.startswith("exports/") and name in keys(s3)
    data = media.read_bytes(name)
    assert export.size_bytes == len(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        audio = archive.read(f"recordings/{recording.pk}.m4a")
    assert audio == media.read_bytes(RecordingFiles(recording.room_id).replay_name)
    assert_nothing_local(s3)

    url = reverse("accounts:export_download", args=[export.pk])
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404
    client.force_login(host)
    response = client.get(url)
    assert response.status_code == 302
    status, headers, body = fetch(response["Location"])
    assert status == 200 and body == data
    assert headers["Content-Disposition"].startswith('attachment; filename="spaces-')

    # Deleting the account takes every file of theirs out of the bucket.
    with django_capture_on_commit_callbacks(execute=True):
        account_services.user_delete_account(user=host, password=PASSWORD)
    assert keys(s3) == []


def test_a_capture_whose_mixer_died_is_closed_by_the_quiet_rule_on_the_stores_clock(
    s3, host, settings, django_capture_on_commit_callbacks
):
    settings.RECORDINGS_CAPTURE_QUIET_S = 1
    # The quiet period is then 5 s (at least the upload interval plus 2 s for the store's whole
    # seconds): room enough for a loaded machine between an upload and the next look.
    settings.RECORDINGS_CAPTURE_UPLOAD_S = 3
    room = room_services.room_create(host=host, title="Cut short", is_recorded=True)
    files = RecordingFiles(room.pk)
    capture = open_capture(room.pk)
    speak_into(capture, speaker_id=host.pk, seconds=2, close=False)
    capture.flush()
    capture._upload(capture.writer)  # its last upload before the process died (no end of stream)
    assert stored_segment_numbers(room.pk) == [1]
    assert not services.replays._stored_capture_is_closed(files.capture_prefix, quiet_s=1)
    time.sleep(settings.RECORDINGS_CAPTURE_UPLOAD_S + 2 + 1.2)
    assert services.replays._stored_capture_is_closed(files.capture_prefix, quiet_s=1)
    # A mixer taking the room over goes on in the next segment, after the stored ones.
    takeover = open_capture(room.pk)
    speak_into(takeover, speaker_id=host.pk, seconds=1)
    assert takeover.stored_number(takeover.writer) == 2
    assert stored_segment_numbers(room.pk) == [1, 2]
    assert services.replays._stored_capture_is_closed(files.capture_prefix, quiet_s=1)  # it ended its stream
    with django_capture_on_commit_callbacks(execute=True):
        room_services.room_end(room=room, actor=host)
    recording = Recording.objects.get(room=room)
    assert recording.status == Recording.Status.READY, recording.failure_reason
    assert recording.segment_count == 2 and abs(recording.duration_ms - 3000) <= 100
    assert_nothing_local(s3)  # the dead mixer's open segment was in its memory, not in a file
