"""The podcast feed (issue 15): a host publishes replays to `/@handle/podcast.rss`, checked here with a
real feed parser (feedparser) and a strict XML parser; ticketed rooms cannot be published; episodes'
audio is fetched without a session, and only published ones."""

from datetime import timedelta
from email.utils import parsedate_to_datetime
from io import BytesIO
from xml.etree import ElementTree as ET

import feedparser
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from mutagen.mp4 import MP4
from PIL import Image

from recordings import services
from recordings.models import Recording, Transcript, TranscriptLine
from recordings.podcast import ITUNES
from recordings.services import RecordingFiles, capture_directory
from rooms import services as room_services
from spaces_project.errors import ServiceError
from tests.factories import RecordingFactory, UserFactory

from .conftest import end_room
from .helpers import capture_tone

pytestmark = pytest.mark.django_db


def _replay(host, title, description, seconds, callbacks) -> Recording:
    room = room_services.room_create(host=host, title=title, description=description, is_recorded=True)
    capture_tone(capture_directory(room.pk), speaker_id=host.pk, seconds=seconds)
    end_room(room, host, callbacks)
    recording = Recording.objects.get(room=room)
    assert recording.status == "ready", recording.failure_reason
    return recording


@pytest.fixture
def episodes(host, django_capture_on_commit_callbacks):
    first = _replay(host, "Tones & <friends>", "We talk about tones.", 3, django_capture_on_commit_callbacks)
    second = _replay(host, "Second room", "", 2, django_capture_on_commit_callbacks)
    Recording.objects.filter(pk=first.pk).update(duration_ms=3000)
    # The second room's transcript has two speakers: two chapters in its show notes.
    transcript = Transcript.objects.get(recording=second)
    Transcript.objects.filter(pk=transcript.pk).update(status=Transcript.Status.READY)
    guest = UserFactory(display_name="Bo Guest")
    for start, who, text in ((0, host, "Welcome to the show."), (1000, guest, "Thanks for having me.")):
        TranscriptLine.objects.create(
            transcript=transcript,
            speaker=who,
            speaker_name=who.name,
            start_ms=start,
            end_ms=start + 900,
            text=text,
        )
    return first, second


def _feed(client: Client, handle: str):
    response = client.get(f"/@{handle}/podcast.rss")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/rss+xml")
    return response


def test_a_replay_is_not_in_the_podcast_until_its_host_publishes_it(episodes, host):
    parsed = feedparser.parse(_feed(Client(), host.handle).content)
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.version == "rss20" and parsed.entries == []
    first, _ = episodes
    # Nor is its audio there for anyone without a session.
    assert Client().get(reverse("podcast:audio", args=[first.pk])).status_code == 404


def test_the_feed_is_valid_rss_with_the_itunes_tags(episodes, host):
    first, second = episodes
    for recording in (first, second):
        services.recording_set_podcast(recording_id=recording.pk, actor=host, published=True)
    body = _feed(Client(), host.handle).content

    parsed = feedparser.parse(body)
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.version == "rss20"
    assert ITUNES in parsed.namespaces.values()
    channel = parsed.feed
    assert channel.title == "Ada Host on Spaces"
    assert channel.author == "Ada Host"  # itunes:author
    assert channel.image.href == f"http://testserver/@{host.handle}/podcast.jpg"  # itunes:image
    # Apple's current values are "true"/"false" (feedparser maps only the older yes/clean to a bool).
    assert not channel.itunes_explicit
    assert channel.tags[0].term == "Society & Culture"  # itunes:category
    assert channel.link == f"http://testserver/@{host.handle}/"
    assert len(parsed.entries) == 2

    by_title = {entry.title: entry for entry in parsed.entries}
    entry = by_title["Tones & <friends>"]
    assert entry.id == f"spaces-replay-{first.pk}" and entry.guidislink is False
    replay = RecordingFiles(first.room_id).replay
    (enclosure,) = entry.enclosures
    assert enclosure.href == f"http://testserver/podcast/episodes/{first.pk}.m4a"
    assert enclosure.type == "audio/mp4" and int(enclosure.length) == replay.stat().st_size
    assert entry.itunes_duration == "00:00:03"
    assert entry.summary.startswith("We talk about tones.")  # the room's description as show notes
    assert abs(parsedate_to_datetime(entry.published) - first.room.started_at) < timedelta(seconds=1)
    assert entry.image.href == f"http://testserver/podcast/episodes/{first.pk}.jpg"

    notes = by_title["Second room"].summary
    assert "Chapters:" in notes
    assert "0:00 Ada Host: Welcome to the show." in notes and "0:01 Bo Guest: Thanks for having me." in notes

    # Strict XML too, with the tags in the iTunes namespace where Apple reads them.
    root = ET.fromstring(body)
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel_xml = root.find("channel")
    for tag in ("author", "image", "explicit", "category", "summary", "owner", "type"):
        assert channel_xml.find(f"{{{ITUNES}}}{tag}") is not None, tag
    assert channel_xml.find(f"{{{ITUNES}}}explicit").text == "false"
    for item in channel_xml.findall("item"):
        for tag in ("duration", "summary", "explicit", "episodeType"):
            assert item.find(f"{{{ITUNES}}}{tag}") is not None, tag
        assert item.find("guid") is not None and item.find("pubDate") is not None


def test_an_episode_is_fetched_without_a_session_with_ranges(episodes, host):
    first, _ = episodes
    services.recording_set_podcast(recording_id=first.pk, actor=host, published=True)
    entry = feedparser.parse(_feed(Client(), host.handle).content).entries[0]
    path = entry.enclosures[0].href.removeprefix("http://testserver")
    anonymous = Client()
    response = anonymous.get(path)
    assert response.status_code == 200 and response["Content-Type"] == "audio/mp4"
    body = b"".join(response.streaming_content)
    assert body == RecordingFiles(first.room_id).replay.read_bytes()
    ranged = anonymous.get(path, HTTP_RANGE="bytes=0-99")
    assert ranged.status_code == 206 and len(b"".join(ranged.streaming_content)) == 100
    assert anonymous.get(f"/podcast/episodes/{first.pk}.jpg").status_code == 200
    # The M4A is a real audio file of the replay's length.
    replay = RecordingFiles(first.room_id).replay
    assert abs(MP4(str(replay)).info.length - 3) < 0.1
    # Taken out of the podcast: gone from the feed, and its audio is not served any more.
    services.recording_set_podcast(recording_id=first.pk, actor=host, published=False)
    assert feedparser.parse(_feed(Client(), host.handle).content).entries == []
    assert anonymous.get(path).status_code == 404


def test_a_ticketed_room_cannot_be_published(host):
    recording = RecordingFactory(room__host=host, room__ticket_price=500, room__ticket_capacity=10)
    with pytest.raises(ServiceError) as refused:
        services.recording_set_podcast(recording_id=recording.pk, actor=host, published=True)
    assert refused.value.code == "ticketed" and "ticketed room cannot be published" in refused.value.message
    recording.refresh_from_db()
    assert recording.podcast_published_at is None


def test_a_ticketed_room_published_by_a_stray_write_still_stays_out_of_the_feed(host, settings, tmp_path):
    recording = RecordingFactory(room__host=host, room__ticket_price=500, room__ticket_capacity=10)
    Recording.objects.filter(pk=recording.pk).update(podcast_published_at=timezone.now())
    files = RecordingFiles(recording.room_id)
    files.directory.mkdir(parents=True)
    files.replay.write_bytes(b"audio")
    assert feedparser.parse(_feed(Client(), host.handle).content).entries == []
    assert Client().get(reverse("podcast:audio", args=[recording.pk])).status_code == 404


def test_only_the_host_publishes_and_only_a_ready_replay(host, episodes):
    first, _ = episodes
    other = UserFactory()
    with pytest.raises(ServiceError) as refused:
        services.recording_set_podcast(recording_id=first.pk, actor=other, published=True)
    assert refused.value.code == "not_allowed"
    Recording.objects.filter(pk=first.pk).update(status=Recording.Status.PROCESSING)
    with pytest.raises(ServiceError) as refused:
        services.recording_set_podcast(recording_id=first.pk, actor=host, published=True)
    assert refused.value.code == "not_ready"
    first.refresh_from_db()
    assert first.podcast_published_at is None


def test_the_publish_toggle_on_the_replay_page(host, episodes):
    first, _ = episodes
    client = Client()
    client.force_login(host)
    page = client.get(reverse("recordings:detail", args=[first.pk])).content.decode()
    assert "Publish to my podcast" in page
    response = client.post(reverse("podcast:publish", args=[first.pk]), {"published": "1"})
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.podcast_published_at is not None
    page = client.get(reverse("recordings:detail", args=[first.pk])).content.decode()
    assert "Take out of my podcast" in page
    # A listener sees no toggle, and posting it is refused.
    listener = UserFactory()
    client.force_login(listener)
    assert "podcast-toggle" not in client.get(reverse("recordings:detail", args=[first.pk])).content.decode()
    assert client.post(reverse("podcast:publish", args=[first.pk]), {"published": "0"}).status_code == 403
    first.refresh_from_db()
    assert first.podcast_published_at is not None


def test_the_podcast_artwork_is_a_square_jpeg(host):
    response = Client().get(f"/@{host.handle}/podcast.jpg")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert Image.open(BytesIO(response.content)).size == (1400, 1400)


# -- only a replay anyone may play is an episode (issue 21, item 10) ---------------------------------


def _with_files(recording: Recording) -> Recording:
    files = RecordingFiles(recording.room_id)
    files.directory.mkdir(parents=True, exist_ok=True)
    files.replay.write_bytes(b"\x00" * 1000)
    files.cover.write_bytes(b"\xff\xd8\xff\xd9")
    return recording


def test_a_room_closed_to_anonymous_listeners_cannot_be_published(host):
    recording = RecordingFactory(room__host=host, room__allow_anonymous=False)
    with pytest.raises(ServiceError) as refused:
        services.recording_set_podcast(recording_id=recording.pk, actor=host, published=True)
    assert refused.value.code == "sign_in_only"
    assert "only for signed-in listeners" in refused.value.message
    recording.refresh_from_db()
    assert recording.podcast_published_at is None


def test_the_replay_page_gives_the_host_the_reason_instead_of_the_publish_button(host):
    recording = RecordingFactory(room__host=host, room__allow_anonymous=False)
    client = Client()
    client.force_login(host)
    url = reverse("recordings:detail", args=[recording.pk])
    page = client.get(url).content.decode()
    assert "Publish to my podcast" not in page
    assert "only for signed-in listeners" in page
    # A publish posted anyway (an old page, a script) is refused with the reason, shown on the page.
    response = client.post(reverse("podcast:publish", args=[recording.pk]), {"published": "1"}, follow=True)
    assert response.redirect_chain[-1][0] == url
    assert "only for signed-in listeners" in response.content.decode()
    assert "Published to your podcast" not in response.content.decode()
    recording.refresh_from_db()
    assert recording.podcast_published_at is None


def test_an_episode_published_before_its_room_closed_to_anonymous_listeners_is_served_to_nobody(host):
    recording = _with_files(RecordingFactory(room__host=host))
    services.recording_set_podcast(recording_id=recording.pk, actor=host, published=True)
    anonymous = Client()
    audio = reverse("podcast:audio", args=[recording.pk])
    assert anonymous.get(audio, HTTP_RANGE="bytes=0-99").status_code == 206
    assert len(feedparser.parse(_feed(anonymous, host.handle).content).entries) == 1
    # Existing data: the replay is published, but its room lets only signed-in people listen.
    recording.room.__class__.objects.filter(pk=recording.room_id).update(allow_anonymous=False)
    assert anonymous.get(reverse("recordings:detail", args=[recording.pk])).status_code == 403
    assert feedparser.parse(_feed(anonymous, host.handle).content).entries == []
    assert anonymous.get(audio, HTTP_RANGE="bytes=0-99").status_code == 404
    assert anonymous.get(audio).status_code == 404
    assert anonymous.get(reverse("podcast:cover", args=[recording.pk])).status_code == 404
    # The host sees why it is not in the feed, and can take it out.
    client = Client()
    client.force_login(host)
    page = client.get(reverse("recordings:detail", args=[recording.pk])).content.decode()
    assert "only for signed-in listeners" in page and "Take out of my podcast" in page
    services.recording_set_podcast(recording_id=recording.pk, actor=host, published=False)
    recording.refresh_from_db()
    assert recording.podcast_published_at is None
