"""Production smoke test: README's "Production" steps on this machine, then one visit through nginx.

    python -m deploy.smoke --database-url postgres://postgres@127.0.0.1:5432/postgres

It follows README's steps with deploy/'s own files: an environment file made from
deploy/spaces.env.example (only site-specific values changed), `deploy/render.py` for the nginx site
and the systemd units, `migrate` and `collectstatic`, then every unit's ExecStart (two web processes
on unix sockets, two mixers, a Celery worker, Celery beat) and nginx with the rendered site, on free
ports of 127.0.0.1 with a throwaway certificate. It makes its own PostgreSQL database (the named
one with `_smoke` appended, dropped first) and, unless --redis-url is given, its own redis-server.

Then, through nginx only, as people would: HTTP redirects to HTTPS, /healthz answers, a host signs
up (confirming the email), signs in, opens a recorded room; the host's socket and a listener's join
it; the host speaks a 440 Hz tone that the listener hears; the host ends the room; the replay
becomes ready, and a Range request for it is answered by nginx through X-Accel-Redirect, while the
recordings directory is not reachable directly. A second person follows the host and buys a ticket
for a scheduled room (through a local stand-in for Stripe's API); the host publishes the replay to
their podcast and downloads a data export, which nginx streams after the permission check. Every file
under MEDIA_ROOT (every subdirectory the code writes, found from the code) is refused at /media/ to a
visitor and to that other person, avatars aside; and every absolute URL in the pages, the feed, the
calendar, the emails and the Stripe request names SITE_URL. Everything it started is stopped at the
end, and the last line printed is a JSON object with the timings.
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from email import message_from_string, policy
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import numpy as np
import psycopg

if __package__ in (None, ""):  # run as a file: make `deploy` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deploy import harness, render  # noqa: E402
from rooms.audio import codec, wire  # noqa: E402
from spaces_project.vapid import new_pair  # noqa: E402

ROOT = harness.ROOT
TONE_HZ = 440.0


class SmokeFailure(AssertionError):
    pass


def check(condition, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


class Timer:
    def __init__(self) -> None:
        self.start = time.monotonic()
        self.last = self.start
        self.steps: dict[str, float] = {}

    def step(self, name: str) -> None:
        now = time.monotonic()
        self.steps[name] = round(now - self.last, 2)
        self.last = now
        print(f"smoke: {name} ({self.steps[name]:.1f} s)", flush=True)


# -- the database ----------------------------------------------------------------------------------


def fresh_database(database_url: str) -> str:
    """Drop and create `<name>_smoke` on the server `database_url` names; return its URL."""
    parts = urlsplit(database_url)
    name = (parts.path.strip("/") or "postgres") + "_smoke"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def drop_database(database_url: str) -> None:
    parts = urlsplit(database_url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{parts.path.strip("/")}" WITH (FORCE)')


# -- README's steps ---------------------------------------------------------------------------------


def write_env_file(
    work: Path, *, database_url: str, redis_url: str, http_port: int, https_port: int, stripe_api: str
) -> Path:
    """deploy/spaces.env.example with this machine's values: the lines are kept, values replaced."""
    cert, key = harness.self_signed_certificate(work / "tls")
    venv = Path(sys.executable).parent.parent
    origin = f"https://localhost:{https_port}"
    vapid = new_pair()
    values = {
        "SECRET_KEY": secrets.token_urlsafe(60),
        "VAPID_PUBLIC_KEY": vapid.public_key,
        "VAPID_PRIVATE_KEY": vapid.private_key,
        "ALLOWED_HOSTS": "localhost",
        "CSRF_TRUSTED_ORIGINS": origin,
        "SITE_URL": origin,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "STATIC_ROOT": str(work / "staticfiles"),
        "MEDIA_ROOT": str(work / "media"),
        "SPACES_SERVER_NAME": "localhost",
        "SPACES_APP_DIR": str(ROOT),
        "SPACES_VENV": str(venv),
        "SPACES_USER": os.environ.get("USER", "root"),
        "SPACES_ENV_FILE": str(work / "spaces.env"),
        "SPACES_RUN_DIR": str(work / "run"),
        "SPACES_STATE_DIR": str(work / "state"),
        "SPACES_HTTP_LISTEN": f"127.0.0.1:{http_port}",
        "SPACES_HTTPS_LISTEN": f"127.0.0.1:{https_port}",
        "SPACES_TLS_CERTIFICATE": str(cert),
        "SPACES_TLS_KEY": str(key),
    }
    # Mail goes to files the script reads instead of an SMTP server.
    extra = {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(work / "mail"),
        "STRIPE_API_BASE": stripe_api,
    }
    lines = []
    example = (ROOT / "deploy" / "spaces.env.example").read_text().splitlines()
    for line in example:
        key = line.split("=", 1)[0].strip()
        if not line.startswith("#") and "=" in line and key in values:
            line = f"{key}='{values.pop(key)}'"
        lines.append(line)
    check(not values, f"deploy/spaces.env.example lacks {sorted(values)}")
    lines += [f"{k}='{v}'" for k, v in extra.items()]
    path = work / "spaces.env"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    for directory in ("run", "state", "media", "mail"):
        (work / directory).mkdir(parents=True, exist_ok=True)
    return path


def manage(env: dict, *args: str, venv: Path) -> None:
    result = subprocess.run(
        [str(venv / "bin" / "python"), "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    check(result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def start_units(processes: harness.Processes, rendered: dict[str, Path], env: dict, run_dir: Path) -> None:
    """Run what each systemd unit runs (its ExecStart, WorkingDirectory, EnvironmentFile)."""
    systemd = rendered["systemd/spaces-web@.service"].parent
    target = (systemd / "spaces.target").read_text()
    wanted = re.search(r"^Wants=(.*)$", target, re.M).group(1).split()
    waiting = []
    for unit_name in wanted:
        template, _, instance = unit_name.removesuffix(".service").partition("@")
        unit_file = systemd / (f"{template}@.service" if instance else f"{template}.service")
        unit = render.unit_command(unit_file, instance=instance, hostname="smoke")
        check(unit["env_file"] == str(env["SPACES_ENV_FILE"]), f"{unit_name} reads {unit['env_file']}")
        name = unit_name.removesuffix(".service")
        if template == "spaces-web":
            socket_path = run_dir / f"web{instance}.sock"
            ready = lambda _p, path=socket_path: harness.unix_listening(path)  # noqa: E731
        elif template == "spaces-mixer":
            ready = lambda p: "running" in p.output()  # noqa: E731
        elif template == "spaces-captioner":
            ready = lambda p: "running" in p.output()  # noqa: E731
        elif template in ("spaces-worker", "spaces-push-worker"):
            ready = lambda p: " ready." in p.output()  # noqa: E731
        else:
            ready = lambda p: "beat: Starting" in p.output()  # noqa: E731
        processes.start(name, unit["argv"], env=harness.base_env(**env), cwd=unit["cwd"])
        waiting.append((name, ready))
    # All at once, as systemd starts a target's units; then wait for each to be ready.
    for name, ready in waiting:
        processes.wait_ready(name, ready, timeout=120)


# -- what the site gives out: Stripe's side, absolute links, private files -------------------------


class StripeStandIn:
    """Stripe's API as far as Checkout goes, on a free port of 127.0.0.1 (STRIPE_API_BASE): it keeps
    every request's form fields, so the smoke test can read the URLs the site sends Stripe."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict]] = []
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", f"req_smoke_{len(stand_in.requests)}")
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                fields = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                stand_in.requests.append(("POST", self.path, fields))
                if self.path == "/v1/checkout/sessions":
                    number = len(stand_in.requests)
                    self._answer(
                        200,
                        {
                            "id": f"cs_test_smoke_{number}",
                            "object": "checkout.session",
                            "url": f"https://checkout.stripe.com/c/pay/cs_test_smoke_{number}",
                            "status": "open",
                            "payment_status": "unpaid",
                            "payment_intent": None,
                        },
                    )
                else:
                    self._answer(404, {"error": {"type": "invalid_request_error", "message": "not here"}})

            def do_GET(self) -> None:
                stand_in.requests.append(("GET", self.path, {}))
                self._answer(404, {"error": {"type": "invalid_request_error", "message": "not here"}})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


ABSOLUTE_URL = re.compile(r"""https?://[^\s"'<>()\[\]]+""")
# Hosts that are not the site and that an absolute URL may rightly name: XML namespaces of the feed
# and the SVG icons, Stripe's own checkout page, and the footer's credit of the reaction images
# (Twemoji's source and its licence).
FOREIGN_HOSTS = {
    "github.com",
    "creativecommons.org",
    "www.w3.org",
    "www.itunes.com",
    "purl.org",
    "podcastindex.org",
    "ogp.me",
    "checkout.stripe.com",
}


def check_absolute_urls(text: str, site_url: str, what: str) -> int:
    """Every absolute URL in `text` names SITE_URL (or a known foreign host); return how many did."""
    ours = 0
    for url in ABSOLUTE_URL.findall(text):
        url = url.rstrip(".,;")
        if urlsplit(url).hostname in FOREIGN_HOSTS:
            continue
        check(
            url == site_url or url.startswith(site_url + "/"),
            f"{what} links to {url}, not SITE_URL {site_url}",
        )
        ours += 1
    return ours


def email_texts(mail_dir: Path) -> list[str]:
    """Every email the site sent (the file backend's files), each as its decoded text parts."""
    texts = []
    for path in sorted(mail_dir.glob("*")):
        # The file backend writes several messages to one file, separated by a line of dashes.
        for raw in re.split(r"\n-{70,}\n", path.read_text(errors="replace")):
            if not raw.strip():
                continue
            message = message_from_string(raw.strip() + "\n", policy=policy.default)
            parts = [
                part.get_content()
                for part in message.walk()
                if part.get_content_type() in ("text/plain", "text/html")
            ]
            texts.append(f"Subject: {message['Subject']}\n" + "\n".join(parts))
    return texts


def media_directories_written_by_the_code() -> set[str]:
    """The top-level directories under MEDIA_ROOT that the code writes, read from the code itself:
    file fields' upload_to, paths built on settings.MEDIA_ROOT, and media trees (spaces_project/media.py's
    tree()). A new kind of file is covered
    by the check without anyone remembering to add it."""
    found: set[str] = set()
    patterns = (
        re.compile(r"""upload_to\s*=\s*["']([^"'/]+)"""),
        re.compile(r"""MEDIA_ROOT\)?\s*/\s*["']([^"'/]+)"""),
        re.compile(r"""media\.tree\(\s*["']([^"'/]+)"""),
    )
    for app in ("accounts", "rooms", "recordings", "moderation", "spaces_project"):
        for source in (ROOT / app).rglob("*.py"):
            if "migrations" in source.parts:
                continue
            text = source.read_text()
            for pattern in patterns:
                found.update(pattern.findall(text))
    return found


# Files under MEDIA_ROOT that anyone may fetch from disk, by design.
PUBLIC_MEDIA = {"avatars"}


def check_media_is_private(media_root: Path, visitors: dict[str, harness.Browser]) -> dict[str, int]:
    """Request every file under MEDIA_ROOT at /media/, in every directory the code writes (a probe
    file where the visit left none), as each visitor: a 404 unless the directory is public by design."""
    directories = media_directories_written_by_the_code() | {
        p.name for p in media_root.iterdir() if p.is_dir()
    }
    check(
        {"recordings", "exports", "avatars"} <= directories, f"media directories found: {sorted(directories)}"
    )
    asked: dict[str, int] = {}
    for directory in sorted(directories):
        files = [p for p in (media_root / directory).rglob("*") if p.is_file()]
        if not files:
            probe = media_root / directory / "smoke-probe.txt"
            probe.parent.mkdir(parents=True, exist_ok=True)
            probe.write_text("not for visitors")
            files = [probe]
        for path in files:
            url = "/media/" + path.relative_to(media_root).as_posix()
            for who, browser in visitors.items():
                answer = browser.get(url)
                if directory in PUBLIC_MEDIA:
                    check(answer.status == 200, f"{url} answered {answer.status} to {who}")
                else:
                    check(
                        answer.status == 404,
                        f"{url} answered {answer.status} to {who} without a permission check",
                    )
            asked[directory] = asked.get(directory, 0) + 1
    return asked


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


def tone_uplinks(seconds: float) -> list[bytes]:
    frames = int(seconds * 1000 / wire.FRAME_MS)
    t = np.arange(frames * wire.FRAME_SAMPLES) / wire.SAMPLE_RATE
    pcm = (0.3 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
    encoder = codec.make_encoder()
    return [encoder.encode(pcm[i * wire.FRAME_SAMPLES : (i + 1) * wire.FRAME_SAMPLES]) for i in range(frames)]


def heard_tone(bundles: list[bytes]) -> float:
    """The amplitude at TONE_HZ in what a listener received (its program mix, decoded)."""
    decoder = codec.make_decoder()
    pcm = []
    for data in bundles:
        for packet in wire.decode_bundle(data).packets:
            pcm.append(decoder.decode(packet) if packet else np.zeros(wire.FRAME_SAMPLES, dtype=np.float32))
    if not pcm:
        return 0.0
    signal = np.concatenate(pcm)
    window = np.hanning(len(signal))
    spectrum = np.abs(np.fft.rfft(signal * window)) * 2 / window.sum()
    bins = np.fft.rfftfreq(len(signal), 1 / wire.SAMPLE_RATE)
    return float(spectrum[(bins > TONE_HZ - 15) & (bins < TONE_HZ + 15)].max())


async def live_room(origin: str, browser: harness.Browser, room_id: int, timer: Timer) -> None:
    ws_url = origin.replace("https://", "wss://") + f"/ws/rooms/{room_id}/"
    host = harness.RoomClient(
        ws_url, origin=origin, cookie=browser.cookie_header(), ssl_context=browser.ssl_context, name="host"
    )
    listener = harness.RoomClient(
        ws_url, origin=origin, ssl_context=browser.ssl_context, name="listener", keep_audio=True
    )
    host.start()
    listener.start()
    try:
        await host.wait(lambda: host.snapshots, 20, "the host's snapshot")
        await listener.wait(lambda: listener.snapshots, 20, "the listener's snapshot")
        check(host.last_snapshot["you"]["role"] == "host", "the host is not the host in the snapshot")
        check(host.last_snapshot["room"]["is_recorded"], "the room is not recorded")
        host_id = host.last_snapshot["you"]["user_id"]
        timer.step("both sockets joined through nginx")
        await host.send("mic.unmute")
        await host.wait(
            lambda: any(
                e.get("type") == "room.participant_updated"
                and e["participant"]["user_id"] == host_id
                and not e["participant"]["muted"]
                for _, e in host.events
            ),
            10,
            "the host to be unmuted",
        )
        # Speak in real time, as a microphone does, until the listener has heard a second of it.
        packets = tone_uplinks(6.0)
        started = time.time() * 1000
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for sequence, packet in enumerate(packets):
            await asyncio.sleep(max(0.0, t0 + sequence * wire.FRAME_MS / 1000 - loop.time()))
            await host.send_bytes(wire.encode_uplink(sequence, started + sequence * wire.FRAME_MS, packet))
        await listener.wait(lambda: len(listener.audio) >= 5, 10, "the listener to hear the host")
        amplitude = heard_tone([data for _, data in listener.audio])
        check(amplitude > 0.05, f"the listener heard no {TONE_HZ:.0f} Hz tone (amplitude {amplitude:.3f})")
        timer.step(f"the listener heard the host's tone (amplitude {amplitude:.2f})")
        await asyncio.sleep(1.5)  # the mixer flushes the recording every second
        # "Yes, end the room and recording": the room page's form posts to its action.
        answer = await asyncio.to_thread(
            browser.post_form, f"/rooms/{room_id}/end/", {}, form_path=f"/rooms/{room_id}/"
        )
        check(answer.status == 302, f"ending the room answered {answer.status}")
        await listener.wait(lambda: listener.finished, 15, "the listener's socket to close")
        await host.wait(lambda: host.finished, 15, "the host's socket to close")
        check(listener.closes[-1][1] == 4010, f"the listener's socket closed with {listener.closes[-1][1]}")
        timer.step("the host ended the room; both sockets closed with 4010")
    finally:
        await host.stop()
        await listener.stop()


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


def run(database_url: str, redis_url: str | None, work: Path) -> dict:
    timer = Timer()
    processes = harness.Processes(work / "logs")
    smoke_db = None
    stripe = None
    try:
        if redis_url is None:
            redis = harness.RedisServer(processes, work / "redis")
            redis.start()
            redis_url = redis.url(0)
        smoke_db = fresh_database(database_url)
        http_port, https_port = harness.free_port(), harness.free_port()
        stripe = StripeStandIn()
        env_file = write_env_file(
            work,
            database_url=smoke_db,
            redis_url=redis_url,
            http_port=http_port,
            https_port=https_port,
            stripe_api=stripe.url,
        )
        env = render.read_env_file(env_file)
        venv = Path(env["SPACES_VENV"])
        # README: render the site and the units from the environment file.
        rendered = render.render(env_file, work / "rendered")
        # README: migrate and collect static files, with the environment file's settings.
        manage(harness.base_env(**env), "migrate", "--noinput", venv=venv)
        manage(harness.base_env(**env), "collectstatic", "--noinput", "--verbosity", "0", venv=venv)
        timer.step("rendered deploy/, migrated, collected static files")
        # README: start spaces.target (every unit it wants), then nginx with the site.
        start_units(processes, rendered, env, Path(env["SPACES_RUN_DIR"]))
        harness.start_nginx(processes, work / "nginx", rendered["nginx/spaces.conf"], ready_port=https_port)
        timer.step("started 2 web processes, 2 mixers, the captioner, the workers, beat and nginx")
        result = visit(
            f"https://localhost:{https_port}",
            f"http://localhost:{http_port}",
            Path(env["EMAIL_FILE_PATH"]),
            Path(env["MEDIA_ROOT"]),
            stripe,
            timer,
        )
        for name, process in processes.running.items():
            check(process.alive(), f"{name} died during the visit:\n{process.output()[-2000:]}")
        return {
            "smoke": "passed",
            **result,
            "steps_s": timer.steps,
            "total_s": round(time.monotonic() - timer.start, 1),
        }
    except Exception:
        for name, process in processes.running.items():
            print(f"--- {name} (last lines) ---\n{process.output()[-1500:]}", file=sys.stderr)
        raise
    finally:
        processes.stop_all()
        if stripe is not None:
            stripe.stop()
        if smoke_db is not None:
            try:
                drop_database(smoke_db)
            except Exception as error:
                print(f"smoke: could not drop {smoke_db}: {error}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL server to make the throwaway database on (its name + _smoke)",
    )
    parser.add_argument("--redis-url", default=None, help="use this Redis instead of starting one")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, rendered files)")
    args = parser.parse_args(argv)
    if not Path(harness.NGINX).exists():
        print("smoke: nginx is not installed (apt-get install nginx)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="spaces-smoke-"))
    try:
        result = run(args.database_url, args.redis_url, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"smoke: kept {work}", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
