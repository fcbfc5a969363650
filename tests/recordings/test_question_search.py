"""Searching the text of a question answered in a replay finds the replay, at the moment it was
taken up (issue 28, item 8), for the people who may play it."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse

from recordings.selectors import transcript_search
from rooms.models import Question
from tests.conftest import main_html
from tests.factories import ReplayFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def answered():
    """A replay whose room answered "Which amplifier do you use for the bass?" 90 s after it started."""
    replay = ReplayFactory(room__title="Gear talk")
    room = replay.room
    asker = UserFactory(display_name="Ana")
    Question.objects.create(
        room=room,
        asker=asker,
        text="Which amplifier do you use for the bass?",
        state=Question.State.ANSWERED,
        answered_at=room.started_at + timedelta(seconds=90),
    )
    Question.objects.create(
        room=room, asker=asker, text="Is the amplifier loud?", state=Question.State.WITHDRAWN
    )
    Question.objects.create(room=room, asker=asker, text="Any amplifier tips?", state=Question.State.OPEN)
    return replay


def test_the_replay_is_found_by_its_answered_question(answered):
    matches = transcript_search(query="amplifier bass", viewer=AnonymousUser())
    assert [(m.recording_id, m.room_title, m.start_ms) for m in matches] == [
        (answered.pk, "Gear talk", 90_000)
    ]
    assert matches[0].speaker_name == "question from Ana"
    assert "<b>" in matches[0].snippet  # the words found are marked


def test_withdrawn_and_unanswered_questions_find_nothing(answered):
    assert [m.text for m in transcript_search(query="amplifier", viewer=AnonymousUser())] == [
        "Which amplifier do you use for the bass?"
    ]


def test_a_replay_the_viewer_may_not_play_is_not_found_by_its_questions(answered):
    answered.room.allow_anonymous = False
    answered.room.save(update_fields=["allow_anonymous"])
    assert transcript_search(query="amplifier", viewer=AnonymousUser()) == []
    assert len(transcript_search(query="amplifier", viewer=UserFactory())) == 1


def test_the_search_page_links_to_the_moment(client, answered):
    html = main_html(client.get(reverse("rooms:search"), {"q": "amplifier"}))
    assert f'href="{reverse("recordings:detail", args=[answered.pk])}?t=90"' in html
    assert "at 1:30 · question from Ana" in html
