"""Clips in a real browser: a listener takes start and end from the replay player's position, makes a
clip, lands on its page and plays it there; a clip longer than 60 s is refused before it is sent.

The replay is made the way a live room makes it (a RoomMixer's program packets into a CaptureWriter),
finalized eagerly in this process; the server cuts the clip eagerly in the request (no broker)."""

import re
import shutil

import pytest
from playwright.sync_api import expect

from recordings.models import Clip, Recording
from recordings.services import RecordingFiles, capture_directory, clip_create_from_replay
from rooms import services as room_services
from tests.factories import UserFactory
from tests.recordings.helpers import capture_tone

pytestmark = pytest.mark.browser


@pytest.fixture
def open_page(browser, asgi_live_server):
    contexts = []

    def open_as(user, path):
        context = browser.new_context(viewport={"width": 1000, "height": 900})
        contexts.append(context)
        asgi_live_server.sign_in(context, user)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.failed = []
        page.on("response", lambda r: r.status >= 400 and page.failed.append(f"{r.status} {r.url}"))
        page.goto(f"{asgi_live_server.url}{path}")
        return page

    yield open_as
    for context in contexts:
        context.close()


def _fresh_capture_directory(room) -> None:
    """Browser tests share the server's MEDIA_ROOT, and a flushed database hands out room ids again:
    start the room's recording from nothing, not from an earlier run's segments."""
    shutil.rmtree(RecordingFiles(room.pk).directory, ignore_errors=True)


def _seek(page, seconds: float) -> None:
    page.evaluate(
        """(at) => new Promise((done) => {
            const audio = document.getElementById("replay-audio");
            audio.addEventListener("seeked", () => done(), { once: true });
            audio.currentTime = at;
        })""",
        seconds,
    )


def test_a_listener_clips_a_replay_from_the_player_and_plays_the_clip(open_page, asgi_live_server):
    host = UserFactory(display_name="Hana Host")
    listener = UserFactory(display_name="Lin Listener")
    room = room_services.room_create(host=host, title="Tones at noon", is_recorded=True)
    _fresh_capture_directory(room)
    capture_tone(capture_directory(room.pk), speaker_id=host.pk, seconds=20)
    room_services.room_end(room=room, actor=host)  # the finalizing chain runs eagerly, here
    recording = Recording.objects.get(room=room)
    assert recording.status == "ready", recording.failure_reason
    assert recording.duration_ms == 20_000

    page = open_page(listener, f"/recordings/{recording.pk}/")
    page.wait_for_function("() => document.getElementById('replay-audio').readyState >= 1")
    page.get_by_test_id("clip-open").click()

    # 61 s is refused on the page, before anything is sent.
    page.get_by_test_id("clip-start").fill("0")
    page.get_by_test_id("clip-end").fill("61")
    page.get_by_test_id("clip-create").click()
    expect(page.locator("[data-clip-error]")).to_have_text(
        "A clip lasts at most 60 seconds; this one would last 61.0 s."
    )
    assert Clip.objects.count() == 0

    # Start and end from the player's position.
    _seek(page, 12)
    page.get_by_test_id("clip-mark-start").click()
    expect(page.get_by_test_id("clip-start")).to_have_value("12")
    _seek(page, 18.5)
    page.get_by_test_id("clip-mark-end").click()
    expect(page.get_by_test_id("clip-end")).to_have_value("18.5")
    page.get_by_test_id("clip-title").fill("The high note")
    page.get_by_test_id("clip-create").click()

    # The clip's own page, ready: title, length, who spoke, the card tags, and a player that plays.
    clip = Clip.objects.get()
    expect(page).to_have_url(f"{asgi_live_server.url}/clips/{clip.pk}/")
    expect(page.locator("#clip-title")).to_have_text("The high note")
    expect(page.get_by_test_id("clip-duration")).to_have_text("6.5 s")
    expect(page.get_by_test_id("clip-speakers")).to_have_text("Hana Host")
    expect(page.locator('meta[name="twitter:player"]')).to_have_attribute(
        "content", f"http://testserver/clips/{clip.pk}/embed/"
    )
    audio = page.get_by_test_id("clip-audio")
    page.wait_for_function("() => document.getElementById('clip-audio').readyState >= 1")
    # Chromium's Ogg demuxer counts the pre-skip (80 ms of pre-roll + the encoder's delay) in its
    # duration, though it plays without it; FFmpeg gives exactly 6.5 s (test_clip_worker.py).
    assert 6.5 <= audio.evaluate("a => a.duration") < 6.6
    audio.evaluate("a => a.play()")
    page.wait_for_function("() => document.getElementById('clip-audio').currentTime > 1.0", timeout=15_000)
    assert audio.evaluate("a => a.error") is None
    assert page.failed == []

    # It is listed on the replay too.
    page.goto(f"{asgi_live_server.url}/recordings/{recording.pk}/")
    expect(page.get_by_test_id("replay-clips").get_by_role("link", name="The high note")).to_be_visible()


def test_a_listener_clips_the_last_30_seconds_of_a_live_room_without_leaving_it(open_page, asgi_live_server):
    host = UserFactory(display_name="Hana Host")
    listener = UserFactory(display_name="Lin Listener")
    room = room_services.room_create(host=host, title="Live tones", is_recorded=True)
    _fresh_capture_directory(room)
    # What the room's mixer has captured so far (a capture still being written: not closed).
    writer = capture_tone(capture_directory(room.pk), speaker_id=host.pk, seconds=40, close=False)
    try:
        page = open_page(listener, f"/rooms/{room.pk}/")
        card = page.get_by_test_id("live-clip")
        card.get_by_test_id("clip-last-30").click()
        link = card.get_by_test_id("live-clip-link")
        expect(link).to_be_visible()
        assert page.url == f"{asgi_live_server.url}/rooms/{room.pk}/"  # still in the room
        clip = Clip.objects.get()
        assert clip.status == "ready" and clip.source == "live" and clip.duration_ms == 30_000
        with page.context.expect_page() as opened:
            link.click()
        clip_page = opened.value
        expect(clip_page.get_by_test_id("clip-duration")).to_have_text("30 s")
        expect(clip_page.get_by_test_id("clip-speakers")).to_have_text("Hana Host")
    finally:
        writer.close()


def test_the_replay_has_one_player_and_the_clip_page_shares_a_link_and_an_embed(open_page, asgi_live_server):
    host = UserFactory(display_name="Alice Martin")
    listener = UserFactory(display_name="Lin Listener")
    room = room_services.room_create(host=host, title="live Q&A", is_recorded=True)
    _fresh_capture_directory(room)
    capture_tone(capture_directory(room.pk), speaker_id=host.pk, seconds=20)
    room_services.room_end(room=room, actor=host)
    recording = Recording.objects.get(room=room)
    assert recording.status == "ready", recording.failure_reason

    page = open_page(listener, f"/recordings/{recording.pk}/")
    # One player: the waveform with its own controls; the browser's is put away, and the length is
    # the recording's, before anything plays.
    expect(page.get_by_test_id("replay-player")).to_be_visible()
    expect(page.locator("audio#replay-audio")).to_be_hidden()
    assert page.locator("audio").evaluate_all("all => all.filter((a) => a.controls).length") == 0
    expect(page.get_by_test_id("replay-time")).to_have_text("0:00 / 0:20")
    # The same one player at 390 x 844, inside the screen's width.
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_test_id("replay-player")).to_be_visible()
    expect(page.locator("audio#replay-audio")).to_be_hidden()
    player = page.get_by_test_id("replay-player").bounding_box()
    assert player["x"] >= 0 and player["x"] + player["width"] <= 390
    page.set_viewport_size({"width": 1000, "height": 900})
    play = page.get_by_test_id("replay-play")
    play.click()
    page.wait_for_function("() => document.getElementById('replay-audio').currentTime > 0.5", timeout=15_000)
    expect(play).to_have_text("Pause")
    play.click()
    expect(play).to_have_text("Play")

    clip = clip_create_from_replay(
        recording_id=recording.pk, actor=listener, start=2, end=8, title="The tone"
    )
    clip.refresh_from_db()
    assert clip.status == "ready", clip.failure_reason
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=asgi_live_server.url)
    page.goto(f"{asgi_live_server.url}/clips/{clip.pk}/")
    # No stray spaces beside the links.
    expect(page.get_by_test_id("clip-source")).to_have_text(
        "From live Q&A, hosted by Alice Martin. Clipped by Lin Listener."
    )
    share = page.get_by_test_id("clip-share")
    share.get_by_test_id("copy-clip-link").click()
    expect(share.locator("[data-copy-status]")).to_have_text("Link copied.")
    assert page.evaluate("navigator.clipboard.readText()").endswith(f"/clips/{clip.pk}/")
    embed = share.get_by_test_id("clip-embed-code")
    expect(embed).to_have_value(
        re.compile(
            rf'^<iframe src="http://[^"]+/clips/{clip.pk}/embed/" width="480" height="160" .*></iframe>$'
        )
    )
    share.get_by_test_id("copy-clip-embed").click()
    expect(share.locator("[data-copy-status]")).to_have_text("Embed code copied.")
    assert page.evaluate("navigator.clipboard.readText()").startswith("<iframe ")

    # The embedded player knows the clip's length before it plays; starting it is the play the room's
    # host sees counted (its script reports it), and loading the length is not.
    clip.refresh_from_db()
    plays = clip.play_count
    page.goto(f"{asgi_live_server.url}/clips/{clip.pk}/embed/")
    expect(page.locator("main")).to_contain_text(re.compile(r"\b6(\.\d)? s from"))
    audio = page.locator("audio")
    page.wait_for_function("() => document.querySelector('audio').readyState >= 1", timeout=15_000)
    assert audio.evaluate("a => a.paused && a.currentTime === 0")
    assert 6.0 <= audio.evaluate("a => a.duration") < 6.2
    clip.refresh_from_db()
    assert clip.play_count == plays
    with page.expect_response(lambda r: r.url.endswith(f"/clips/{clip.pk}/embed/play/")) as reported:
        audio.evaluate("a => { a.muted = true; return a.play(); }")
    assert reported.value.status == 200
    page.wait_for_function("() => document.querySelector('audio').currentTime > 0.5", timeout=15_000)
    clip.refresh_from_db()
    assert clip.play_count == plays + 1
