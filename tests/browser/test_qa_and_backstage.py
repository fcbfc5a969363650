"""The Q&A queue and the backstage in real browsers, with real audio: Chromium's fake microphones play
tones, the server mixes them, and each page is "listened to" through its playback analyser (the
instruments of tests/browser/test_live_audio.py)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from rooms.models import Participant, Question, Room, RoomInvitation
from tests.browser.test_live_audio import (  # noqa: F401 (fixtures)
    GUEST_HZ,
    HOST_HZ,
    ears,
    microphones,
    open_room,
    unmute,
    wait_heard,
    wait_until,
)
from tests.factories import RoomFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.live_audio]


def test_a_listener_asks_another_upvotes_the_host_invites_the_asker_and_hears_them(open_room):  # noqa: F811 (the fixture imported above)
    host = UserFactory(display_name="Hana Host")
    asker = UserFactory(display_name="Ari Asker")
    voter = UserFactory(display_name="Vic Voter")
    room = RoomFactory(host=host)
    host_page = open_room(host, room, mic=None)
    asker_page = open_room(asker, room, mic=GUEST_HZ)
    voter_page = open_room(voter, room, mic=None)

    # A question of 281 characters cannot even be typed (and the server refuses one anyway).
    box = asker_page.get_by_test_id("qa-text")
    box.fill("x" * 281)
    assert len(box.input_value()) == 280
    box.fill("How did you get started with modular synths?")
    asker_page.get_by_test_id("qa-ask").click()
    expect(asker_page.get_by_test_id("question-list")).to_contain_text("modular synths")
    expect(asker_page.get_by_test_id("qa-text")).to_have_value("")
    question = Question.objects.get(room=room)

    voter_item = voter_page.get_by_test_id(f"question-{question.pk}")
    expect(voter_item).to_contain_text("How did you get started with modular synths?")
    voter_item.get_by_test_id("question-vote").click()
    expect(voter_item.get_by_test_id("question-vote")).to_have_attribute("aria-pressed", "true")
    host_item = host_page.get_by_test_id(f"question-{question.pk}")
    expect(host_item.get_by_test_id("question-vote")).to_have_text("▲ 1")
    # The asker cannot upvote their own question.
    expect(
        asker_page.get_by_test_id(f"question-{question.pk}").get_by_test_id("question-vote")
    ).to_be_disabled()

    host_item.get_by_test_id("question-invite").click()
    # Everyone sees which question is being answered, above the stage.
    expect(voter_page.get_by_test_id("answering")).to_contain_text(
        "How did you get started with modular synths?"
    )
    asker_page.get_by_test_id("invite-accept").click()
    expect(asker_page.get_by_test_id("on-stage")).to_be_visible()
    unmute(asker_page)
    wait_heard(host_page, GUEST_HZ, timeout_ms=10_000)
    wait_heard(voter_page, GUEST_HZ, timeout_ms=10_000)
    question.refresh_from_db()
    assert question.state == Question.State.ANSWERING and question.answered_at is not None
    assert Participant.objects.get(room=room, user=asker).role == Participant.Role.SPEAKER


def test_backstage_the_host_hears_the_speaker_the_listener_does_not_until_go_live(open_room):  # noqa: F811 (the fixture imported above)
    host = UserFactory(display_name="Hana Host")
    speaker = UserFactory(display_name="Sam Speaker")
    listener = UserFactory(display_name="Leo Listener")
    room = RoomFactory(host=host, scheduled=True, scheduled_for=timezone.now() + timedelta(minutes=10))
    RoomInvitation.objects.create(room=room, invitee=speaker, invited_by=host)

    host_page = open_room(host, room, mic=HOST_HZ)
    host_page.get_by_test_id("open-backstage").click()
    expect(host_page.get_by_test_id("backstage-banner")).to_be_visible()
    expect(host_page.get_by_test_id("go-live")).to_be_visible()
    listener_page = open_room(listener, room, mic=None)
    expect(listener_page.get_by_test_id("starting-soon")).to_be_visible()
    expect(listener_page.get_by_test_id("waiting-count")).to_have_text("1")
    speaker_page = open_room(speaker, room, mic=GUEST_HZ)
    expect(speaker_page.get_by_test_id("backstage-banner")).to_be_visible()
    expect(speaker_page.get_by_test_id("go-live")).to_be_hidden()
    unmute(speaker_page)
    unmute(host_page)

    wait_heard(host_page, GUEST_HZ, timeout_ms=10_000)
    wait_heard(speaker_page, HOST_HZ, timeout_ms=10_000)
    # Both keep talking for two seconds: not one clear tone on the listener's page.
    listener_page.evaluate("window.__ears.count = {}; window.__ears.polls = 0")
    listener_page.wait_for_timeout(2000)
    heard = ears(listener_page)
    assert heard["polls"] > 100, "the listener's page was not listening"
    assert heard["count"].get("440", 0) == 0 and heard["count"].get("880", 0) == 0
    assert listener_page.evaluate("window.spacesAudio.stats.bundles || 0") == 0
    expect(listener_page.get_by_test_id("starting-soon")).to_be_visible()

    host_page.get_by_test_id("go-live").click()
    expect(listener_page.get_by_test_id("starting-soon")).to_be_hidden()
    wait_heard(listener_page, HOST_HZ, timeout_ms=10_000)
    wait_heard(listener_page, GUEST_HZ, timeout_ms=10_000)
    wait_until(listener_page, "window.__ears.now[440] && window.__ears.now[880]")
    room.refresh_from_db()
    assert room.state == Room.State.LIVE and room.backstage_opened_at is None
    # The stage went live as it was.
    assert Participant.objects.get(room=room, user=speaker).role == Participant.Role.SPEAKER
