"""Every page a person can reach works under the Content-Security-Policy, with no violation.

A violation shows in two places: the `securitypolicyviolation` event (caught by an init script) and
the console. Either fails the test. The live room is exercised with its socket and the microphone
(AudioWorklet modules, WebCodecs), the data export with its polling script.
"""

import pytest
from playwright.sync_api import expect

from accounts.models import DataExport
from accounts.services import follow_create, notify
from moderation.models import Report
from recordings.services import RecordingFiles
from tests.factories import RecordingFactory, RoomFactory, UserFactory

pytestmark = pytest.mark.browser

WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


class Watcher:
    def __init__(self, page) -> None:
        self.page = page
        self.console: list[str] = []
        page.add_init_script(WATCH)
        page.on(
            "console",
            lambda message: (
                self.console.append(message.text)
                if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text
                else None
            ),
        )

    def visit(self, url: str) -> list[str]:
        response = self.page.goto(url)
        assert response is not None and response.status < 400, f"{url}: {response and response.status}"
        assert "nonce-" in response.headers.get("content-security-policy", ""), url
        self.page.wait_for_load_state("load")
        return self.violations(url)

    def violations(self, where: str) -> list[str]:
        found = [f"{where}: {v}" for v in self.page.evaluate("window.__csp || []")]
        found += [f"{where}: {text}" for text in self.console]
        self.console.clear()
        return found


@pytest.fixture
def people(transactional_db, moderators_group):
    host = UserFactory(display_name="Hosting Hana")
    moderator = UserFactory(is_staff=True)
    moderator.groups.add(moderators_group)
    follow_create(follower=moderator, followee=host)
    notify(
        recipients=[host.pk], kind="new_follower", text="Someone followed you", url=f"/@{moderator.handle}/"
    )
    return host, moderator


def test_every_page_loads_without_a_csp_violation(browser, asgi_live_server, room_audio_mixer, people):
    host, moderator = people
    live = RoomFactory(host=host, title="CSP live room")
    scheduled = RoomFactory(host=host, scheduled=True, title="Later")
    recording = RecordingFactory(room__host=host, room__title="Replayed")
    files = RecordingFiles(recording.room_id)
    report = Report.objects.create(reporter=moderator, target_type="room", target_room=live, reason="spam")
    export = DataExport.objects.create(user=host, status="building", progress=40, step="Your rooms")
    base = asgi_live_server.url

    anonymous_pages = [
        "/",
        "/rooms/search/?q=CSP",
        f"/rooms/{live.pk}/",
        f"/rooms/{scheduled.pk}/",
        f"/@{host.handle}/",
        f"/@{host.handle}/followers/",
        f"/@{host.handle}/following/",
        "/accounts/login/",
        "/accounts/signup/",
        "/accounts/password/reset/",
    ]
    host_pages = [
        "/",
        "/rooms/new/",
        f"/rooms/{scheduled.pk}/edit/",
        f"/rooms/{scheduled.pk}/",
        "/settings/profile/",
        "/settings/account/",
        "/notifications/",
        "/settings/notifications/",
        "/accounts/password/change/",
        "/accounts/email/",
        f"/reports/new/user/{moderator.pk}/",
    ]
    moderator_pages = [
        f"/reports/new/room/{live.pk}/",
        f"/reports/new/recording/{recording.pk}/",
        "/admin/",
        "/admin/moderation/report/",
        f"/admin/moderation/report/{report.pk}/change/",
        "/admin/rooms/room/",
        f"/admin/rooms/room/{live.pk}/change/",
        "/admin/moderation/auditlogentry/",
    ]
    violations: list[str] = []
    for who, pages in [(None, anonymous_pages), (host, host_pages), (moderator, moderator_pages)]:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        if who is not None:
            asgi_live_server.sign_in(context, who)
        watcher = Watcher(context.new_page())
        for url in pages:
            violations += watcher.visit(base + url)
        context.close()

    # The replay page, with a real (if tiny) file behind the player.
    files.directory.mkdir(parents=True, exist_ok=True)
    context = browser.new_context()
    watcher = Watcher(context.new_page())
    violations += watcher.visit(f"{base}/recordings/{recording.pk}/")
    context.close()
    export.delete()

    # The live room with its socket and the microphone: the host unmutes, a listener listens.
    host_context = browser.new_context()
    asgi_live_server.sign_in(host_context, host)
    host_watch = Watcher(host_context.new_page())
    violations += host_watch.visit(f"{base}/rooms/{live.pk}/")
    mic = host_watch.page.get_by_test_id("mic-toggle")
    expect(mic).to_have_text("Unmute")
    mic.click()
    expect(mic).to_have_text("Mute")
    listener_context = browser.new_context()
    listener_watch = Watcher(listener_context.new_page())
    violations += listener_watch.visit(f"{base}/rooms/{live.pk}/")
    expect(host_watch.page.get_by_test_id("listener-count")).to_have_text("1")
    host_watch.page.wait_for_timeout(1500)
    violations += host_watch.violations("live room (host, microphone on)")
    violations += listener_watch.violations("live room (listener)")
    host_context.close()
    listener_context.close()

    assert violations == []
