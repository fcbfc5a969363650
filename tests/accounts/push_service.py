"""A push service of the tests' own, and a device that reads what it is sent.

`PushService` is an HTTP server on 127.0.0.1 in a thread, standing in for FCM or Mozilla's autopush:
it keeps every request and answers each path with the status a test sets (201 by default), or not
at all for a while (`hang_s`). `Device` is a browser's side of RFC 8291: its own P-256 key pair and
auth secret (its `toJSON()`), the check of the VAPID JWT a push carries (RFC 8292, ES256, against the
site's public key) and the decryption of the body (aes128gcm, with http_ece).
"""

import base64
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)


class PushService:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.statuses: dict[str, int] = {}
        self.hang_s = 0.0
        self._stop_hanging = threading.Event()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                service.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                if service.hang_s:
                    service._stop_hanging.wait(service.hang_s)
                status = service.statuses.get(self.path, 201)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def endpoint(self, name: str) -> str:
        return f"{self.origin}/push/{name}"

    def to(self, device: "Device") -> list[Received]:
        return [r for r in self.requests if r.path == urlsplit(device.endpoint).path]

    def close(self) -> None:
        self._stop_hanging.set()
        self.server.shutdown()
        self.server.server_close()


class Device:
    """One browser that turned push on: what its `PushSubscription.toJSON()` says, and its secrets."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth_secret = os.urandom(16)
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.p256dh = b64url(point)
        self.auth = b64url(self.auth_secret)

    def to_json(self) -> dict:
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": self.auth},
        }

    def decrypt(self, received: Received) -> dict:
        """The push's JSON payload, decrypted as the browser would (RFC 8291 over RFC 8188)."""
        plain = http_ece.decrypt(
            received.body, private_key=self.private_key, auth_secret=self.auth_secret, version="aes128gcm"
        )
        return json.loads(plain)


def vapid_claims(received: Received, *, public_key: str) -> dict:
    """The claims of the push's `Authorization: vapid t=<JWT>, k=<key>` header, once its ES256
    signature verifies with the site's VAPID public key (AssertionError otherwise)."""
    scheme, _, params = received.headers["authorization"].partition(" ")
    assert scheme.lower() == "vapid", received.headers["authorization"]
    values = dict(part.strip().split("=", 1) for part in params.split(","))
    assert values["k"] == public_key
    header_b64, payload_b64, signature_b64 = values["t"].split(".")
    header = json.loads(unb64url(header_b64))
    assert header["alg"] == "ES256", header
    raw = unb64url(signature_b64)
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(public_key))
    try:
        key.verify(der, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise AssertionError("the VAPID JWT's signature does not verify with the site's public key") from None
    return json.loads(unb64url(payload_b64))
