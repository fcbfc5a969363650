"""WCAG 2.2 AA, checked with axe-core (issue 26, item 1): every page type at 1280 x 900 and at
390 x 844 has no violation of impact serious or critical.

The page types come from the URL configuration, as the IDOR matrix's routes do: a new route fails
`test_every_route_has_a_page_in_the_axe_list` until it is given a page here (with the data it needs)
or excluded with its reason. One browser, one page per size, reused across every page and every
person (its session cookie is swapped), so the check stays quick.

`AXE_FIGURES=path.json` writes what axe found on each page (rule, impact, elements) to that file:
the figures in docs/accessibility.md come from it.
"""

import json
import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import get_resolver
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Notification
from accounts.services import follow_create
from recordings.models import Clip, Recording
from recordings.services import RecordingFiles, capture_directory, clip_create_from_replay
from rooms import services as room_services
from rooms.models import Participant, Question, Room, Ticket
from tests.factories import RoomFactory, UserFactory
from tests.recordings.helpers import capture_tone
from tests.test_idor_matrix import _walk

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
BLOCKING = {"serious", "critical"}
# WCAG 2.0, 2.1 and 2.2 at levels A and AA, and axe's best practices.
AXE_OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    },
    "resultTypes": ["violations"],
}

# Each page: (label, route name, who opens it: a key of the world or None for nobody, how to build
# its path from the world). A route may have several pages (a room is live, scheduled or ended).
PAGES = [
    ("home", "home", "viewer", lambda w: "/"),
    ("home, signed out", "home", None, lambda w: "/"),
    ("offline", "offline", None, lambda w: "/offline/"),
    ("sign in", "account_login", None, lambda w: "/accounts/login/"),
    ("sign up", "account_signup", None, lambda w: "/accounts/signup/"),
    ("password reset", "account_reset_password", None, lambda w: "/accounts/password/reset/"),
    ("password reset sent", "account_reset_password_done", None, lambda w: "/accounts/password/reset/done/"),
    (
        "password reset done",
        "account_reset_password_from_key_done",
        None,
        lambda w: "/accounts/password/reset/key/done/",
    ),
    (
        "email verification sent",
        "account_email_verification_sent",
        None,
        lambda w: "/accounts/confirm-email/",
    ),
    ("account inactive", "account_inactive", None, lambda w: "/accounts/inactive/"),
    ("sign-in code", "account_confirm_login_code", None, lambda w: "/accounts/login/code/confirm/"),
    ("sign out", "account_logout", "viewer", lambda w: "/accounts/logout/"),
    ("reauthenticate", "account_reauthenticate", "viewer", lambda w: "/accounts/reauthenticate/"),
    ("email addresses", "account_email", "viewer", lambda w: "/accounts/email/"),
    ("change password", "account_change_password", "viewer", lambda w: "/accounts/password/change/"),
    ("set password", "account_set_password", "viewer", lambda w: "/accounts/password/set/"),
    ("profile", "accounts:profile", "viewer", lambda w: f"/@{w['host'].handle}/"),
    ("followers", "accounts:followers", "viewer", lambda w: f"/@{w['host'].handle}/followers/"),
    ("following", "accounts:following", "viewer", lambda w: f"/@{w['viewer'].handle}/following/"),
    ("profile settings", "accounts:profile_edit", "viewer", lambda w: "/settings/profile/"),
    ("account settings", "accounts:settings", "viewer", lambda w: "/settings/account/"),
    ("notifications", "accounts:notifications", "viewer", lambda w: "/notifications/"),
    (
        "notification settings",
        "accounts:notification_settings",
        "viewer",
        lambda w: "/settings/notifications/",
    ),
    ("host analytics", "accounts:analytics", "host", lambda w: f"/@{w['host'].handle}/analytics/"),
    ("search", "rooms:search", "viewer", lambda w: "/rooms/search/?q=gardens"),
    ("live room, listener", "rooms:detail", "viewer", lambda w: f"/rooms/{w['live'].pk}/"),
    ("live room, host", "rooms:detail", "viewer", lambda w: f"/rooms/{w['own_live'].pk}/"),
    ("scheduled room", "rooms:detail", "viewer", lambda w: f"/rooms/{w['scheduled'].pk}/"),
    ("ended room", "rooms:detail", "viewer", lambda w: f"/rooms/{w['ended'].pk}/"),
    ("room analytics", "rooms:analytics", "host", lambda w: f"/rooms/{w['ended'].pk}/analytics/"),
    ("new room", "rooms:create", "viewer", lambda w: "/rooms/new/"),
    ("topic", "rooms:topic", "viewer", lambda w: "/rooms/topics/gardens/"),
    ("edit room", "rooms:edit", "host", lambda w: f"/rooms/{w['scheduled'].pk}/edit/"),
    ("my tickets", "tickets:mine", "viewer", lambda w: "/tickets/"),
    ("ticket", "tickets:detail", "viewer", lambda w: f"/tickets/{w['ticket'].pk}/"),
    ("replay", "recordings:detail", "viewer", lambda w: f"/recordings/{w['replay'].pk}/"),
    ("clip", "clips:detail", "viewer", lambda w: f"/clips/{w['clip'].pk}/"),
    ("clip embed", "clips:embed", None, lambda w: f"/clips/{w['clip'].pk}/embed/"),
    ("report", "moderation:create", "viewer", lambda w: f"/reports/new/room/{w['live'].pk}/"),
]

# Routes with no page of their own, and why.
NOT_PAGES = {
    "manifest": "JSON (the web app manifest)",
    "service_worker": "a script",
    "javascript_catalog": "a script (the scripts' translations)",
    "accounts:set_language": "POST",
    "stripe_webhook": "Stripe's POST endpoint",
    "account_confirm_email": "a signed key from an email; its page is allauth's confirm form, as sign-in's",
    "account_reset_password_from_key": "a signed key from an email; redirects to a form like the reset form",
    "accounts:follow": "POST",
    "accounts:unfollow": "POST",
    "accounts:block": "POST",
    "accounts:unblock": "POST",
    "accounts:sign_out_everywhere": "POST",
    "accounts:delete": "POST",
    "accounts:time_zone": "POST",
    "accounts:export_start": "POST",
    "accounts:export_status": "JSON",
    "accounts:export_download": "a download",
    "accounts:notifications_read": "POST",
    "accounts:notifications_seen": "POST",
    "accounts:unsubscribe": "a signed token; its page is drawn by the same template as notification settings' form",
    "accounts:push_subscribe": "POST (JSON)",
    "accounts:push_unsubscribe": "POST (JSON)",
    "accounts:calendar": "an iCalendar file",
    "rooms:analytics_csv": "a CSV download",
    "rooms:live_bar": "an HTML fragment of the header, checked inside every page",
    "rooms:start": "POST",
    "rooms:end": "POST",
    "rooms:backstage": "POST",
    "rooms:cancel": "POST",
    "rooms:reminder_set": "POST",
    "rooms:reminder_delete": "POST",
    "rooms:invite": "POST",
    "rooms:invite_suggestions": "JSON",
    "rooms:calendar": "an iCalendar file",
    "rooms:ticket_buy": "POST",
    "rooms:ticket_sales": "POST",
    "rooms:ticket_buyers": "a CSV download",
    "tickets:return": "redirects to the ticket's page",
    "recordings:status": "JSON",
    "recordings:stream": "audio",
    "recordings:cover": "an image",
    "recordings:waveform": "an image",
    "recordings:play": "POST",
    "recordings:listened": "POST",
    "recordings:download": "a download",
    "recordings:delete": "POST",
    "recordings:captions": "WebVTT",
    "recordings:chapters": "WebVTT",
    "recordings:transcript_line": "POST",
    "recordings:transcript_delete": "POST",
    "clips:status": "JSON",
    "clips:audio": "audio",
    "clips:play": "POST",
    "clips:embed_play": "POST",
    "clips:waveform": "an image",
    "clips:delete": "POST",
    "clips:create_from_replay": "POST",
    "clips:create_live": "POST",
    "clips:clipping": "POST",
    "podcast:feed": "RSS",
    "podcast:image": "an image",
    "podcast:audio": "audio",
    "podcast:cover": "an image",
    "podcast:publish": "POST",
    "hls:signed": "HLS playlists and segments",
    "hls:public": "HLS playlists and segments",
    "metrics": "Prometheus's text format, for the operator's scraper",
}


def test_every_route_has_a_page_in_the_axe_list():
    routes = {name for _, name in _walk(get_resolver().url_patterns) if not name.startswith("admin:")}
    listed = {route for _, route, _, _ in PAGES}
    missing = sorted(routes - listed - NOT_PAGES.keys())
    assert missing == [], f"give these routes a page in tests/browser/test_axe.py (or a reason): {missing}"
    assert sorted((listed | NOT_PAGES.keys()) - routes) == [], "routes that no longer exist"
    assert not listed & NOT_PAGES.keys()


def _replay(host) -> Recording:
    """A real replay (a captured tone, finalized eagerly in this process), as a live room leaves it."""
    room = room_services.room_create(
        host=host, title="Community gardens, the replay", is_recorded=True, topics=["gardens"]
    )
    shutil.rmtree(RecordingFiles(room.pk).directory, ignore_errors=True)
    capture_tone(capture_directory(room.pk), speaker_id=host.pk, seconds=4)
    room_services.room_end(room=room, actor=host)
    return Recording.objects.get(room=room)


@pytest.fixture
def world(asgi_live_server):
    host = UserFactory(display_name="Alice Martin")
    viewer = UserFactory(display_name="Chen Wei")
    others = [UserFactory(display_name=name) for name in ("Dana Levi", "Eve Stone", "Femi Ade")]
    follow_create(follower=viewer, followee=host)
    follow_create(follower=others[0], followee=host)
    replay = _replay(host)  # first: a host has one live room at a time
    assert replay.status == "ready", replay.failure_reason
    live = RoomFactory(
        host=host, title="Community gardens live", description="Seeds and soil.", qa_enabled=True
    )
    for person in others:
        Participant.objects.create(room=live, user=person)
    Question.objects.create(room=live, asker=others[0], text="When do we plant tomatoes?")
    own_live = RoomFactory(host=viewer, title="Chen's open mic", qa_enabled=True)
    Participant.objects.create(room=own_live, user=others[1], hand_raised_at=timezone.now())
    scheduled = RoomFactory(host=host, title="Gardens next week", scheduled=True)
    clip = clip_create_from_replay(recording_id=replay.pk, actor=viewer, start=0, end=3, title="The best bit")
    assert Clip.objects.get(pk=clip.pk).status == "ready"
    ticketed = RoomFactory(
        host=host,
        title="Gardens masterclass",
        scheduled=True,
        ticket_price=500,
        ticket_capacity=10,
        tickets_taken=1,
    )
    ticket = Ticket.objects.create(
        room=ticketed,
        buyer=viewer,
        status=Ticket.Status.PAID,
        amount=500,
        currency="USD",
        provider="development",
        checkout_id="dev_cs_axe",
    )
    for kind, text in (
        (Notification.Kind.HOST_LIVE, "Alice Martin is live: Community gardens live"),
        (Notification.Kind.NEW_FOLLOWER, "Dana Levi follows you"),
    ):
        Notification.objects.create(recipient=viewer, kind=kind, actor=host, room=live, text=text, url="/")
    Notification.objects.filter(recipient=viewer, kind=Notification.Kind.NEW_FOLLOWER).update(
        read_at=timezone.now() - timedelta(hours=1)
    )
    assert Room.objects.filter(state=Room.State.ENDED).count() == 1
    return {
        "host": host,
        "viewer": viewer,
        "live": live,
        "own_live": own_live,
        "scheduled": scheduled,
        "ended": replay.room,
        "replay": replay,
        "clip": clip,
        "ticket": ticket,
    }


def _settle(page, label: str) -> None:
    """Wait until the page shows what people see: a live room's socket has drawn its roster."""
    page.wait_for_load_state("load")
    if label.startswith("live room"):
        expect(page.locator("[data-controls]")).to_be_visible()
        expect(page.locator("[data-roster=stage] [data-user-id]").first).to_be_visible()
    elif label == "replay":
        page.wait_for_function("() => document.getElementById('replay-audio').readyState >= 1")


def _figures(results: dict) -> dict:
    return {
        violation["id"]: {"impact": violation["impact"], "elements": len(violation["nodes"])}
        for violation in results["violations"]
    }


def _write_figures(size: str, figures: dict) -> None:
    if not os.environ.get("AXE_FIGURES"):
        return
    path = Path(os.environ["AXE_FIGURES"])
    everything = json.loads(path.read_text()) if path.exists() else {}
    everything[size] = figures
    path.write_text(json.dumps(everything, indent=1, ensure_ascii=False))


@pytest.mark.browser
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_every_page_has_no_serious_or_critical_axe_violation(browser, asgi_live_server, world, size):
    # The live room's host is on stage in a page of their own, for the whole test.
    stage = browser.new_context(viewport=DESKTOP)
    asgi_live_server.sign_in(stage, world["host"])
    host_page = stage.new_page()
    host_page.goto(f"{asgi_live_server.url}/rooms/{world['live'].pk}/")
    expect(host_page.locator("[data-controls]")).to_be_visible()

    context = browser.new_context(viewport=DESKTOP if size == "desktop" else PHONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    axe = Axe()
    figures, failures = {}, []
    signed_in = object()
    for label, _, who, path_of in PAGES:
        if who != signed_in:
            context.clear_cookies()
            if who:
                asgi_live_server.sign_in(context, world[who])
            signed_in = who
        response = page.goto(f"{asgi_live_server.url}{path_of(world)}")
        assert response.status == 200, f"{label}: {response.status} {page.url}"
        _settle(page, label)
        results = axe.run(page, options=AXE_OPTIONS).response
        # axe has no rule for a player: the browser's own controls are named by their element.
        unnamed = page.locator("audio[controls]:not([aria-label], [aria-labelledby])")
        if unnamed.count():
            failures.append(f"{label}: {unnamed.count()} audio player(s) without a name")
        figures[label] = _figures(results)
        for violation in results["violations"]:
            if violation["impact"] in BLOCKING:
                targets = [node["target"] for node in violation["nodes"]][:5]
                failures.append(f"{label}: {violation['id']} ({violation['impact']}) {targets}")
    page.goto("about:blank")
    context.close()
    stage.close()
    _write_figures(size, figures)
    assert failures == [], "\n".join(failures)
