"""The smaller things of issue 28 (item 8) as a person sees them, measured in Chromium at 1280 x 900 and
390 x 844: search results clear of the search box and of each other (and an answered question's text
finding its replay), the profile's tabs clear of the card above, the header's live-avatar letters
centred, a failed account deletion's error a line under its box (not a bullet), the ended page's "Ran …"
said once; and the time zone guessed from the browser at sign-up (item 7)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import User
from rooms.models import Question
from tests.factories import ReplayFactory, RoomFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
# The least room between two things that must not touch, in CSS pixels (8 px reads as touching).
CLEAR = 12


def box(locator) -> dict:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not shown"
    return found


def gap(upper, lower) -> float:
    """How far `lower`'s top is below `upper`'s bottom."""
    above, below = box(upper), box(lower)
    return below["y"] - (above["y"] + above["height"])


@pytest.fixture(params=sorted(SIZES))
def page_at(request, browser):
    """A page at one of the two sizes, signed in as `user` if given."""

    def make(server, user=None, **options):
        context = browser.new_context(viewport=SIZES[request.param], **options)
        if user is not None:
            server.sign_in(context, user)
        return context.new_page()

    make.size = request.param
    return make


def test_search_results_stand_clear_of_the_box_and_of_each_other(page_at, asgi_live_server):
    RoomFactory(title="Amplifier night")
    RoomFactory(title="Amplifier morning")
    for title in ("Gear talk", "Bass clinic"):
        replay = ReplayFactory(room__title=title)
        Question.objects.create(
            room=replay.room,
            asker=UserFactory(display_name="Ana"),
            text=f"Which amplifier do you use in {title}?",
            state=Question.State.ANSWERED,
            answered_at=replay.room.started_at + timedelta(seconds=90),
        )
    page = page_at(asgi_live_server)
    page.goto(f"{asgi_live_server.url}/rooms/search/?q=amplifier")

    cards = page.locator(".room-grid .room-card")
    expect(cards).to_have_count(2)
    assert gap(page.locator(".search-form"), cards.first) >= CLEAR
    first, second = box(cards.nth(0)), box(cards.nth(1))
    if page_at.size == "phone":  # one column
        assert second["y"] - (first["y"] + first["height"]) >= CLEAR
    else:
        assert second["x"] - (first["x"] + first["width"]) >= CLEAR
    assert gap(page.locator(".room-grid"), page.locator(".said-in-replays")) >= CLEAR
    # An answered question's text finds its replay; the results do not touch each other.
    said = page.get_by_test_id("said-results").locator(":scope > li")
    expect(said).to_have_count(2)
    expect(page.get_by_test_id("said-results")).to_contain_text("question from Ana")
    assert gap(said.nth(0).locator(".search-snippet"), said.nth(1).get_by_test_id("said-link")) >= CLEAR


def test_the_profile_tabs_stand_clear_of_the_card_above(page_at, asgi_live_server):
    person = UserFactory(display_name="Rosa Park", bio="Records birdsong at dawn.")
    page = page_at(asgi_live_server, UserFactory())
    page.goto(f"{asgi_live_server.url}/@{person.handle}")
    assert gap(page.locator(".profile-card"), page.locator(".profile-tabs")) >= CLEAR


def test_the_letters_of_the_headers_live_avatars_are_centred(page_at, asgi_live_server):
    host = UserFactory(display_name="Wren Adler")
    RoomFactory(host=host, title="Morning birds")
    page = page_at(asgi_live_server)
    page.goto(f"{asgi_live_server.url}/")
    letter = page.get_by_test_id(f"live-avatar-{host.pk}").locator(".avatar-initial")
    expect(letter).to_have_text("W")
    # The glyph's box (a Range over the letter) has the circle's centre.
    dx, dy = letter.evaluate(
        """el => {
            const circle = el.getBoundingClientRect();
            const range = document.createRange();
            range.selectNodeContents(el);
            const glyph = range.getBoundingClientRect();
            return [
                (glyph.left + glyph.right - circle.left - circle.right) / 2,
                (glyph.top + glyph.bottom - circle.top - circle.bottom) / 2,
            ];
        }"""
    )
    assert abs(dx) <= 1.5 and abs(dy) <= 1.5, (dx, dy)


def test_a_failed_account_deletion_says_why_in_a_line_under_its_box(page_at, asgi_live_server):
    person = UserFactory()
    person.set_password("a-long-and-unusual-password")
    person.save()
    page = page_at(asgi_live_server, person)
    page.goto(f"{asgi_live_server.url}/settings/account/")
    form = page.locator(".danger-zone form")
    form.locator("input[type=password]").fill("a-long-and-unusual-password")
    form.get_by_role("button", name="Delete my account").click()  # the box left unticked

    error = page.get_by_test_id("delete-confirm-error")
    expect(error).to_be_visible()
    assert User.objects.filter(pk=person.pk).exists()
    # A line of text, not a list item: no bullet, no list around it.
    assert error.evaluate("el => getComputedStyle(el).display") != "list-item"
    expect(page.locator(".danger-zone li")).to_have_count(0)
    # Under the box, at the box's left edge, named by it.
    checkbox = form.locator("input[type=checkbox]")
    assert box(error)["y"] >= box(checkbox)["y"] + box(checkbox)["height"]
    assert abs(box(error)["x"] - box(checkbox)["x"]) <= CLEAR
    expect(checkbox).to_have_attribute("aria-describedby", error.get_attribute("id"))


def test_the_ended_page_says_how_long_it_ran_once_for_the_host(page_at, asgi_live_server):
    host = UserFactory()
    room = RoomFactory(
        host=host,
        state="ended",
        started_at=timezone.now() - timedelta(minutes=47),
        ended_at=timezone.now(),
    )
    page = page_at(asgi_live_server, host)
    page.goto(f"{asgi_live_server.url}/rooms/{room.pk}/")
    expect(page.get_by_text("47 min")).to_have_count(1)
    expect(page.locator("main")).to_contain_text("Ran ")
    assert page.locator("main").inner_text().count("Ran ") == 1


def test_sign_up_takes_the_browsers_time_zone(page_at, asgi_live_server):
    page = page_at(asgi_live_server, timezone_id="America/Bogota")
    page.goto(f"{asgi_live_server.url}/accounts/signup/")
    expect(page.locator("input[data-browser-time-zone]")).to_have_value("America/Bogota")
    page.fill('input[name="email"]', "zone@example.com")
    page.fill('input[name="username"]', "zoned")
    page.fill('input[name="password1"]', "a-long-and-unusual-password")
    page.fill('input[name="password2"]', "a-long-and-unusual-password")
    page.get_by_role("button", name="Sign Up").click()
    expect(page.locator(".nav-handle")).to_have_text("@zoned")
    assert User.objects.get(handle="zoned").time_zone == "America/Bogota"
