"""A host who sells tickets from the start, in real browsers against daphne (issue 28, items 4 and
6): the "Start a room" form puts the scheduled room on sale, a sale's notice reaches the host's open
page without a reload, and opening the list clears the badge on every page the host has open."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from rooms.models import Room
from tests.factories import UserFactory

pytestmark = pytest.mark.browser

CHANNEL_OPEN = "html[data-user-channel=open]"


@pytest.fixture(
    params=[{"width": 1280, "height": 900}, {"width": 390, "height": 844}], ids=["desktop", "phone"]
)
def person_context(request, browser, asgi_live_server):
    """A browser context signed in as `user` (their cookies and sockets), at 1280 x 900 or at 390 x 844;
    all closed at the end."""
    contexts = []

    def context_for(user):
        context = browser.new_context(viewport=request.param)
        contexts.append(context)
        asgi_live_server.sign_in(context, user)
        return context

    yield context_for
    for context in contexts:
        context.close()


def open_tab(context, url):
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(url)
    return page


def test_a_sale_reaches_the_hosts_page_and_opening_the_list_clears_the_badge(
    person_context, asgi_live_server
):
    host = UserFactory(display_name="Hana Host")
    ana, ben = UserFactory(display_name="Ana"), UserFactory(display_name="Ben")
    host_context = person_context(host)

    # The host schedules the room and puts it on sale from the same form.
    form = open_tab(host_context, f"{asgi_live_server.url}/rooms/new/")
    expect(form.get_by_label("Ticket price (USD)")).to_be_hidden()  # only with "Schedule for later"
    form.get_by_label("Title (at most 70 characters)").fill("Jazz night")
    form.get_by_label("Schedule for later").check()
    starts = timezone.localtime(timezone.now() + timedelta(days=1), timezone.get_fixed_timezone(0))
    form.get_by_label("Starts at").fill(starts.strftime("%Y-%m-%dT%H:%M"))
    form.get_by_label("Ticket price (USD)").fill("10")
    form.get_by_label("Seats").fill("20")
    form.get_by_role("button", name="Create room").click()
    expect(
        form.get_by_text("Your room is scheduled, with tickets on sale: $10.00, 20 seats.")
    ).to_be_visible()
    room = Room.objects.get(host=host)
    assert (room.ticket_price, room.ticket_capacity) == (1000, 20)

    # The host's room page stays open; Ana buys a ticket.
    room_page = form
    badge = room_page.get_by_test_id("unread-count")
    expect(room_page.locator(CHANNEL_OPEN)).to_have_count(1)
    expect(badge).to_be_hidden()
    buyer = open_tab(person_context(ana), f"{asgi_live_server.url}/rooms/{room.pk}/")
    buyer.get_by_test_id("get-ticket").click()
    expect(buyer.get_by_test_id("ticket-status")).to_have_text("Paid")

    expect(badge).to_have_text("1")  # on the host's page, which did not reload
    expect(badge).to_be_visible()

    # The host opens the list in another tab: the notice is there, new, and the badge clears there
    # and on the room page.
    notices = open_tab(host_context, f"{asgi_live_server.url}/notifications/")
    sale = notices.locator(".notification").filter(
        has_text="Ana bought a ticket to Jazz night — 1 sold, $10.00"
    )
    expect(sale).to_have_count(1)
    expect(sale.locator(".pill")).to_have_text("New")
    expect(notices.get_by_test_id("unread-count")).to_be_hidden()
    expect(badge).to_be_hidden()
    expect(notices.locator(CHANNEL_OPEN)).to_have_count(1)

    # A sale while the list is open appears on it and is seen there: no badge anywhere.
    def seen(response):
        return response.url.endswith("/notifications/seen/") and response.request.method == "POST"

    with notices.expect_response(seen) as answer:
        buyer = open_tab(person_context(ben), f"{asgi_live_server.url}/rooms/{room.pk}/")
        buyer.get_by_test_id("get-ticket").click()
    assert answer.value.json() == {"ok": True, "unread_count": 0}
    latest = notices.locator(".notification").first
    expect(latest).to_contain_text("Ben bought a ticket to Jazz night — 2 sold, $20.00")
    expect(latest.locator(".pill")).to_have_text("New")
    expect(notices.get_by_test_id("unread-count")).to_be_hidden()
    room_page.reload()
    expect(room_page.get_by_test_id("unread-count")).to_be_hidden()
