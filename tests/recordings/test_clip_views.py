"""Clip pages and endpoints: the card tags a shared link shows, the embeddable player, the audio
with ranges, and refusals answered as each endpoint declares (JSON for the page's script, a message
and a redirect for a plain form, 403 text for files)."""

import re
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from recordings import services
from recordings.models import Clip, Recording
from recordings.services import ClipFiles, capture_directory
from recordings.services.analytics import CLIP_PLAYS_PER_ADDRESS_PER_HOUR
from rooms import services as room_services
from rooms.models import Ticket
from tests.factories import RecordingFactory, UserFactory

from .conftest import end_room
from .helpers import capture_tone

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def generous_rate(settings):
    settings.CLIPS_PER_HOUR = 1000


@pytest.fixture
def replay(host, django_capture_on_commit_callbacks) -> Recording:
    room = room_services.room_create(host=host, title="Tones at noon", is_recorded=True)
    capture_tone(capture_directory(room.pk), speaker_id=host.pk, seconds=8)
    end_room(room, host, django_capture_on_commit_callbacks)
    return Recording.objects.get(room=room)


@pytest.fixture
def listener(db):
    return UserFactory(display_name="Lin Listener")


@pytest.fixture
def signed_in(listener) -> Client:
    client = Client()
    client.force_login(listener)
    return client


def _clip_from_form(client, recording, callbacks, **data) -> Clip:
    with callbacks(execute=True):
        response = client.post(reverse("clips:create_from_replay", args=[recording.pk]), data)
    assert response.status_code == 302, response.content
    clip = Clip.objects.get()
    assert response["Location"] == reverse("clips:detail", args=[clip.pk])
    return clip


def test_the_clip_page_has_the_card_tags_the_player_and_who_spoke(
    replay, host, signed_in, django_capture_on_commit_callbacks
):
    clip = _clip_from_form(
        signed_in, replay, django_capture_on_commit_callbacks, start="1", end="4.5", title="Best bit"
    )
    page = Client().get(reverse("clips:detail", args=[clip.pk])).content.decode()  # a visitor: anonymous room
    meta = dict(re.findall(r'<meta (?:property|name)="([^"]+)" content="([^"]*)"', page))
    assert meta["og:title"] == "Best bit"
    assert meta["og:url"] == f"http://testserver/clips/{clip.pk}/"
    assert meta["og:image"] == f"http://testserver/clips/{clip.pk}/waveform.png"
    assert meta["og:audio"] == f"http://testserver/clips/{clip.pk}/audio.ogg"
    assert meta["twitter:card"] == "player"
    assert meta["twitter:player"] == f"http://testserver/clips/{clip.pk}/embed/"
    assert meta["twitter:player:width"] and meta["twitter:player:height"]
    assert "3.5 s" in meta["og:description"] and "Ada Host" in meta["og:description"]
    assert f'src="/clips/{clip.pk}/audio.ogg"' in page and 'data-testid="clip-speakers"' in page
    assert "Ada Host" in page


def test_the_embedded_player_may_be_framed_anywhere_and_runs_only_our_own_script(
    replay, signed_in, django_capture_on_commit_callbacks
):
    clip = _clip_from_form(signed_in, replay, django_capture_on_commit_callbacks, start="0", end="2")
    response = Client().get(reverse("clips:embed", args=[clip.pk]))
    assert response.status_code == 200
    assert "X-Frame-Options" not in response
    policy = response["Content-Security-Policy"]
    assert "frame-ancestors *" in policy and "default-src 'none'" in policy
    assert (
        "script-src 'self';" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    )
    scripts = re.findall(r"<script[^>]*>", response.content.decode())
    assert scripts == ['<script type="module" src="/static/js/play-report.js">']
    # Every other page keeps refusing to be framed.
    page = Client().get(reverse("clips:detail", args=[clip.pk]))
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]


def test_the_clip_audio_is_served_with_ranges(replay, signed_in, django_capture_on_commit_callbacks):
    clip = _clip_from_form(signed_in, replay, django_capture_on_commit_callbacks, start="0", end="2")
    audio = ClipFiles(clip.pk).audio.read_bytes()
    response = Client().get(reverse("clips:audio", args=[clip.pk]), HTTP_RANGE="bytes=0-3")
    assert response.status_code == 206 and response["Content-Type"] == "audio/ogg"
    assert b"".join(response.streaming_content) == audio[:4] == b"OggS"


def test_61_seconds_from_the_page_script_is_a_json_refusal(host, signed_in):
    recording = RecordingFactory(room__host=host, duration_ms=120_000)
    response = signed_in.post(
        reverse("clips:create_from_replay", args=[recording.pk]),
        {"start": "10", "end": "71"},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 403
    assert response.json()["error"] == "clip_too_long" and "at most 60 seconds" in response.json()["message"]
    # The plain form: back to the replay with the message.
    response = signed_in.post(
        reverse("clips:create_from_replay", args=[recording.pk]), {"start": "10", "end": "71"}
    )
    assert response.status_code == 302 and response["Location"] == reverse(
        "recordings:detail", args=[recording.pk]
    )
    assert not Clip.objects.exists()


def test_a_ticketed_rooms_clip_page_and_audio_are_for_ticket_holders(host, listener, signed_in):
    recording = RecordingFactory(room__host=host, room__ticket_price=500, room__ticket_capacity=10)
    holder = UserFactory()
    Ticket.objects.create(
        room=recording.room, buyer=holder, status="paid", amount=500, currency="USD", provider="development"
    )
    clip = Clip.objects.create(
        recording=recording,
        created_by=holder,
        title="t",
        source="replay",
        start_ms=0,
        end_ms=5000,
        status="ready",
    )
    files = ClipFiles(clip.pk)
    files.directory.mkdir(parents=True)
    files.audio.write_bytes(b"OggS-audio")
    for name in ("clips:detail", "clips:audio", "clips:embed"):
        assert signed_in.get(reverse(name, args=[clip.pk])).status_code == 403, name
        assert Client().get(reverse(name, args=[clip.pk])).status_code == 403, name
    holder_client = Client()
    holder_client.force_login(holder)
    assert holder_client.get(reverse("clips:detail", args=[clip.pk])).status_code == 200
    assert holder_client.get(reverse("clips:audio", args=[clip.pk])).status_code == 200
    # Nor may a non-holder clip it.
    response = signed_in.post(
        reverse("clips:create_from_replay", args=[recording.pk]),
        {"start": "0", "end": "10"},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 403 and response.json()["error"] == "ticket_required"
    assert Clip.objects.count() == 1


def test_a_live_clip_from_the_room_page_script(host, signed_in, django_capture_on_commit_callbacks):
    room = room_services.room_create(host=host, title="Live tones", is_recorded=True)
    writer = capture_tone(capture_directory(room.pk), speaker_id=host.pk, seconds=5, close=False)
    page = signed_in.get(reverse("rooms:detail", args=[room.pk])).content.decode()
    assert 'data-testid="clip-last-30"' in page and 'data-testid="clip-last-60"' in page
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(
            reverse("clips:create_live", args=[room.pk]), {"seconds": "30"}, HTTP_ACCEPT="application/json"
        )
    writer.close()
    assert response.status_code == 201
    clip = Clip.objects.get(pk=response.json()["id"])
    assert response.json()["url"] == reverse("clips:detail", args=[clip.pk])
    # Only five seconds were captured: the clip holds them all (less the encoder's 6.5 ms delay).
    assert clip.status == "ready" and clip.duration_ms == 4993


def test_the_host_turns_clipping_off_from_the_room_page(host, signed_in):
    room = room_services.room_create(host=host, title="Live tones", is_recorded=True)
    client = Client()
    client.force_login(host)
    response = client.post(reverse("clips:clipping", args=[room.recording.pk]), {"enabled": "0"})
    assert response.status_code == 302 and response["Location"] == reverse("rooms:detail", args=[room.pk])
    page = signed_in.get(reverse("rooms:detail", args=[room.pk])).content.decode()
    assert 'data-testid="clips-off"' in page and "clip-last-30" not in page
    response = signed_in.post(
        reverse("clips:create_live", args=[room.pk]), {"seconds": "30"}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 403 and response.json()["error"] == "clips_off"
    # A listener cannot turn it back on.
    assert (
        signed_in.post(reverse("clips:clipping", args=[room.recording.pk]), {"enabled": "1"}).status_code
        == 403
    )
    room.recording.refresh_from_db()
    assert room.recording.clips_enabled is False


def test_someone_else_cannot_delete_a_clip(replay, signed_in, django_capture_on_commit_callbacks):
    clip = _clip_from_form(signed_in, replay, django_capture_on_commit_callbacks, start="0", end="2")
    other = Client()
    other.force_login(UserFactory())
    page = other.get(reverse("clips:detail", args=[clip.pk])).content.decode()
    assert "delete-clip" not in page and "Report clip" in page
    assert other.post(reverse("clips:delete", args=[clip.pk])).status_code == 403
    clip.refresh_from_db()
    assert clip.status == "ready"
    assert (
        'data-testid="delete-clip"' in signed_in.get(reverse("clips:detail", args=[clip.pk])).content.decode()
    )
    response = signed_in.post(reverse("clips:delete", args=[clip.pk]))
    assert response.status_code == 302
    assert Client().get(reverse("clips:detail", args=[clip.pk])).status_code == 404


def test_a_pending_clip_page_waits_for_the_cut(replay, listener):
    clip = services.clip_create_from_replay(recording_id=replay.pk, actor=listener, start=0, end=2)
    page = Client().get(reverse("clips:detail", args=[clip.pk])).content.decode()
    assert "Cutting the clip" in page and "twitter:player" not in page
    assert Client().get(reverse("clips:status", args=[clip.pk])).json() == {
        "status": "pending",
        "ready": False,
        "failed": False,
    }
    assert Client().get(reverse("clips:audio", args=[clip.pk])).status_code == 404


def _address() -> str:
    """A client address of this test's own (the play limit's counters live in Redis across runs)."""
    part = uuid.uuid4().hex
    return f"2001:db8::{part[:4]}:{part[4:8]}:{part[8:12]}"


def _fetch(client: Client, url: str, **headers) -> int:
    response = client.get(url, **headers)
    if response.status_code in (200, 206):
        b"".join(response.streaming_content)
    return response.status_code


def test_a_play_from_the_embed_counts_by_the_clip_pages_rules(
    replay, signed_in, django_capture_on_commit_callbacks
):
    clip = _clip_from_form(signed_in, replay, django_capture_on_commit_callbacks, start="0", end="2")

    def plays() -> int:
        clip.refresh_from_db()
        return clip.play_count

    embed = Client().get(reverse("clips:embed", args=[clip.pk])).content.decode()
    # The embed's player preloads the clip's length; its script reports the play to this URL.
    audio = re.search(r'<audio [^>]*preload="metadata" src="([^"]+)" data-play-url="([^"]+)"', embed)
    assert audio[1] == reverse("clips:audio", args=[clip.pk])
    play_url = audio[2]
    assert play_url == reverse("clips:embed_play", args=[clip.pk])

    # Fetching the audio (a preload, a seek, a probe) counts nothing.
    visitor = Client(REMOTE_ADDR=_address(), enforce_csrf_checks=True)
    assert _fetch(visitor, audio[1], HTTP_RANGE="bytes=0-") == 206
    assert _fetch(visitor, audio[1]) == 200
    assert plays() == 0
    # On another site the frame has none of our cookies, so no CSRF token: each play still counts...
    assert visitor.post(play_url).json() == {"counted": True}
    assert plays() == 1
    # ...at most so many an hour from one address, as for the clip page.
    for _ in range(CLIP_PLAYS_PER_ADDRESS_PER_HOUR + 3):
        assert visitor.post(play_url).status_code == 200
    assert plays() == CLIP_PLAYS_PER_ADDRESS_PER_HOUR
    assert visitor.get(play_url).status_code == 405

    # A visitor whose browser has our session (the embed on our own pages): once per session.
    same_site = Client(REMOTE_ADDR=_address())
    same_site.force_login(UserFactory())
    assert same_site.post(play_url).json() == {"counted": True}
    assert same_site.post(play_url).json() == {"counted": False}
    assert plays() == CLIP_PLAYS_PER_ADDRESS_PER_HOUR + 1
    # The room's host sees them with the clip page's plays.
    host = Client()
    host.force_login(replay.room.host)
    page = host.get(reverse("rooms:analytics", args=[replay.room_id])).content.decode()
    assert re.search(rf'data-testid="stat-clip-plays">{CLIP_PLAYS_PER_ADDRESS_PER_HOUR + 1}<', page)
