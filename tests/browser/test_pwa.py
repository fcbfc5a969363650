"""Spaces installs on a phone: in Chromium at 390 x 844 with touch, the manifest is valid, the service
worker registers with scope / and controls the page, a page that cannot be loaded shows the offline
page, and the worker keeps nothing but that page and its files (never a page that needs a session).
Pushes and notification clicks are tested against the server in tests/accounts/test_push.py: headless
Chromium has no push service to subscribe with, so the settings page's test gives the browser's
PushManager a subscription of the test's own (the browser's API, not the site's code), and checks
what the page sends, the per-kind switches, and that signing out turns push off on that browser."""

import json

import pytest
from playwright.sync_api import expect

from accounts.models import PUSH_KINDS, PushSubscription
from accounts.services import push_subscription_save
from tests.accounts.push_service import Device
from tests.factories import UserFactory

from .instruments import wait_until

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


# The browser's push service, as the page sees it: PushManager hands out one subscription (what
# toJSON() gives is the test's Device), kept across pages in sessionStorage like a real one.
FAKE_PUSH_MANAGER = """
(() => {
  const device = DEVICE;
  const state = () => JSON.parse(sessionStorage.getItem("test:push") || '{"on": false, "unsubscribed": 0}');
  const save = (value) => sessionStorage.setItem("test:push", JSON.stringify(value));
  const subscription = {
    endpoint: device.endpoint,
    options: { applicationServerKey: null },
    toJSON: () => device,
    unsubscribe: async () => {
      const now = state();
      save({ on: false, unsubscribed: now.unsubscribed + 1 });
      return true;
    },
  };
  PushManager.prototype.getSubscription = async function () {
    return state().on ? subscription : null;
  };
  PushManager.prototype.subscribe = async function () {
    save({ ...state(), on: true });
    return subscription;
  };
})();
"""


def test_push_on_this_device_with_its_switches_and_off_when_the_person_signs_out(browser, asgi_live_server):
    base = asgi_live_server.url
    person = UserFactory(handle="sharedphone")
    # Another device of theirs (a laptop) that signing out on the phone must leave alone.
    laptop = Device("https://push.example.org/laptop")
    push_subscription_save(user=person, endpoint=laptop.endpoint, keys=laptop.to_json()["keys"])
    phone = Device(f"http://127.0.0.1:9/push/{person.pk}")
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True, device_scale_factor=2)
    context.grant_permissions(["notifications"], origin=base)
    context.add_init_script(FAKE_PUSH_MANAGER.replace("DEVICE", json.dumps(phone.to_json())))
    asgi_live_server.sign_in(context, person)
    page = context.new_page()
    try:
        page.goto(f"{base}/settings/notifications/")
        section = page.get_by_test_id("push-settings")
        toggle = section.get_by_test_id("push-toggle")
        expect(section).to_be_visible()
        expect(toggle).not_to_be_checked()
        switches = section.locator("input[name=push_kind]")
        expect(switches).to_have_count(len(PUSH_KINDS))

        # On for this device: the page posts the subscription, and a new device takes every kind.
        toggle.tap()
        expect(section.locator("[data-push-status]")).to_have_text("Push is on for this device.")
        expect(toggle).to_be_checked()
        saved = PushSubscription.objects.get(endpoint=phone.endpoint)
        assert (saved.user, saved.p256dh, saved.auth) == (person, phone.p256dh, phone.auth)
        assert saved.kinds == [str(kind) for kind in PUSH_KINDS]
        for i in range(len(PUSH_KINDS)):
            expect(switches.nth(i)).to_be_checked()
            expect(switches.nth(i)).to_be_enabled()

        # One kind off, for this device only; the page shows the server's answer on the next visit.
        reminders = section.locator("input[value=reminder]")
        reminders.tap()
        expect(section.locator("[data-push-status]")).to_have_text("Saved for this device.")
        saved.refresh_from_db()
        assert "reminder" not in saved.kinds and len(saved.kinds) == len(PUSH_KINDS) - 1
        page.reload()
        expect(toggle).to_be_checked()
        expect(reminders).not_to_be_checked()
        expect(section.locator("input[value=host_live]")).to_be_checked()

        # Signing out on this phone: the browser's subscription is dropped and the server forgets
        # the device, so whoever signs in here next gets none of this person's notices.
        page.get_by_test_id("menu-button").tap()
        page.locator(".site-header").get_by_role("button", name="Sign out").tap()
        expect(page.get_by_text("You have signed out.")).to_be_visible()
        assert json.loads(page.evaluate("sessionStorage.getItem('test:push')")) == {
            "on": False,
            "unsubscribed": 1,
        }
        assert list(PushSubscription.objects.values_list("endpoint", flat=True)) == [laptop.endpoint]
    finally:
        context.close()


def test_the_worker_shows_a_push_with_the_rooms_path_only(browser, asgi_live_server):
    """A push delivered to the service worker (CDP ServiceWorker.deliverPushMessage, as a push
    service would) is shown with its title, body, icon and tag; the click target it keeps is a path
    of this site, whatever origin the payload named."""
    base = asgi_live_server.url
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True, device_scale_factor=2)
    context.grant_permissions(["notifications"], origin=base)
    page = context.new_page()
    try:
        page.goto(f"{base}/")
        wait_until(page, "navigator.serviceWorker.controller !== null")
        cdp = context.new_cdp_session(page)
        registrations = []
        cdp.on(
            "ServiceWorker.workerRegistrationUpdated",
            lambda event: registrations.extend(event["registrations"]),
        )
        cdp.send("ServiceWorker.enable")
        page.wait_for_timeout(500)
        [registration] = [r for r in registrations if r["scopeURL"] == f"{base}/"]
        for url in (f"{base}/rooms/7/?src=push", "https://elsewhere.example/rooms/7/"):
            payload = {
                "title": "Grace",
                "body": "Grace is live: What is in the sky tonight",
                "url": url,
                "icon": f"{base}/static/icons/icon-192.png",
                "tag": "room-7",
            }
            cdp.send(
                "ServiceWorker.deliverPushMessage",
                {
                    "origin": base,
                    "registrationId": registration["registrationId"],
                    "data": json.dumps(payload),
                },
            )
            page.wait_for_timeout(300)
            shown = page.evaluate(
                """async () => (await (await navigator.serviceWorker.ready).getNotifications()).map(
                    (n) => ({ title: n.title, body: n.body, icon: n.icon, tag: n.tag, url: n.data.url }))"""
            )
            # One notice per room: the newer replaces the older (the same tag).
            assert shown == [
                {
                    "title": "Grace",
                    "body": "Grace is live: What is in the sky tonight",
                    "icon": f"{base}/static/icons/icon-192.png",
                    "tag": "room-7",
                    "url": "/rooms/7/?src=push" if url.startswith(base) else "/rooms/7/",
                }
            ], shown
    finally:
        context.close()
