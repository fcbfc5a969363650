"""Signed, expiring HLS URLs, computed exactly as nginx's ``secure_link_md5`` computes them. No
dependencies: deploy/render.py imports it to put the same secret in nginx's site.

The signature covers the expiry, the listener and the room, and travels in the path
(``s/<expires>/<md5>/<listener>/<room>/<file>``), so a playlist's relative segment names inherit it.
``listener`` is an opaque token of the one socket the URL was issued to (rooms/consumers.py): each
listener's URLs are their own, and a URL lives a minute and a half (docs/hls.md, "Taking access
back").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time

# What a listener token may hold: it sits in a path segment and in nginx's secure_link_md5 string.
LISTENER = re.compile(r"[A-Za-z0-9_-]{1,64}")


def derive_secret(secret_key: str) -> str:
    """The HLS signing secret derived from the site's SECRET_KEY (when none is set of its own): the
    same value in Django and in nginx's rendered site, without putting SECRET_KEY in nginx."""
    return hashlib.sha256(f"spaces-hls-signing:{secret_key}".encode()).hexdigest()


def signature(*, room_id: int, listener: str, expires: int, secret: str) -> str:
    """nginx's ``secure_link_md5 "$expires/$listener/$room/ $secret"``: base64url MD5 without padding."""
    if not LISTENER.fullmatch(listener):
        raise ValueError(f"not a listener token: {listener!r}")
    text = f"{int(expires)}/{listener}/{int(room_id)}/ {secret}"
    digest = hashlib.md5(text.encode()).digest()  # noqa: S324 (nginx's scheme)
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def signed_path(*, room_id: int, listener: str, expires: int, secret: str, file: str = "index.m3u8") -> str:
    """The path (after the HLS prefix) of a signed file of a private room, for one listener."""
    md5 = signature(room_id=room_id, listener=listener, expires=expires, secret=secret)
    return f"s/{int(expires)}/{md5}/{listener}/{int(room_id)}/{file}"


def check_signature(
    *, room_id: int, listener: str, expires: int, md5: str, secret: str, now: float | None = None
) -> str:
    """ "ok", "expired" or "invalid", as nginx's secure_link decides (the site answers 403 to both)."""
    if not LISTENER.fullmatch(listener):
        return "invalid"
    expected = signature(room_id=room_id, listener=listener, expires=expires, secret=secret)
    if not hmac_equal(md5, expected):
        return "invalid"
    # nginx refuses from the second after `expires` (its clock in whole seconds): the same here.
    if expires < int(time.time() if now is None else now):
        return "expired"
    return "ok"


def hmac_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
