"""The host's analytics in a real browser: the live room's sparkline moves when a listener comes in,
and the room's report renders its chart and tables, with no Content-Security-Policy violation."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from rooms.analytics import collect
from rooms.analytics.services import analytics_flush
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.browser

WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective));
"""


def test_the_sparkline_moves_while_live_and_the_report_renders(browser, asgi_live_server):
    host = UserFactory(display_name="Hana Host")
    started = (timezone.now() - timedelta(minutes=4)).replace(second=0, microsecond=0)
    room = RoomFactory(host=host, title="Reach test", started_at=started)
    collect.get_buffer().take()
    t0 = room.started_at.timestamp()
    for key, joined, left in (("early", 0, 2), ("stays", 1, None)):
        collect.session_started(
            room_id=room.pk,
            session=key,
            user_id=None,
            on_stage=False,
            route="hls",
            source="home",
            at=t0 + joined * 60,
        )
        if left is not None:
            collect.session_ended(room_id=room.pk, session=key, at=t0 + left * 60)
    if settings.REDIS_URL:
        # Playwright's event loop runs in this thread, so the buffer's push would wait for it: now.
        collect.get_buffer().push_sync()
    assert analytics_flush() == 3

    contexts = []
    try:
        host_context = browser.new_context(viewport={"width": 1200, "height": 900})
        contexts.append(host_context)
        asgi_live_server.sign_in(host_context, host)
        host_page = host_context.new_page()
        host_page.add_init_script(WATCH)
        host_page.goto(f"{asgi_live_server.url}/rooms/{room.pk}/")
        sparkline = host_page.get_by_test_id("sparkline")
        expect(sparkline).to_be_visible()
        expect(host_page.get_by_test_id("listener-count")).to_have_text("0")
        before = sparkline.get_attribute("data-values")
        assert before.endswith("1")  # the session still open, from the flushed rows
        points_before = sparkline.locator("polyline").get_attribute("points")

        # Two listeners come in: the live count the page shows goes past the flushed figure.
        for name in ("Leo Listener", "Lia Listener"):
            listener_context = browser.new_context()
            contexts.append(listener_context)
            asgi_live_server.sign_in(listener_context, UserFactory(display_name=name))
            listener_context.new_page().goto(f"{asgi_live_server.url}/rooms/{room.pk}/?src=search")
        expect(host_page.get_by_test_id("listener-count")).to_have_text("2")
        # The current minute's point is the most listeners seen at once in it.
        expect(sparkline).to_have_attribute("data-values", re.compile(r"(^|,)2$"))
        expect(sparkline).to_contain_text("Listeners over the last 10 minutes")
        assert sparkline.locator("polyline").get_attribute("points") != points_before

        host_page.get_by_test_id("analytics-link").click()
        expect(host_page.get_by_role("heading", name="Analytics")).to_be_visible()
        expect(host_page.get_by_test_id("stat-peak")).to_have_text("2")
        expect(host_page.get_by_test_id("listeners-line")).to_be_attached()
        rows = host_page.get_by_test_id("listeners-table").locator("tbody tr")
        expect(rows.first.locator("td").first).to_have_text("1")
        assert rows.count() >= 5
        expect(host_page.get_by_test_id("sources-table")).to_contain_text("Home")
        assert host_page.evaluate("window.__csp") == []
    finally:
        for context in contexts:
            context.close()
