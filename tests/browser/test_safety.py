"""Safety and privacy as a person meets them in the browser."""

import zipfile

import pytest
from playwright.sync_api import expect

from accounts.models import User
from accounts.services import block_create
from moderation.models import AuditLogEntry
from moderation.services import report_create
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.browser


def test_a_blocked_person_following_the_blockers_room_link_is_refused(browser, asgi_live_server):
    room = RoomFactory(title="Not for you")
    blocked = UserFactory()
    block_create(blocker=room.host, blocked=blocked)
    context = browser.new_context()
    asgi_live_server.sign_in(context, blocked)
    page = context.new_page()
    response = page.goto(f"{asgi_live_server.url}/rooms/{room.pk}/")
    assert response.status == 404
    expect(page.get_by_text("Not for you")).to_have_count(0)
    # The room does not show up on their home page either.
    page.goto(asgi_live_server.url + "/")
    expect(page.get_by_text("Not for you")).to_have_count(0)
    context.close()


def test_a_person_exports_their_data_and_downloads_the_archive(browser, asgi_live_server, tmp_path):
    person = UserFactory(bio="Birds, mostly.")
    RoomFactory(host=person, title="Dawn chorus")
    context = browser.new_context(accept_downloads=True)
    asgi_live_server.sign_in(context, person)
    page = context.new_page()
    page.goto(f"{asgi_live_server.url}/@{person.handle}/")
    page.get_by_role("link", name="Account and data").click()
    page.get_by_role("button", name="Request your archive").click()
    # Built by Celery (in-process without a broker); the page follows its progress, then offers it.
    download_link = page.get_by_test_id("export-download")
    expect(download_link).to_be_visible(timeout=20_000)
    with page.expect_download() as waiting:
        download_link.click()
    path = tmp_path / "archive.zip"
    waiting.value.save_as(path)
    with zipfile.ZipFile(path) as archive:
        assert "Birds, mostly." in archive.read("profile.json").decode()
        assert "Dawn chorus" in archive.read("rooms/hosted.json").decode()
    context.close()


def test_a_moderator_suspends_a_host_from_admin_and_the_listeners_page_shows_the_room_ended(
    browser, asgi_live_server, moderators_group
):
    host = UserFactory(display_name="Loud Host")
    room = RoomFactory(host=host, title="Shouting hour")
    listener = UserFactory()
    report = report_create(
        reporter=listener, target_type="room", target_id=room.pk, reason="harassment", note=""
    )
    moderator = UserFactory(is_staff=True)
    moderator.groups.add(moderators_group)

    listener_context = browser.new_context()
    asgi_live_server.sign_in(listener_context, listener)
    listener_page = listener_context.new_page()
    listener_page.goto(f"{asgi_live_server.url}/rooms/{room.pk}/")
    expect(listener_page.get_by_test_id("listener-count")).to_have_text("1")

    moderator_context = browser.new_context()
    asgi_live_server.sign_in(moderator_context, moderator)
    admin = moderator_context.new_page()
    admin.goto(f"{asgi_live_server.url}/admin/moderation/report/")
    admin.locator(f'input[name="_selected_action"][value="{report.pk}"]').check()
    admin.select_option('select[name="action"]', "suspend_reported_user")
    admin.get_by_role("button", name="Go").click()
    admin.get_by_label("Reason").fill("Harassing the audience")
    admin.get_by_role("button", name="Suspend").click()
    expect(admin.locator(".messagelist")).to_contain_text("suspended")

    expect(listener_page.get_by_test_id("room-ended")).to_contain_text("This room has ended", timeout=5_000)
    assert User.objects.get(pk=host.pk).is_suspended
    assert AuditLogEntry.objects.filter(action="user_suspended", actor=moderator).exists()
    listener_context.close()
    moderator_context.close()
