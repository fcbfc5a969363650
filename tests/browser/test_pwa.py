"""Spaces installs on a phone: in Chromium at 390 x 844 with touch, the manifest is valid, the service
worker registers with scope / and controls the page, a page that cannot be loaded shows the offline
page, and the worker keeps nothing but that page and its files (never a page that needs a session).
Pushes and notification clicks are tested against the server in tests/accounts/test_push.py: headless
Chromium has no push service to subscribe with."""

import pytest
from playwright.sync_api import expect

from tests.factories import UserFactory

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}

CACHED = """async () => {
  const urls = [];
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    for (const request of await cache.keys()) urls.push(new URL(request.url).pathname);
  }
  return urls.sort();
}"""


def test_the_app_installs_works_offline_and_keeps_no_private_page(browser, asgi_live_server):
    base = asgi_live_server.url
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True, device_scale_factor=2)
    asgi_live_server.sign_in(context, UserFactory(handle="phoneperson"))
    page = context.new_page()
    try:
        page.goto(f"{base}/")
        manifest_url = page.locator("link[rel=manifest]").get_attribute("href")
        manifest = page.evaluate("async (url) => (await fetch(url)).json()", manifest_url)
        assert (manifest["name"], manifest["display"], manifest["scope"]) == ("Spaces", "standalone", "/")
        for icon in manifest["icons"]:
            size = page.evaluate(
                """async (src) => {
                  const image = new Image();
                  image.src = src;
                  await image.decode();
                  return `${image.naturalWidth}x${image.naturalHeight}`;
                }""",
                icon["src"],
            )
            assert size == icon["sizes"]

        page.wait_for_function("navigator.serviceWorker.controller !== null")
        scope = page.evaluate("(async () => (await navigator.serviceWorker.ready).scope)()")
        assert scope == f"{base}/"
        assert page.evaluate("navigator.serviceWorker.controller.scriptURL") == f"{base}/sw.js"

        # Signed-in pages went through the worker; it kept only the offline page and its files.
        page.goto(f"{base}/settings/notifications/")
        cached = page.evaluate(CACHED)
        assert "/offline/" in cached
        assert all(url == "/offline/" or url.startswith("/static/") for url in cached), cached

        context.set_offline(True)
        page.goto(f"{base}/rooms/search/?q=anything")
        expect(page.get_by_test_id("offline")).to_be_visible()
        expect(page.get_by_role("heading", name="You are offline")).to_be_visible()
        context.set_offline(False)
        page.goto(f"{base}/settings/notifications/")
        expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
        expect(page.get_by_test_id("push-settings")).to_be_visible()
    finally:
        context.close()
