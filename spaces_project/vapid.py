"""VAPID key pairs for Web Push (RFC 8292), with no Django: settings and `manage.py vapid_keys` use it.

A pair is two base64url strings without padding: the public key is the uncompressed P-256 point (65
bytes, what a page passes to `pushManager.subscribe` as `applicationServerKey`), the private key its
32-byte scalar (what pywebpush signs the VAPID JWT with).
"""

import base64
import json
import os
from pathlib import Path
from typing import NamedTuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


class VapidPair(NamedTuple):
    public_key: str
    private_key: str


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding; ValueError for anything else."""
    if not isinstance(text, str) or not text or any(c not in _B64URL for c in text.rstrip("=")):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def public_key_of(private_key: str) -> str:
    """The public key (base64url uncompressed point) of a base64url private scalar; ValueError if it
    is not one."""
    scalar = b64url_decode(private_key)
    if len(scalar) != 32:
        raise ValueError("a VAPID private key is 32 bytes")
    key = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(point)


def new_pair() -> VapidPair:
    key = ec.generate_private_key(ec.SECP256R1())
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return VapidPair(public_key=b64url(point), private_key=b64url(scalar))


def development_pair(path: Path) -> VapidPair:
    """The development pair kept in `path` (made on first use, readable by its owner only), so that
    push works under `make run` with nothing to set up and keeps working across restarts (browsers'
    subscriptions are tied to the public key)."""
    try:
        stored = json.loads(path.read_text())
        pair = VapidPair(public_key=stored["public_key"], private_key=stored["private_key"])
        if public_key_of(pair.private_key) == pair.public_key:
            return pair
    except (OSError, ValueError, KeyError, TypeError):
        pass
    pair = new_pair()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(pair._asdict(), file)
    return pair
