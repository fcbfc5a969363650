"""What the site gives out: absolute links that name SITE_URL, the emails it sent, and files under
MEDIA_ROOT that are not public."""

from __future__ import annotations

import re
from email import message_from_string, policy
from pathlib import Path
from urllib.parse import urlsplit

from deploy import harness
from deploy.smoke.common import ROOT, check

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
