"""Stripe's side: a local stand-in for its API that keeps what the site sends it."""

from __future__ import annotations

import http.server
import json
import threading
from urllib.parse import parse_qsl


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
