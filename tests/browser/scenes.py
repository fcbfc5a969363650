"""Scenes several browser tests open: the data behind a page, and the page itself."""

from django.utils import timezone
from playwright.sync_api import expect

from rooms.models import Question
from tests.factories import RoomFactory


def busy_qa_room(*, host, asker, other_asker, open_asker=None):
    """A live room with captions and Q&A on: one question answered (by `asker`), one being answered
    (by `other_asker`), one open (by `open_asker`, else `asker`). Returns the room and the question being answered."""
    room = RoomFactory(
        host=host,
        title="Live Q&A: building audio rooms",
        description="Ask us anything about running live audio on your own server.",
        captions_enabled=True,
        qa_enabled=True,
    )
    Question.objects.create(
        room=room,
        asker=asker,
        text="Is there a mobile app?",
        state=Question.State.ANSWERED,
        answered_at=timezone.now(),
    )
    answering = Question.objects.create(
        room=room,
        asker=other_asker,
        text="How many listeners fit on one small server?",
        state=Question.State.ANSWERING,
        answered_at=timezone.now(),
    )
    Question.objects.create(room=room, asker=open_asker or asker, text="Do replays keep the captions?")
    return room, answering


def open_room(browser, server, who, room, viewport):
    """`who`'s page of the room at `viewport`, once in the room (its socket's snapshot shows the bar)."""
    context = browser.new_context(viewport=viewport)
    server.sign_in(context, who)
    page = context.new_page()
    page.goto(f"{server.url}/rooms/{room.pk}/")
    expect(page.locator("[data-controls]")).to_be_visible()
    return page
