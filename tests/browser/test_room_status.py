"""A room's status changes reach every open page of it without a reload (issue 28, item 1): the host's
page and a listener's, one at 1280 x 900 and the other at 390 x 844 (then the other way round), follow
it from scheduled to the backstage, live and ended, and after each change show that status's parts and
none of the one before."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from rooms import services
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

# What each status shows, by data-testid, on the host's page and on a listener's.
HOST_PARTS = {
    "scheduled": [
        "room-starts",
        "reminder-count",
        "open-backstage",
        "start-now",
        "cancel-room",
        "ticket-sales-form",
        "not-started",
    ],
    "backstage": [
        "room-starts",
        "reminder-count",
        "cancel-room",
        "ticket-sales-form",
        "backstage-banner",
        "go-live",
        "mic-toggle",
    ],
    "live": ["room-when", "end-room", "mic-toggle"],
    "ended": ["room-ended", "room-when"],
}
LISTENER_PARTS = {
    "scheduled": ["room-starts", "reminder-row", "not-started"],
    "backstage": ["room-starts", "reminder-row", "starting-soon"],
    "live": ["room-when", "raise-hand"],
    "ended": ["room-ended", "room-when"],
}
PILL = {"scheduled": "Scheduled", "backstage": "Starting soon", "live": "LIVE", "ended": "Ended"}


def shows_only(page, parts: dict[str, list[str]], status: str) -> None:
    """The page shows every part of `status`, and no part of another status that `status` lacks."""
    expect(page.get_by_test_id("status-pill")).to_have_text(PILL[status])
    for testid in parts[status]:
        expect(page.get_by_test_id(testid)).to_be_visible()
    others = {testid for other, ids in parts.items() if other != status for testid in ids} - set(
        parts[status]
    )
    for testid in sorted(others):
        expect(page.get_by_test_id(testid)).to_be_hidden()


@pytest.mark.parametrize(
    ("host_viewport", "listener_viewport"),
    [(DESKTOP, PHONE), (PHONE, DESKTOP)],
    ids=["host-desktop-listener-phone", "host-phone-listener-desktop"],
)
def test_backstage_live_and_end_reach_the_host_and_a_listener_without_a_reload(
    browser, asgi_live_server, host_viewport, listener_viewport
):
    host = UserFactory(display_name="Hana Host")
    listener = UserFactory(display_name="Leo Listener")
    room = RoomFactory(host=host, scheduled=True, scheduled_for=timezone.now() + timedelta(minutes=10))
    pages = {}
    for who, viewport in ((host, host_viewport), (listener, listener_viewport)):
        context = browser.new_context(viewport=viewport)
        asgi_live_server.sign_in(context, who)
        page = context.new_page()
        page.goto(f"{asgi_live_server.url}/rooms/{room.pk}/")
        pages[who] = page
    host_page, listener_page = pages[host], pages[listener]
    shows_only(host_page, HOST_PARTS, "scheduled")
    shows_only(listener_page, LISTENER_PARTS, "scheduled")
    # The listener's page is never reloaded from here on: this mark would go with it.
    listener_page.evaluate("window.__sameDocument = true")

    host_page.get_by_test_id("open-backstage").click()  # a form: the host's page reloads
    expect(host_page.locator(".messages")).to_contain_text("The backstage is open")
    shows_only(host_page, HOST_PARTS, "backstage")
    # One "Go live" button, the backstage banner's.
    expect(host_page.get_by_role("button", name="Go live")).to_have_count(1)
    shows_only(listener_page, LISTENER_PARTS, "backstage")
    host_page.evaluate("window.__sameDocument = true")

    host_page.get_by_test_id("go-live").click()
    shows_only(host_page, HOST_PARTS, "live")
    shows_only(listener_page, LISTENER_PARTS, "live")
    # The notice of opening the backstage is gone with the backstage.
    expect(host_page.locator(".messages")).to_have_count(0)
    expect(listener_page.get_by_test_id(f"stage-member-{host.pk}")).to_be_visible()
    expect(listener_page.get_by_test_id("room-when")).to_contain_text("Live since")

    host_page.get_by_test_id("end-room").click()
    host_page.get_by_test_id("confirm-ok").click()
    shows_only(host_page, HOST_PARTS, "ended")
    shows_only(listener_page, LISTENER_PARTS, "ended")
    for page in (host_page, listener_page):
        expect(page.get_by_test_id("room-when")).to_contain_text("Ran ")
        # Said once (issue 28, item 8), the host's page too.
        assert page.locator("main").inner_text().count("Ran ") == 1
        expect(page.locator(".share")).to_be_hidden()
        assert page.evaluate("window.__sameDocument") is True
    expect(host_page.locator(".host-controls")).to_be_hidden()
    room.refresh_from_db()
    assert room.state == "ended"


def test_a_cancelled_room_turns_cancelled_on_an_open_page(browser, asgi_live_server):
    room = RoomFactory(scheduled=True)
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{asgi_live_server.url}/rooms/{room.pk}/")
    expect(page.get_by_test_id("not-started")).to_be_visible()
    page.wait_for_function("() => document.querySelector('[data-room-status]')")
    services.room_cancel(room=room, actor=room.host)
    expect(page.get_by_test_id("room-cancelled")).to_contain_text("This room was cancelled")
    expect(page.get_by_test_id("status-pill")).to_have_text("Cancelled")
    for testid in ("room-starts", "reminder-row", "not-started"):
        expect(page.get_by_test_id(testid)).to_be_hidden()


def test_a_page_that_missed_the_room_going_live_says_since_when(browser, asgi_live_server):
    """The page was away (its socket down) when the room went live, so it never got room.status with
    the time: the snapshot on reconnecting carries it, and "Live since …" is filled in, not blank."""
    room = RoomFactory(scheduled=True, scheduled_for=timezone.now() + timedelta(minutes=10))
    context = browser.new_context(viewport=PHONE)
    asgi_live_server.sign_in(context, UserFactory(display_name="Leo Listener"))
    page = context.new_page()
    page.goto(f"{asgi_live_server.url}/rooms/{room.pk}/")
    shows_only(page, LISTENER_PARTS, "scheduled")
    page.evaluate("window.__sameDocument = true")

    asgi_live_server.stop()
    # The socket is down and the page tries again (its banner, inside the live part, is not shown yet).
    page.wait_for_function("() => !document.querySelector('[data-testid=reconnecting]').hidden")
    services.room_start(room=room, actor=room.host)
    room.refresh_from_db()
    asgi_live_server.start()

    shows_only(page, LISTENER_PARTS, "live")
    since = page.get_by_test_id("room-when").locator("time")
    expect(since).to_have_attribute("datetime", room.started_at.isoformat())
    expect(since).not_to_be_empty()
    assert page.evaluate("window.__sameDocument") is True
