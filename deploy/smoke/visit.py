"""The visit through nginx, as people would make it: sign-ups, rooms, the replay, the feed, tickets,
the data export, private media and the emails."""

from __future__ import annotations

import asyncio
import io
import re
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

from deploy import harness
from deploy.smoke.common import Timer, check
from deploy.smoke.live_room import live_room
from deploy.smoke.site_checks import check_absolute_urls, check_media_is_private, email_texts
from deploy.smoke.stripe_stand_in import StripeStandIn

# -- the visit --------------------------------------------------------------------------------------


def confirm_email_link(mail_dir: Path, address: str) -> str:
    def find():
        for path in sorted(mail_dir.glob("*")):
            text = path.read_text(errors="replace")
            if address in text:
                match = re.search(r"https://\S+/accounts/confirm-email/[^\s/]+/", text)
                if match:
                    return match.group(0)
        return None

    return harness.wait_for(find, 30, f"the confirmation email to {address}")


def sign_up_and_in(
    browser: harness.Browser, mail_dir: Path, *, email: str, handle: str, password: str
) -> None:
    answer = browser.post_form(
        "/accounts/signup/",
        {
            "email": email,
            "username": handle,
            "display_name": "Smoke Host",
            "password1": password,
            "password2": password,
        },
    )
    check(answer.status == 302, f"sign-up answered {answer.status}: {answer.text[:500]}")
    link = confirm_email_link(mail_dir, email)
    path = urlsplit(link).path
    answer = browser.post_form(path, {})
    check(answer.status == 302, f"confirming the email answered {answer.status}")
    answer = browser.post_form("/accounts/login/", {"login": email, "password": password})
    check(answer.status == 302, f"sign-in answered {answer.status}: {answer.text[:500]}")
    check(browser.cookie("sessionid"), "no session after signing in")
    home = browser.get("/")
    check(home.status == 200 and f"@{handle}" in home.text, "the home page does not show the signed-in host")


def visit(
    origin: str, http_origin: str, mail_dir: Path, media_root: Path, stripe: StripeStandIn, timer: Timer
) -> dict:
    site_url = origin  # the environment file's SITE_URL
    browser = harness.Browser(origin)
    plain = harness.Browser(http_origin)
    answer = plain.get("/rooms/search/?q=x")
    check(answer.status == 301, f"plain HTTP answered {answer.status}")
    check(
        answer.headers["Location"] == f"{origin}/rooms/search/?q=x",
        f"redirected to {answer.headers['Location']}",
    )
    health = browser.get("/healthz")
    check(health.status == 200 and health.json()["redis"] == "ok", f"/healthz: {health.status} {health.text}")
    static = browser.get("/static/js/room.js")
    check(static.status == 200 and static.headers.get("Server", "").startswith("nginx"), "static files")
    timer.step("HTTP redirects to HTTPS, /healthz and static files answer")

    password = "correct horse battery staple 42"
    sign_up_and_in(browser, mail_dir, email="host@smoke.example", handle="smokehost", password=password)
    other = harness.Browser(origin)
    sign_up_and_in(other, mail_dir, email="fan@smoke.example", handle="smokefan", password=password)
    answer = other.post_form("/@smokehost/follow/", {}, form_path="/@smokehost/")
    check(answer.status == 302, f"following the host answered {answer.status}")
    timer.step("the host and a fan signed up, confirmed their emails and signed in; the fan follows the host")

    answer = browser.post_form(
        "/rooms/new/",
        {
            "title": "Smoke test room",
            "description": "Through nginx",
            "topics": "testing",
            "when": "now",
            "tz": "UTC",
            "speaker_policy": "everyone",
            "is_recorded": "on",
            "allow_anonymous": "on",
        },
    )
    check(answer.status == 302, f"creating the room answered {answer.status}: {answer.text[:300]}")
    room_id = int(re.search(r"/rooms/(\d+)/", answer.headers["Location"]).group(1))
    page = browser.get(f"/rooms/{room_id}/")
    check(page.status == 200 and "REC" in page.text, "the room page is not a recorded live room")
    timer.step("the host opened a recorded room")

    asyncio.run(live_room(origin, browser, room_id, timer))

    def recording_id():
        text = browser.get(f"/rooms/{room_id}/").text
        match = re.search(r"/recordings/(\d+)/", text)
        return int(match.group(1)) if match else None

    rec = harness.wait_for(recording_id, 20, "a link to the recording")
    harness.wait_for(
        lambda: browser.get(f"/recordings/{rec}/status/").json().get("status") == "ready", 120, "the replay"
    )
    timer.step("the replay is ready")

    answer = browser.get(f"/recordings/{rec}/audio/", headers={"Range": "bytes=100-1099"})
    check(answer.status == 206, f"the Range request answered {answer.status}")
    check(
        answer.headers.get("Content-Range", "").startswith("bytes 100-1099/"),
        f"Content-Range {answer.headers}",
    )
    check("X-Accel-Redirect" not in answer.headers, "nginx passed X-Accel-Redirect on to the client")
    replay = next((media_root / "recordings").glob("*/replay.m4a"))
    check(answer.body == replay.read_bytes()[100:1100], "the Range answer is not those bytes of the replay")
    check(
        answer.headers.get("Content-Type", "").startswith("audio/"),
        f"Content-Type {answer.headers.get('Content-Type')}",
    )
    direct = browser.get(f"/media/recordings/{replay.parent.name}/replay.m4a")
    check(
        direct.status == 404, f"the recordings directory answered {direct.status} without a permission check"
    )
    internal = browser.get(f"/protected-recordings/{replay.parent.name}/replay.m4a")
    check(internal.status == 404, f"the internal location answered {internal.status} to a visitor")
    timer.step("the replay streams a Range through X-Accel-Redirect; its files are not public")

    answer = browser.post_form(
        f"/podcast/episodes/{rec}/publish/", {"published": "1"}, form_path=f"/recordings/{rec}/"
    )
    check(answer.status == 302, f"publishing the replay answered {answer.status}")
    anonymous = harness.Browser(origin)
    feed = anonymous.get("/@smokehost/podcast.rss")
    check(feed.status == 200 and f"spaces-replay-{rec}" in feed.text, f"the podcast feed: {feed.status}")
    links = {"feed": check_absolute_urls(feed.text, site_url, "the podcast feed")}
    check(links["feed"] >= 3, f"the feed has {links['feed']} links of the site")  # channel, item, enclosure
    for path in ("/", f"/rooms/{room_id}/", f"/recordings/{rec}/", "/@smokehost/"):
        page = anonymous.get(path)
        check(page.status == 200, f"{path} answered {page.status}")
        links[path] = check_absolute_urls(page.text, site_url, f"the page {path}")
    # A clip of the replay: its page carries Open Graph tags (absolute URLs) for link previews.
    answer = browser.post_form(
        f"/clips/new/replay/{rec}/",
        {"start": "0", "end": "3", "title": "Smoke clip"},
        form_path=f"/recordings/{rec}/",
    )
    check(answer.status == 302, f"clipping the replay answered {answer.status}: {answer.text[:300]}")
    clip_path = urlsplit(answer.headers["Location"]).path
    harness.wait_for(
        lambda: browser.get(clip_path + "status/").json().get("status") == "ready", 60, "the clip to be cut"
    )
    page = anonymous.get(clip_path)
    check(page.status == 200 and 'property="og:url"' in page.text, f"the clip page: {page.status}")
    links[clip_path] = check_absolute_urls(page.text, site_url, f"the clip page {clip_path}")
    check(links[clip_path] >= 3, f"the clip page has {links[clip_path]} links of the site (Open Graph)")

    # A scheduled room with tickets: the fan's purchase goes to Stripe with return URLs on SITE_URL.
    answer = browser.post_form(
        "/rooms/new/",
        {
            "title": "Smoke test ticketed room",
            "topics": "testing",
            "when": "schedule",
            "scheduled_for": time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() + 86400)),
            "tz": "UTC",
            "speaker_policy": "invited",
            "allow_anonymous": "on",
        },
    )
    check(answer.status == 302, f"scheduling a room answered {answer.status}: {answer.text[:300]}")
    scheduled = int(re.search(r"/rooms/(\d+)/", answer.headers["Location"]).group(1))
    answer = browser.post_form(
        f"/rooms/{scheduled}/tickets/sales/",
        {"price": "5.00", "capacity": "10"},
        form_path=f"/rooms/{scheduled}/",
    )
    check(answer.status == 302, f"putting tickets on sale answered {answer.status}")
    answer = other.post_form(f"/rooms/{scheduled}/tickets/buy/", {}, form_path=f"/rooms/{scheduled}/")
    check(
        answer.status == 302 and answer.headers["Location"].startswith("https://checkout.stripe.com/"),
        f"buying a ticket answered {answer.status} to {answer.headers.get('Location')}",
    )
    sessions = [fields for method, path, fields in stripe.requests if path == "/v1/checkout/sessions"]
    check(len(sessions) == 1, f"Stripe got {len(stripe.requests)} requests: {stripe.requests}")
    for field in ("success_url", "cancel_url"):
        check(
            sessions[0].get(field, "").startswith(site_url + "/"),
            f"Stripe's {field}: {sessions[0].get(field)}",
        )
    calendar = anonymous.get(f"/rooms/{scheduled}/calendar.ics")
    check(calendar.status == 200, f"the room's calendar answered {calendar.status}")
    unfolded = re.sub(r"\r?\n[ \t]", "", calendar.text)  # RFC 5545 folds long lines
    links["calendar"] = check_absolute_urls(unfolded, site_url, "the room's calendar")
    uid = re.search(r"^UID:(\S+)", unfolded, re.M)
    check(
        uid and uid.group(1).endswith("@" + urlsplit(site_url).hostname),
        f"the calendar's UID {uid and uid.group(1)} is not on SITE_URL's host",
    )
    check(links["calendar"] >= 1, "the calendar names no link of the site")
    timer.step("feed, pages, calendar and the Stripe checkout name SITE_URL")

    # The host's data export: built by the worker, streamed by nginx after the owner check.
    answer = browser.post_form("/settings/export/", {}, form_path="/settings/account/")
    check(answer.status == 302, f"asking for a data export answered {answer.status}")
    settings_page = browser.get("/settings/account/").text
    export_id = int(re.search(r"/settings/export/(\d+)/", settings_page).group(1))
    harness.wait_for(
        lambda: browser.get(f"/settings/export/{export_id}/status/").json().get("ready"),
        60,
        "the data export",
    )
    download = browser.get(f"/settings/export/{export_id}/download/")
    check(download.status == 200, f"downloading the export answered {download.status}: {download.text[:300]}")
    check("X-Accel-Redirect" not in download.headers, "nginx passed X-Accel-Redirect on to the client")
    check("no-store" in download.headers.get("Cache-Control", ""), f"export cached: {download.headers}")

    with zipfile.ZipFile(io.BytesIO(download.body)) as archive:
        names = archive.namelist()
        check("README.txt" in names and len(names) > 3, f"the export holds {names}")
        check(archive.testzip() is None, "the export's zip is damaged")
    refused = other.get(f"/settings/export/{export_id}/download/")
    check(refused.status == 404, f"another person's export download answered {refused.status}")
    timer.step(f"the host downloaded their export through nginx ({len(names)} files); others get 404")

    asked = check_media_is_private(media_root, {"a visitor": anonymous, "another person": other})
    timer.step(f"files under MEDIA_ROOT are not public: {asked}")

    emails = email_texts(mail_dir)
    check(len(emails) >= 3, f"{len(emails)} emails sent")  # two confirmations and the new follower
    links["emails"] = sum(check_absolute_urls(text, site_url, text.splitlines()[0]) for text in emails)
    check(links["emails"] >= len(emails), f"{len(emails)} emails with {links['emails']} links of the site")
    timer.step(f"{len(emails)} emails link to SITE_URL only")
    return {"room_id": room_id, "recording_id": rec, "links_on_site_url": links, "media_files_asked": asked}
