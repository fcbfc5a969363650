"""The real client address behind the proxy, the admin's sign-in, /healthz."""

import json

import autobahn.util
import autobahn.websocket.protocol
import pytest
from django.core.cache import cache
from django.http import HttpRequest
from django.urls import reverse

import spaces_project.asgi  # noqa: F401  (the web process's entry point quiets autobahn)
from spaces_project import health
from spaces_project.middleware import WebsocketClientAddressMiddleware, client_address
from spaces_project.websocket import origin_allowed
from tests.factories import PASSWORD, UserFactory

NGINX = "127.0.0.1"  # what the web process sees as the peer, behind nginx


def _request(remote: str, forwarded: str | None) -> HttpRequest:
    request = HttpRequest()
    request.META["REMOTE_ADDR"] = remote
    if forwarded is not None:
        request.META["HTTP_X_FORWARDED_FOR"] = forwarded
    return request


@pytest.mark.parametrize(
    "count, forwarded, expected",
    [
        (1, "203.0.113.9", "203.0.113.9"),  # nginx appended the address it saw
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # the client wrote the first one itself: ignored
        (2, "6.6.6.6, 198.51.100.7, 10.0.0.2", "198.51.100.7"),  # load balancer, then nginx
        (2, "198.51.100.7", "198.51.100.7"),  # a request that skipped the balancer
        (0, "6.6.6.6", NGINX),  # no proxy trusted: the header proves nothing
        (1, "not-an-address", NGINX),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_client_address_is_the_one_the_trusted_proxies_saw(settings, count, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = count
    assert client_address(_request(NGINX, forwarded)) == expected


def _sign_in(client, email: str, password: str, *, remote: str, forwarded: str | None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post(reverse("account_login"), {"login": email, "password": password}, **extra)


@pytest.mark.django_db
def test_over_a_unix_socket_sign_in_works_once_the_proxy_passes_the_address(client, settings):
    # daphne on a unix socket has no peer address: REMOTE_ADDR is empty.
    user = UserFactory()
    settings.TRUSTED_PROXY_COUNT = 0
    refused = _sign_in(client, user.email, PASSWORD, remote="", forwarded="203.0.113.9")
    assert refused.status_code == 403  # allauth: "Unable to determine client IP address"
    settings.TRUSTED_PROXY_COUNT = 1
    answer = _sign_in(client, user.email, PASSWORD, remote="", forwarded="203.0.113.9")
    assert answer.status_code == 302
    assert client.get(reverse("home")).context["user"] == user


@pytest.mark.django_db
def test_failed_sign_ins_from_one_address_do_not_lock_out_people_at_other_addresses(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    person = UserFactory()
    for attempt in range(12):
        _sign_in(client, f"nobody{attempt}@example.com", "wrong", remote=NGINX, forwarded="6.6.6.6")
    locked = _sign_in(client, person.email, PASSWORD, remote=NGINX, forwarded="6.6.6.6")
    assert locked.status_code != 302  # the guesser's address is throttled ...
    answer = _sign_in(client, person.email, PASSWORD, remote=NGINX, forwarded="203.0.113.9")
    assert answer.status_code == 302  # ... the person's is not


@pytest.mark.django_db
def test_admin_sign_in_goes_through_allauths_throttled_sign_in(client, settings):
    staff = UserFactory(is_staff=True, is_superuser=True)
    answer = client.get("/admin/login/?next=/admin/")
    assert answer.status_code == 302 and answer["Location"].startswith(reverse("account_login"))
    # Admin's own form is gone: posting a handle and password to it signs nobody in.
    answer = client.post("/admin/login/?next=/admin/", {"username": staff.handle, "password": PASSWORD})
    assert answer.status_code == 302 and answer["Location"].startswith(reverse("account_login"))
    assert client.get("/admin/").status_code == 302
    # Guessing the staff member's password is throttled (per account and per address): after a
    # few wrong guesses even the right one is refused.
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(6):
        _sign_in(client, staff.email, "wrong", remote=NGINX, forwarded="6.6.6.6")
    throttled = _sign_in(client, staff.email, PASSWORD, remote=NGINX, forwarded="6.6.6.6")
    assert throttled.status_code != 302
    assert b"Too many failed login attempts" in throttled.content
    # Once the lock has passed, the staff member signs in and reaches the admin.
    cache.clear()
    answer = _sign_in(client, staff.email, PASSWORD, remote=NGINX, forwarded="203.0.113.9")
    assert answer.status_code == 302
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_healthz_says_ok_without_a_session_host_check_or_https_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    answer = client.get("/healthz", HTTP_HOST="10.0.0.5")  # a balancer checks by address
    assert answer.status_code == 200
    body = json.loads(answer.content)
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["redis"] == ("ok" if settings.REDIS_URL else "not used")
    assert "room_sockets" in body and "Set-Cookie" not in answer


@pytest.mark.django_db
def test_healthz_answers_503_naming_redis_when_redis_does_not_answer(client, settings, monkeypatch):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # nothing listens on the discard port
    monkeypatch.setattr(health, "_redis_client", None)
    answer = client.get("/healthz")
    monkeypatch.setattr(health, "_redis_client", None)
    assert answer.status_code == 503
    body = json.loads(answer.content)
    assert body["status"] == "failing" and body["database"] == "ok"
    assert body["redis"].startswith("down: ConnectionError")


def test_the_websocket_layer_does_not_format_debug_messages_nobody_logs():
    assert "\x1b[" not in autobahn.util.hl("room")  # no terminal colours
    assert autobahn.websocket.protocol.pformat([("a", 1)]) == ""


async def test_websockets_get_the_same_client_address(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    seen = {}

    async def app(scope, receive, send):
        seen["client"] = scope["client"]

    # daphne's --proxy-headers put the leftmost entry, which the client wrote, in the scope.
    scope = {
        "type": "websocket",
        "client": ["6.6.6.6", 0],
        "headers": [(b"x-forwarded-for", b"6.6.6.6, 203.0.113.9")],
    }
    await WebsocketClientAddressMiddleware(app)(scope, None, None)
    assert seen["client"] == ["203.0.113.9", 0]


async def test_a_page_served_over_https_by_the_proxy_may_open_its_sockets(settings):
    """daphne leaves the scheme out of a websocket's scope; the Origin check must still see that the
    page came over https (regression: every socket through nginx was refused with 403)."""
    settings.TRUSTED_PROXY_COUNT = 1
    settings.ALLOWED_HOSTS = ["spaces.example.org"]
    settings.WEBSOCKET_ALLOWED_ORIGINS = []
    seen = {}

    async def app(scope, receive, send):
        seen["allowed"] = origin_allowed(scope)

    def scope(proto: bytes, origin: bytes):
        return {
            "type": "websocket",
            "client": ["127.0.0.1", 0],
            "headers": [
                (b"host", b"spaces.example.org"),
                (b"origin", origin),
                (b"x-forwarded-for", b"203.0.113.9"),
                (b"x-forwarded-proto", proto),
            ],
        }

    await WebsocketClientAddressMiddleware(app)(scope(b"https", b"https://spaces.example.org"), None, None)
    assert seen["allowed"] is True
    # The scheme must match too: a plain-http page may not pass for the https site.
    await WebsocketClientAddressMiddleware(app)(scope(b"https", b"http://spaces.example.org"), None, None)
    assert seen["allowed"] is False
    await WebsocketClientAddressMiddleware(app)(scope(b"http", b"http://spaces.example.org"), None, None)
    assert seen["allowed"] is True
