"""Finding rooms and replays as a person does: the header's live row and the Replays row and tab."""

import re

import pytest
from playwright.sync_api import expect

from accounts.services import follow_create
from rooms import services as room_services
from rooms.models import Participant
from tests.factories import ReplayFactory, RoomFactory, UserFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def open_page(browser, asgi_live_server):
    """Open `path` as `user` (None: a visitor), recording every answer of 400 or more."""
    contexts = []

    def open_as(user, path="/"):
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        contexts.append(context)
        if user is not None:
            asgi_live_server.sign_in(context, user)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.failed = []
        page.on("response", lambda r: r.status >= 400 and page.failed.append(f"{r.status} {r.url}"))
        page.goto(f"{asgi_live_server.url}{path}")
        return page

    yield open_as
    for context in contexts:
        context.close()


def test_the_header_shows_who_you_follow_going_live_and_one_click_joins(open_page, asgi_live_server):
    viewer = UserFactory(display_name="Vera Viewer")
    hana = UserFactory(display_name="Hana Host")
    follow_create(follower=viewer, followee=hana)
    page = open_page(viewer)
    bar = page.get_by_test_id("live-bar")
    expect(bar).to_be_hidden()
    # The icons were there: no 404 for /favicon.ico or anything else on the way.
    assert page.failed == []
    assert page.evaluate("fetch('/favicon.ico').then(r => r.status)") == 200

    room = room_services.room_create(host=hana, title="Breakfast radio")
    avatar = page.get_by_role("link", name="Hana Host is live: Breakfast radio")
    expect(avatar).to_be_visible()  # no reload: the row refreshes itself
    expect(bar).to_be_visible()
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

    # A speaker in someone else's room counts too; past five, a "+N".
    others = RoomFactory(title="Panel")
    for n in range(5):
        person = UserFactory(display_name=f"Friend {n}")
        follow_create(follower=viewer, followee=person)
        Participant.objects.create(room=others, user=person, role=Participant.Role.SPEAKER)
    expect(page.get_by_test_id("live-more")).to_have_text("+1")
    expect(bar.locator(".live-avatar")).to_have_count(5)
    expect(avatar).to_be_visible()  # hosts first

    avatar.click()
    expect(page).to_have_url(f"{asgi_live_server.url}/rooms/{room.pk}/")
    expect(page.locator("h1#room-title")).to_have_text("Breakfast radio")


def test_signed_out_visitors_see_the_most_popular_live_rooms_up_top(open_page):
    busy = RoomFactory(title="Busy room", host=UserFactory(display_name="Popular Host"))
    for _ in range(3):
        Participant.objects.create(room=busy, user=UserFactory())
    RoomFactory(title="Quiet room", host=UserFactory(display_name="Quiet Host"))
    page = open_page(None)
    links = page.get_by_test_id("live-bar").locator(".live-avatar")
    expect(links).to_have_count(2)
    expect(links.first).to_have_attribute("aria-label", "Popular Host is live: Busy room")
    assert page.failed == []


def test_replays_are_found_on_the_home_page_and_on_profiles(open_page):
    viewer = UserFactory()
    ada = UserFactory(display_name="Ada Lovelace", handle="ada")
    follow_create(follower=viewer, followee=ada)
    ReplayFactory(room__host=ada, room__title="Engines, a replay", play_count=2)
    favourite = ReplayFactory(room__title="Everyone's favourite", play_count=40)
    RoomFactory(title="On air now")
    page = open_page(viewer)

    row = page.get_by_test_id("replays-row")
    expect(row.get_by_role("heading", name="Replays")).to_be_visible()
    expect(row.locator(".replay-card h3")).to_have_text(["Engines, a replay", "Everyone's favourite"])
    expect(row.locator(".replay-card").nth(1)).to_contain_text("40 plays")
    row.get_by_role("link", name="Everyone's favourite").click()
    expect(page).to_have_url(re.compile(rf"/recordings/{favourite.pk}/$"))
    expect(page.locator("#replay-title")).to_have_text("Everyone's favourite")

    page.goto(page.url.split("/recordings/")[0] + "/@ada/")
    tab = page.get_by_role("navigation", name="@ada's rooms and replays").get_by_role("link", name="Replays")
    tab.click()
    expect(tab).to_have_attribute("aria-current", "page")
    expect(page.locator("main .replay-card h3")).to_have_text(["Engines, a replay"])
