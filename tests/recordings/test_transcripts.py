"""Transcripts of recorded rooms: recognized when finalizing (captions off) or kept from the live
captions, served as WebVTT, shown on the replay page, searched, corrected, deleted and removed."""

import io

import numpy as np
import pytest
import webvtt
from django.contrib.auth.models import Group
from django.db import connection
from django.urls import reverse

from accounts.services import block_create
from moderation.models import AuditLogEntry
from recordings import selectors, services
from recordings.models import Recording, Transcript
from recordings.services import capture_directory
from rooms import services as room_services
from tests.audio.signals import T0
from tests.captions.speech import SENTENCES, VOICES, espeak, share_heard
from tests.factories import UserFactory

from .conftest import end_room
from .helpers import capture_voice


def parse_vtt(text: str):
    return webvtt.from_buffer(io.StringIO(text))


@pytest.fixture
def spoken_recording(recorded_room, host, django_capture_on_commit_callbacks):
    """A recorded room (captions off) in which the host said two sentences; ended and finalized."""
    pause = np.zeros(48_000, np.float32)
    speech = np.concatenate(
        [espeak(SENTENCES[0], voice=VOICES[0]), pause, espeak(SENTENCES[1], voice=VOICES[0])]
    )
    capture_voice(capture_directory(recorded_room.pk), speaker_id=host.pk, pcm=speech)
    end_room(recorded_room, host, django_capture_on_commit_callbacks)
    recording = Recording.objects.get(room=recorded_room)
    assert recording.status == Recording.Status.READY, recording.failure_reason
    return recording


def test_a_recording_made_with_captions_off_is_transcribed_when_finalized(spoken_recording, host):
    transcript = spoken_recording.transcript
    assert transcript.status == Transcript.Status.READY
    assert transcript.source == Transcript.Source.RECOGNIZED
    lines = list(transcript.lines.all())
    said = " ".join(line.text for line in lines)
    assert share_heard(SENTENCES[0], said) >= 0.7 and share_heard(SENTENCES[1], said) >= 0.7, said
    assert all(line.speaker_id == host.pk and line.speaker_name == "Ada Host" for line in lines)
    assert all(0 <= line.start_ms <= line.end_ms <= spoken_recording.duration_ms for line in lines)
    assert spoken_recording.transcribed_at is not None


def test_the_captions_file_is_webvtt_with_voice_tags_within_the_replay(spoken_recording, client):
    response = client.get(reverse("recordings:captions", args=[spoken_recording.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/vtt")
    captions = parse_vtt(response.content.decode())
    assert len(captions) >= 1
    duration_s = spoken_recording.duration_ms / 1000
    for caption in captions:
        assert 0 <= caption.start_in_seconds < caption.end_in_seconds <= duration_s
        assert caption.voice == "Ada Host"
    assert share_heard(SENTENCES[0], " ".join(c.text for c in captions)) >= 0.7
    chapters = parse_vtt(
        client.get(reverse("recordings:chapters", args=[spoken_recording.pk])).content.decode()
    )
    assert [c.text for c in chapters] == ["Ada Host"]


def test_the_replay_page_shows_the_transcript_captions_track_and_chapters(spoken_recording, client):
    page = client.get(reverse("recordings:detail", args=[spoken_recording.pk])).content.decode()
    assert f'<track kind="captions" src="/recordings/{spoken_recording.pk}/captions.vtt"' in page
    assert 'data-testid="transcript-line"' in page and "Ada Host" in page
    line = spoken_recording.transcript.lines.first()
    assert f'data-seek-ms="{line.start_ms}"' in page
    assert 'data-testid="chapters"' in page
    assert 'data-testid="edit-line"' not in page  # only the host corrects


def test_the_host_corrects_a_line_and_nobody_else_can(spoken_recording, host, client):
    line = spoken_recording.transcript.lines.first()
    url = reverse("recordings:transcript_line", args=[spoken_recording.pk, line.pk])
    client.force_login(UserFactory())
    assert client.post(url, {"text": "Vandalized"}).status_code == 403
    client.force_login(host)
    response = client.post(url, {"text": "We will meet at the library on Tuesday."})
    assert response.status_code == 302 and response["Location"].endswith(f"#line-{line.pk}")
    line.refresh_from_db()
    assert line.text == "We will meet at the library on Tuesday." and line.edited_at
    vtt = client.get(reverse("recordings:captions", args=[spoken_recording.pk])).content.decode()
    assert "We will meet at the library on Tuesday." in vtt


def test_the_host_deletes_the_transcript_for_good(spoken_recording, host, client):
    client.force_login(UserFactory())
    assert client.post(reverse("recordings:transcript_delete", args=[spoken_recording.pk])).status_code == 403
    client.force_login(host)
    client.post(reverse("recordings:transcript_delete", args=[spoken_recording.pk]))
    transcript = Transcript.objects.get(recording=spoken_recording)
    assert transcript.status == Transcript.Status.DELETED and not transcript.lines.exists()
    assert client.get(reverse("recordings:captions", args=[spoken_recording.pk])).status_code == 404
    page = client.get(reverse("recordings:detail", args=[spoken_recording.pk])).content.decode()
    assert "the host deleted it" in page


def test_a_moderator_removes_a_transcript_from_admin(spoken_recording, client):
    moderator = UserFactory(is_staff=True)
    moderator.groups.add(Group.objects.get(name="Moderators"))
    client.force_login(moderator)
    transcript = spoken_recording.transcript
    changelist = reverse("admin:recordings_transcript_changelist")
    assert client.get(changelist).status_code == 200
    client.post(changelist, {"action": "remove_transcripts", "_selected_action": [transcript.pk]})
    transcript.refresh_from_db()
    assert transcript.status == Transcript.Status.REMOVED and not transcript.lines.exists()
    assert AuditLogEntry.objects.filter(actor=moderator, action="transcript_removed").exists()
    assert spoken_recording.__class__.objects.get(pk=spoken_recording.pk).status == Recording.Status.READY


def test_replays_are_found_by_what_was_said_and_link_to_the_moment(spoken_recording, host, client):
    stranger = UserFactory()
    client.force_login(stranger)
    # "umbrellas" finds "umbrella" on PostgreSQL (English stemming); SQLite matches the word as typed.
    query = "umbrellas" if _postgres() else "umbrella"
    page = client.get(reverse("rooms:search"), {"q": query}).content.decode()
    line = next(line for line in spoken_recording.transcript.lines.all() if "umbrella" in line.text.lower())
    assert f"/recordings/{spoken_recording.pk}/?t={line.start_ms // 1000}" in page
    assert "Tones at noon" in page
    matches = selectors.transcript_search(query=query, viewer=stranger)
    assert [m.recording_id for m in matches] == [spoken_recording.pk]
    assert "umbrella" in matches[0].snippet.lower()
    assert selectors.transcript_search(query="giraffe", viewer=stranger) == []
    # Nobody finds the replays of a host they cannot see.
    block_create(blocker=host, blocked=stranger)
    assert selectors.transcript_search(query=query, viewer=stranger) == []


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def test_live_captions_kept_with_a_recording_are_placed_in_the_replay(
    host, django_capture_on_commit_callbacks
):
    room = room_services.room_create(host=host, title="Captioned", is_recorded=True, captions_enabled=True)
    speaker = UserFactory(display_name="Sam Speaker")
    speech = espeak(SENTENCES[2], voice=VOICES[1])
    capture_voice(capture_directory(room.pk), speaker_id=host.pk, pcm=speech)
    # What the captioner said while the room was live (the capture started at wall clock T0).
    services.transcript_add_live_line(
        room_id=room.pk, user_id=host.pk, speaker_name="Ada Host", text="Hello everyone.",
        wall_start_ms=T0 + 200, wall_end_ms=T0 + 900,
    )  # fmt: skip
    services.transcript_add_live_line(
        room_id=room.pk, user_id=speaker.pk, speaker_name="Sam Speaker", text="Thanks for having me.",
        wall_start_ms=T0 + 1000, wall_end_ms=T0 + 99_000,
    )  # fmt: skip
    end_room(room, host, django_capture_on_commit_callbacks)
    recording = Recording.objects.get(room=room)
    transcript = recording.transcript
    assert transcript.source == Transcript.Source.LIVE_CAPTIONS
    lines = list(transcript.lines.all())
    assert [(line.text, line.start_ms) for line in lines] == [
        ("Hello everyone.", 200),
        ("Thanks for having me.", 1000),
    ]
    assert lines[1].end_ms == recording.duration_ms  # kept within the replay
    chapters = selectors.transcript_chapters(lines=lines)
    assert [(c.speaker_name, c.start_ms) for c in chapters] == [("Ada Host", 200), ("Sam Speaker", 1000)]


def test_captions_switched_off_during_a_recorded_room_mean_the_recording_is_recognized(host):
    room = room_services.room_create(host=host, title="On and off", is_recorded=True, captions_enabled=True)
    assert room.recording.transcript.live_complete
    room_services.room_set_captions(room_id=room.pk, actor=host, enabled=False)
    assert not Transcript.objects.get(recording__room=room).live_complete


def test_the_export_selector_returns_a_persons_transcripts(spoken_recording, host):
    exported = selectors.transcripts_for_export(user=host)
    assert len(exported) == 1 and exported[0]["role"] == "host"
    assert exported[0]["recording_id"] == spoken_recording.pk
    assert share_heard(SENTENCES[1], " ".join(line["text"] for line in exported[0]["lines"])) >= 0.7
    assert selectors.transcripts_for_export(user=UserFactory()) == []
