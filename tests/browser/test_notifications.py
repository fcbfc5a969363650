"""Reminders and invitations in real browsers, against daphne: the host's reminder count and the
invited person's unread badge change without a reload, opening the list clears the badge, and the
notification's link opens the room."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from rooms import services
from tests.factories import UserFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def open_page(browser, asgi_live_server):
    """Open `path` as `user`, each person in a browser context (cookies, sockets) of their own."""
    contexts = []

    def open_as(user, path):
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        contexts.append(context)
        asgi_live_server.sign_in(context, user)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{asgi_live_server.url}{path}")
        return page

    yield open_as
    for context in contexts:
        context.close()


def test_reminder_count_and_invitation_arrive_live(open_page):
    host = UserFactory(display_name="Hana Host")
    leo = UserFactory(display_name="Leo Listener")
    mia = UserFactory(display_name="Mia Invitee")
    room = services.room_create(
        host=host, title="Tea and tech", start_now=False, scheduled_for=timezone.now() + timedelta(days=1)
    )
    room_path = f"/rooms/{room.pk}/"

    host_page = open_page(host, room_path)
    count = host_page.get_by_test_id("reminder-count")
    expect(count).to_have_text("0")
    channel_open = "html[data-user-channel=open]"
    expect(host_page.locator(channel_open)).to_have_count(1)

    listener_page = open_page(leo, room_path)
    listener_page.get_by_role("button", name="Set reminder").click()
    expect(listener_page.get_by_test_id("reminder-set")).to_be_visible()
    expect(count).to_have_text("1")  # on the host's page, which did not reload
    expect(host_page.locator("[data-reminder-label]")).to_have_text("person has")

    mia_page = open_page(mia, "/")
    badge = mia_page.get_by_test_id("unread-count")
    expect(badge).to_be_hidden()
    expect(mia_page.locator(channel_open)).to_have_count(1)  # its socket is up before the invitation

    host_page.get_by_label("Their @handle").fill(f"@{mia.handle}")
    host_page.get_by_role("button", name="Invite", exact=True).click()
    expect(host_page.locator("[data-invite-status]")).to_have_text(
        f"Invited @{mia.handle}: they will get a notification with the link."
    )
    expect(host_page.locator("[data-invitees]")).to_contain_text(f"@{mia.handle}")

    expect(badge).to_be_visible()
    expect(badge).to_have_text("1")
    # Opening the list reads what it shows: the invitation is new there, and the badge clears.
    mia_page.locator("[data-unread-link]").click()
    expect(mia_page.locator(".notification-unread")).to_have_count(1)
    expect(mia_page.get_by_test_id("unread-count")).to_be_hidden()
    invitation = mia_page.get_by_role("link", name="Hana Host invited you to Tea and tech")
    expect(invitation).to_be_visible()
    invitation.click()
    expect(mia_page).to_have_url(f"{host_page.url.split('/rooms/')[0]}{room_path}")
    expect(mia_page.get_by_role("heading", name="Tea and tech")).to_be_visible()
    expect(mia_page.get_by_role("button", name="Set reminder")).to_be_visible()
