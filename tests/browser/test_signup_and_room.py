import re

import pytest
from playwright.sync_api import expect

from rooms.models import Room

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("transactional_db")]


def test_sign_up_start_a_room_and_find_it(live_server, page):
    page.goto(f"{live_server.url}/accounts/signup/")
    page.fill('input[name="email"]', "newcomer@example.com")
    page.fill('input[name="username"]', "newcomer")
    page.fill('input[name="password1"]', "a-long-and-unusual-password")
    page.fill('input[name="password2"]', "a-long-and-unusual-password")
    page.get_by_role("button", name="Sign Up").click()
    expect(page.locator(".nav-handle")).to_have_text("@newcomer")

    page.goto(f"{live_server.url}/rooms/new/")
    title = page.locator('input[name="title"]')
    title.fill("Birdsong at dawn")
    expect(page.locator("#title-counter")).to_contain_text("16")
    page.fill('input[name="topics"]', "Birds, Nature")
    page.locator("form button[type=submit]", has_text="Create room").click()

    expect(page.locator("h1#room-title")).to_have_text("Birdsong at dawn")
    room = Room.objects.get(title="Birdsong at dawn")
    assert page.url == f"{live_server.url}/rooms/{room.pk}/"
    expect(page.locator(".room-head .topics")).to_contain_text("#Birds")
    expect(page.locator(".room-head .topics")).to_contain_text("#Nature")

    page.goto(live_server.url + "/")
    card = page.locator(".room-card", has_text="Birdsong at dawn")
    expect(card).to_be_visible()
    expect(card.locator(".pill-live")).to_be_visible()

    page.fill("#site-search-q", "#nature")
    page.press("#site-search-q", "Enter")
    expect(page).to_have_url(re.compile(r"/rooms/search/\?q=%23nature"))
    result = page.locator(".room-card", has_text="Birdsong at dawn")
    expect(result).to_be_visible()

    result.get_by_role("link", name="Birdsong at dawn").click()
    expect(page.locator("h1#room-title")).to_have_text("Birdsong at dawn")
    expect(page.locator(".room-head .topics a")).to_have_text(["#Birds", "#Nature"])
    expect(page.locator("#live-room")).to_have_attribute("data-room-id", str(room.pk))
