"""Clips (issue 15): who may clip what, bad input refused with nothing changed, and the cut itself.

Without a broker the cutting task runs eagerly on commit (django_capture_on_commit_callbacks), on
real captures made the way a live room makes them (a RoomMixer into a CaptureWriter). The same task
in a real worker process: test_clip_worker.py.
"""

import io
import json
import zipfile

import numpy as np
import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.test import Client
from django.urls import reverse

from accounts.export import SECTIONS
from accounts.services import block_create, user_delete_account
from moderation.models import Report
from moderation.selectors import MODERATORS_GROUP
from moderation.services import moderation_remove_clip, report_create
from recordings import services
from recordings.clips import decode_ogg
from recordings.models import Clip, Recording, Transcript, TranscriptLine
from recordings.selectors import clip_get_for_viewer
from recordings.services import ClipFiles, capture_directory, recording_delete, transcript_delete
from rooms import services as room_services
from rooms.models import Ticket
from spaces_project.errors import NotFound, ServiceError
from tests.audio.signals import T0
from tests.factories import PASSWORD, RecordingFactory, UserFactory

from .conftest import end_room
from .helpers import amplitude_at, capture_tone

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def generous_rate(settings):
    settings.CLIPS_PER_HOUR = 1000


@pytest.fixture
def listener(db):
    return UserFactory(display_name="Lin Listener")


def _replay(host, capture_s, django_capture_on_commit_callbacks, *, lines=()):
    room = room_services.room_create(host=host, title="Tones at noon", is_recorded=True)
    capture_tone(capture_directory(room.pk), speaker_id=host.pk, seconds=capture_s)
    transcript = Transcript.objects.get(recording__room=room)
    end_room(room, host, django_capture_on_commit_callbacks)
    recording = Recording.objects.get(room=room)
    assert recording.status == "ready", recording.failure_reason
    # The transcript as finalizing leaves it (placed lines), written directly: the transcript's own
    # making is tested in test_transcripts.py.
    Transcript.objects.filter(pk=transcript.pk).update(status=Transcript.Status.READY)
    for start_ms, end_ms, text in lines:
        TranscriptLine.objects.create(
            transcript=transcript,
            speaker=host,
            speaker_name=host.name,
            start_ms=start_ms,
            end_ms=end_ms,
            text=text,
        )
    return recording


@pytest.fixture
def replay(host, django_capture_on_commit_callbacks):
    return _replay(
        host,
        10,
        django_capture_on_commit_callbacks,
        lines=[(500, 1800, "Before the clip."), (2500, 4000, "Inside the clip."), (8000, 9500, "After it.")],
    )


def _make(callbacks, **kwargs) -> Clip:
    with callbacks(execute=True):
        clip = services.clip_create_from_replay(**kwargs)
    clip.refresh_from_db()
    return clip


def test_a_replay_clip_is_cut_from_the_packets_with_who_spoke_and_what_was_said(
    replay, host, listener, django_capture_on_commit_callbacks
):
    clip = _make(
        django_capture_on_commit_callbacks,
        recording_id=replay.pk,
        actor=listener,
        start="2.0",
        end="6.5",
        title="  The  good part ",
    )
    assert clip.status == "ready", clip.failure_reason
    assert (clip.start_ms, clip.end_ms, clip.duration_ms) == (2000, 6500, 4500)
    assert clip.title == "The good part"
    assert clip.speakers == [[host.pk, "Ada Host"]]
    assert clip.caption_text == "Ada Host: Inside the clip."
    pcm, rate = decode_ogg(ClipFiles(clip.pk).audio)
    assert abs(len(pcm) / rate - 4.5) <= 0.02
    assert amplitude_at(pcm[rate // 4 : -rate // 4], 440, rate) > 0.1  # the speaker's tone, throughout
    assert max(clip.peaks) > 0.1 and ClipFiles(clip.pk).waveform.read_bytes().startswith(b"\x89PNG")


def test_a_clip_without_a_title_takes_the_rooms(replay, listener, django_capture_on_commit_callbacks):
    clip = _make(django_capture_on_commit_callbacks, recording_id=replay.pk, actor=listener, start=0, end=3)
    assert clip.title == "Tones at noon" and clip.status == "ready"


def test_a_clip_of_61_seconds_is_refused_and_60_are_cut(host, listener, django_capture_on_commit_callbacks):
    recording = _replay(host, 65, django_capture_on_commit_callbacks)
    with pytest.raises(ServiceError) as refused:
        services.clip_create_from_replay(recording_id=recording.pk, actor=listener, start="1", end="62")
    assert refused.value.code == "clip_too_long"
    assert "at most 60 seconds" in refused.value.message and "61.0 s" in refused.value.message
    assert not Clip.objects.exists()
    clip = _make(
        django_capture_on_commit_callbacks, recording_id=recording.pk, actor=listener, start=1, end=61
    )
    assert clip.status == "ready" and clip.duration_ms == 60_000
    pcm, rate = decode_ogg(ClipFiles(clip.pk).audio)
    assert abs(len(pcm) / rate - 60) <= 0.02


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [
        ("5", "5", "clip_too_short"),
        ("6", "4", "clip_too_short"),
        ("abc", "4", "bad_time"),
        ("-1", "4", "bad_time"),
        ("NaN", "4", "bad_time"),
        ("8", "11", "outside_replay"),
    ],
)
def test_bad_times_are_refused(replay, listener, start, end, code):
    with pytest.raises(ServiceError) as refused:
        services.clip_create_from_replay(recording_id=replay.pk, actor=listener, start=start, end=end)
    assert refused.value.code == code
    assert not Clip.objects.exists()


def test_a_title_over_100_characters_is_refused(replay, listener):
    with pytest.raises(ServiceError) as refused:
        services.clip_create_from_replay(
            recording_id=replay.pk, actor=listener, start=0, end=2, title="x" * 101
        )
    assert refused.value.code == "title_too_long" and not Clip.objects.exists()


def test_a_visitor_who_is_not_signed_in_cannot_clip(replay):
    with pytest.raises(ServiceError) as refused:
        services.clip_create_from_replay(recording_id=replay.pk, actor=AnonymousUser(), start=0, end=2)
    assert refused.value.code == "sign_in_required" and not Clip.objects.exists()


def test_someone_blocked_by_the_host_learns_nothing(replay, host, listener):
    block_create(blocker=host, blocked=listener)
    with pytest.raises(NotFound):
        services.clip_create_from_replay(recording_id=replay.pk, actor=listener, start=0, end=2)


# -- ticketed rooms ------------------------------------------------------------------------------------


@pytest.fixture
def ticketed_replay(host):
    return RecordingFactory(
        room__host=host, room__ticket_price=500, room__ticket_capacity=10, duration_ms=60_000
    )


def _ticket(room, buyer) -> Ticket:
    return Ticket.objects.create(
        room=room, buyer=buyer, status=Ticket.Status.PAID, amount=500, currency="USD", provider="development"
    )


def test_a_ticketed_rooms_replay_is_clipped_only_by_ticket_holders(ticketed_replay, listener):
    with pytest.raises(ServiceError) as refused:
        services.clip_create_from_replay(recording_id=ticketed_replay.pk, actor=listener, start=0, end=10)
    assert refused.value.code == "ticket_required" and not Clip.objects.exists()
    _ticket(ticketed_replay.room, listener)
    clip = services.clip_create_from_replay(recording_id=ticketed_replay.pk, actor=listener, start=0, end=10)
    assert clip.status == "pending"


def test_a_ticketed_rooms_clip_is_hidden_from_those_without_a_ticket(ticketed_replay, listener):
    holder = UserFactory()
    _ticket(ticketed_replay.room, holder)
    clip = Clip.objects.create(
        recording=ticketed_replay, created_by=holder, title="t", source="replay", start_ms=0, end_ms=5000
    )
    assert clip_get_for_viewer(clip_id=clip.pk, viewer=holder) == clip
    with pytest.raises(ServiceError) as refused:
        clip_get_for_viewer(clip_id=clip.pk, viewer=listener)
    assert refused.value.code == "ticket_required"
    # Nor can they report it: to them it does not exist.
    with pytest.raises(NotFound):
        report_create(reporter=listener, target_type="clip", target_id=clip.pk, reason="spam", note="")


# -- the host's switch, deleting, reporting, the rate ---------------------------------------------------


def test_the_host_turns_clipping_off_and_nobody_can_clip(replay, host, listener):
    with pytest.raises(ServiceError) as refused:
        services.recording_set_clipping(recording_id=replay.pk, actor=listener, enabled=False)
    assert refused.value.code == "not_allowed"
    services.recording_set_clipping(recording_id=replay.pk, actor=host, enabled=False)
    for actor in (listener, host):
        with pytest.raises(ServiceError) as refused:
            services.clip_create_from_replay(recording_id=replay.pk, actor=actor, start=0, end=2)
        assert refused.value.code == "clips_off"
    assert not Clip.objects.exists()
    services.recording_set_clipping(recording_id=replay.pk, actor=host, enabled=True)
    assert services.clip_create_from_replay(recording_id=replay.pk, actor=listener, start=0, end=2)


def test_only_the_clipper_and_the_host_delete_a_clip(
    replay, host, listener, django_capture_on_commit_callbacks
):
    other = UserFactory()
    first = _make(django_capture_on_commit_callbacks, recording_id=replay.pk, actor=listener, start=0, end=2)
    second = _make(django_capture_on_commit_callbacks, recording_id=replay.pk, actor=listener, start=2, end=4)
    with pytest.raises(ServiceError) as refused:
        services.clip_delete(clip_id=first.pk, actor=other)
    assert refused.value.code == "not_allowed"
    first.refresh_from_db()
    assert first.status == "ready" and ClipFiles(first.pk).audio.exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.clip_delete(clip_id=first.pk, actor=listener)  # the clipper
        services.clip_delete(clip_id=second.pk, actor=host)  # the host, someone else's clip
    for clip in (first, second):
        clip.refresh_from_db()
        assert clip.status == "deleted" and not ClipFiles(clip.pk).directory.exists()
        with pytest.raises(NotFound):
            clip_get_for_viewer(clip_id=clip.pk, viewer=listener)
    with pytest.raises(NotFound):
        services.clip_delete(clip_id=first.pk, actor=listener)


def test_a_clip_can_be_reported_and_a_moderator_removes_it(
    replay, listener, django_capture_on_commit_callbacks
):
    clip = _make(django_capture_on_commit_callbacks, recording_id=replay.pk, actor=listener, start=0, end=2)
    reporter = UserFactory()
    report = report_create(reporter=reporter, target_type="clip", target_id=clip.pk, reason="spam", note="ad")
    assert report.target == clip and report.target_type == Report.TargetType.CLIP
    moderator = UserFactory(is_staff=True)
    moderator.groups.add(Group.objects.get(name=MODERATORS_GROUP))
    with pytest.raises(ServiceError):
        moderation_remove_clip(moderator=reporter, clip=clip, report=report)
    moderation_remove_clip(moderator=moderator, clip=clip, report=report)
    clip.refresh_from_db()
    report.refresh_from_db()
    assert clip.status == "removed" and report.status == "resolved"


def test_clip_creation_is_rate_limited(replay, listener, settings):
    settings.CLIPS_PER_HOUR = 2
    for start in (0, 2):
        services.clip_create_from_replay(recording_id=replay.pk, actor=listener, start=start, end=start + 2)
    with pytest.raises(ServiceError) as refused:
        services.clip_create_from_replay(recording_id=replay.pk, actor=listener, start=4, end=6)
    assert refused.value.code == "rate_limited" and Clip.objects.count() == 2


# -- live ------------------------------------------------------------------------------------------------


def test_a_live_clip_is_the_last_seconds_captured_with_the_live_captions(
    host, listener, django_capture_on_commit_callbacks
):
    room = room_services.room_create(host=host, title="Live tones", is_recorded=True)
    recording = Recording.objects.get(room=room)
    writer = capture_tone(capture_directory(room.pk), speaker_id=host.pk, seconds=40, close=False)
    transcript = Transcript.objects.get(recording=recording)
    for wall_ms, text in ((T0 + 2_000, "Long before."), (T0 + 25_000, "Just now.")):
        TranscriptLine.objects.create(
            transcript=transcript,
            speaker=host,
            speaker_name="Ada Host",
            wall_start_ms=wall_ms,
            end_ms=1500,
            text=text,
        )
    for seconds, code in (("61", "clip_too_long"), ("0", "clip_too_short"), ("soon", "bad_time")):
        with pytest.raises(ServiceError) as refused:
            services.clip_create_live(room_id=room.pk, actor=listener, seconds=seconds)
        assert refused.value.code == code
    with django_capture_on_commit_callbacks(execute=True):
        clip = services.clip_create_live(room_id=room.pk, actor=listener, seconds="30")
    writer.close()
    clip.refresh_from_db()
    assert clip.status == "ready", clip.failure_reason
    # The last 30 s, up to the packet before the newest (whose end the encoder's delay holds back).
    assert (clip.source, clip.start_ms, clip.end_ms) == ("live", 9_980, 39_980)
    assert clip.speakers == [[host.pk, "Ada Host"]]
    assert clip.caption_text == "Ada Host: Just now."
    pcm, rate = decode_ogg(ClipFiles(clip.pk).audio)
    assert abs(len(pcm) / rate - 30) <= 0.02
    assert amplitude_at(pcm[rate : 2 * rate], 440, rate) > 0.1


def test_a_live_clip_needs_a_recorded_live_room(host, listener):
    unrecorded = room_services.room_create(host=host, title="Off the record")
    with pytest.raises(ServiceError) as refused:
        services.clip_create_live(room_id=unrecorded.pk, actor=listener, seconds=30)
    assert refused.value.code == "not_recorded"
    room_services.room_end(room=unrecorded, actor=host)
    recorded = room_services.room_create(host=host, title="On the record", is_recorded=True)
    services.recording_set_clipping(recording_id=recorded.recording.pk, actor=host, enabled=False)
    with pytest.raises(ServiceError) as refused:
        services.clip_create_live(room_id=recorded.pk, actor=listener, seconds=30)
    assert refused.value.code == "clips_off"
    assert not Clip.objects.exists()


def test_the_waveform_follows_the_audio(host, listener, django_capture_on_commit_callbacks):
    # Two seconds of tone then four of silence: the clip's peaks fall to nothing a third of the way in.
    room = room_services.room_create(host=host, title="Short tone", is_recorded=True)
    capture_tone(capture_directory(room.pk), speaker_id=host.pk, seconds=2, silent_tail_s=4)
    end_room(room, host, django_capture_on_commit_callbacks)
    clip = _make(
        django_capture_on_commit_callbacks, recording_id=room.recording.pk, actor=listener, start=0, end=6
    )
    peaks = np.array(clip.peaks)
    # (the mixer lets the first few tens of ms pass before the voice comes in)
    assert peaks[5 : len(peaks) // 4].min() > 0.1 and peaks[len(peaks) // 2 :].max() < 0.02


def test_deleting_the_recording_takes_its_clips_and_a_deleted_transcript_their_captions(
    replay, host, listener, django_capture_on_commit_callbacks
):
    clip = _make(django_capture_on_commit_callbacks, recording_id=replay.pk, actor=listener, start=2, end=5)
    client = Client()
    client.force_login(listener)
    assert "Inside the clip." in client.get(reverse("clips:detail", args=[clip.pk])).content.decode()
    transcript_delete(recording_id=replay.pk, actor=host)
    page = client.get(reverse("clips:detail", args=[clip.pk])).content.decode()
    assert "Inside the clip." not in page and "No captions for this stretch." in page
    with django_capture_on_commit_callbacks(execute=True):
        recording_delete(recording_id=replay.pk, actor=host)
    clip.refresh_from_db()
    assert clip.status == "removed" and not ClipFiles(clip.pk).directory.exists()
    assert client.get(reverse("clips:detail", args=[clip.pk])).status_code == 404


def test_a_persons_clips_are_in_their_data_export_and_go_with_their_account(
    replay, host, listener, django_capture_on_commit_callbacks
):
    clip = _make(django_capture_on_commit_callbacks, recording_id=replay.pk, actor=listener, start=2, end=5)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for section in SECTIONS:
            section.write(archive, listener)
    with zipfile.ZipFile(buffer) as archive:
        (entry,) = json.loads(archive.read("clips/clips.json"))
        assert entry["title"] == "Tones at noon" and (entry["start_ms"], entry["end_ms"]) == (2000, 5000)
        assert archive.read(entry["audio"]) == ClipFiles(clip.pk).audio.read_bytes()
    with django_capture_on_commit_callbacks(execute=True):
        user_delete_account(user=listener, password=PASSWORD)
    assert not Clip.objects.filter(pk=clip.pk).exists() and not ClipFiles(clip.pk).directory.exists()
