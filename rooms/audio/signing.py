"""Signed, expiring HLS URLs, computed exactly as nginx's ``secure_link_md5`` computes them. No
dependencies: deploy/render.py imports it to put the same secret in nginx's site.

The signature covers the room and the expiry, and travels in the path
(``s/<expires>/<md5>/<room>/<file>``), so a playlist's relative segment names inherit it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


def derive_secret(secret_key: str) -> str:
    """The HLS signing secret derived from the site's SECRET_KEY (when none is set of its own): the
    same value in Django and in nginx's rendered site, without putting SECRET_KEY in nginx."""
    return hashlib.sha256(f"spaces-hls-signing:{secret_key}".encode()).hexdigest()


def signature(*, room_id: int, expires: int, secret: str) -> str:
    """nginx's ``secure_link_md5 "$expires/$room/ $secret"``: base64url MD5 without padding."""
    digest = hashlib.md5(f"{expires}/{int(room_id)}/ {secret}".encode()).digest()  # noqa: S324 (nginx's scheme)
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def signed_path(*, room_id: int, expires: int, secret: str, file: str = "index.m3u8") -> str:
    """The path (after the HLS prefix) of a signed file of a private room."""
    return f"s/{expires}/{signature(room_id=room_id, expires=expires, secret=secret)}/{int(room_id)}/{file}"


def check_signature(*, room_id: int, expires: int, md5: str, secret: str, now: float | None = None) -> str:
    """ "ok", "expired" or "invalid", as nginx's secure_link decides (the site answers 403 to both)."""
    expected = signature(room_id=room_id, expires=expires, secret=secret)
    if not hmac_equal(md5, expected):
        return "invalid"
    if expires < (time.time() if now is None else now):
        return "expired"
    return "ok"


def hmac_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
