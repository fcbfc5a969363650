"""Turning push on and off for a device: `POST /push/subscriptions/` with the browser's
`PushSubscription.toJSON()`, `POST /push/subscriptions/delete/` with its endpoint. Both answer JSON;
bad input is a 400 with a message and nothing stored. Plain http is allowed only to localhost, and only
where PUSH_ALLOW_INSECURE_LOCALHOST is on (development and these tests)."""

import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import PUSH_KINDS, PushSubscription
from accounts.services import push_subscription_save
from accounts.services.push import SESSION_ENDPOINTS
from spaces_project.vapid import development_pair, public_key_of
from tests.factories import UserFactory

from .conftest import csrf_token, sign_in
from .push_service import Device, b64url

pytestmark = pytest.mark.django_db

SUBSCRIBE = "/push/subscriptions/"
UNSUBSCRIBE = "/push/subscriptions/delete/"
PUSH_ORIGIN = "https://push.example.net"


def post(client, url: str, data, token: str | None = None):
    body = data if isinstance(data, (str, bytes)) else json.dumps(data)
    headers = {"HTTP_X_CSRFTOKEN": token} if token else {}
    return client.post(url, body, content_type="application/json", HTTP_ACCEPT="application/json", **headers)


@pytest.fixture
def signed_in(client, user):
    sign_in(client, user)
    return client


def test_the_routes_are_named():
    assert reverse("accounts:push_subscribe") == SUBSCRIBE
    assert reverse("accounts:push_unsubscribe") == UNSUBSCRIBE


def test_a_device_turns_push_on_with_every_kind_then_chooses_then_turns_it_off(signed_in, user):
    device = Device(f"{PUSH_ORIGIN}/wpush/v2/abc")

    response = post(signed_in, SUBSCRIBE, device.to_json())
    assert response.status_code == 200
    assert response.json() == {"endpoint": device.endpoint, "kinds": list(PUSH_KINDS)}
    stored = PushSubscription.objects.get()
    assert (stored.user, stored.p256dh, stored.auth) == (user, device.p256dh, device.auth)

    # Sent again on the next visit: the kinds stay; with kinds, they change.
    assert post(signed_in, SUBSCRIBE, device.to_json()).json()["kinds"] == list(PUSH_KINDS)
    chosen = post(signed_in, SUBSCRIBE, {**device.to_json(), "kinds": ["reminder", "host_live"]}).json()
    assert chosen["kinds"] == ["host_live", "reminder"]
    assert PushSubscription.objects.count() == 1

    response = post(signed_in, UNSUBSCRIBE, {"endpoint": device.endpoint})
    assert response.status_code == 200 and response.json() == {"deleted": True}
    assert not PushSubscription.objects.exists()


def test_the_page_must_send_its_csrf_token(csrf_client, user):
    sign_in(csrf_client, user)
    device = Device(f"{PUSH_ORIGIN}/a")
    assert post(csrf_client, SUBSCRIBE, device.to_json()).status_code == 403
    token = csrf_token(csrf_client, reverse("accounts:notification_settings"))
    assert post(csrf_client, SUBSCRIBE, device.to_json(), token=token).status_code == 200


def test_someone_signed_out_is_refused(client):
    response = post(client, SUBSCRIBE, Device(f"{PUSH_ORIGIN}/a").to_json())
    assert response.status_code == 403 and response.json()["error"] == "sign_in_required"
    assert not PushSubscription.objects.exists()


def test_a_browser_another_person_turned_push_on_in_moves_to_whoever_did_it_last(client, user, other_user):
    device = Device(f"{PUSH_ORIGIN}/shared")
    sign_in(client, other_user)
    post(client, SUBSCRIBE, {**device.to_json(), "kinds": ["reminder"]})
    client.logout()
    sign_in(client, user)
    assert post(client, SUBSCRIBE, device.to_json()).json()["kinds"] == list(PUSH_KINDS)
    assert list(PushSubscription.objects.values_list("user_id", flat=True)) == [user.pk]
    # Nobody removes another person's device.
    client.logout()
    sign_in(client, other_user)
    assert post(client, UNSUBSCRIBE, {"endpoint": device.endpoint}).json() == {"deleted": False}
    assert PushSubscription.objects.count() == 1


def _off_curve() -> str:
    point = bytearray(65)
    point[0] = 4
    point[1:] = b"\x01" * 64  # (1...1, 1...1) is not on P-256
    return b64url(bytes(point))


def _bad(device: Device, **change) -> dict:
    data = device.to_json()
    for key, value in change.items():
        if key in ("p256dh", "auth"):
            data["keys"][key] = value
        else:
            data[key] = value
    return data


BAD = {
    "plain http": lambda d: _bad(d, endpoint="http://push.example.net/a"),
    "no scheme": lambda d: _bad(d, endpoint="push.example.net/a"),
    "ftp": lambda d: _bad(d, endpoint="ftp://push.example.net/a"),
    "a private address": lambda d: _bad(d, endpoint="https://10.0.0.5/a"),
    "a link-local address, IPv4-mapped": lambda d: _bad(d, endpoint="https://[::ffff:169.254.169.254]/a"),
    "credentials in the URL": lambda d: _bad(d, endpoint="https://user:pw@push.example.net/a"),
    "over 2 KB": lambda d: _bad(d, endpoint=f"{PUSH_ORIGIN}/{'a' * 2100}"),
    "no endpoint": lambda d: _bad(d, endpoint=None),
    "no keys": lambda d: {"endpoint": d.endpoint},
    "keys not an object": lambda d: {"endpoint": d.endpoint, "keys": "x"},
    "no p256dh": lambda d: {"endpoint": d.endpoint, "keys": {"auth": d.auth}},
    "p256dh not base64url": lambda d: _bad(d, p256dh="not base64!"),
    "p256dh too short": lambda d: _bad(d, p256dh=b64url(b"\x04" + b"\x01" * 31)),
    "p256dh off the curve": lambda d: _bad(d, p256dh=_off_curve()),
    "auth of 8 bytes": lambda d: _bad(d, auth=b64url(b"12345678")),
    "auth missing": lambda d: {"endpoint": d.endpoint, "keys": {"p256dh": d.p256dh}},
    "a kind that is never pushed": lambda d: _bad(d, kinds=["new_follower"]),
    "kinds not a list": lambda d: _bad(d, kinds="reminder"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_a_400_with_a_message_and_nothing_stored(signed_in, case):
    response = post(signed_in, SUBSCRIBE, BAD[case](Device(f"{PUSH_ORIGIN}/a")))
    assert response.status_code == 400, response.content
    assert response.json()["message"]
    assert not PushSubscription.objects.exists()


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"text"', b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_a_400(signed_in, body):
    response = post(signed_in, SUBSCRIBE, body)
    assert response.status_code == 400 and response.json()["error"] in ("bad_json",)
    assert not PushSubscription.objects.exists()


def test_plain_http_to_localhost_only_where_allowed(signed_in, settings):
    local = Device("http://127.0.0.1:9/push/a")
    assert post(signed_in, SUBSCRIBE, local.to_json()).status_code == 200
    PushSubscription.objects.all().delete()
    settings.PUSH_ALLOW_INSECURE_LOCALHOST = False  # production
    assert post(signed_in, SUBSCRIBE, local.to_json()).status_code == 400
    assert post(signed_in, SUBSCRIBE, Device("https://127.0.0.1/push/a").to_json()).status_code == 400
    assert not PushSubscription.objects.exists()


def test_an_eleventh_device_is_refused(signed_in, user):
    for n in range(10):
        assert post(signed_in, SUBSCRIBE, Device(f"{PUSH_ORIGIN}/{n}").to_json()).status_code == 200
    response = post(signed_in, SUBSCRIBE, Device(f"{PUSH_ORIGIN}/eleventh").to_json())
    assert response.status_code == 400 and "10 devices" in response.json()["message"]
    assert PushSubscription.objects.filter(user=user).count() == 10
    # A device already on is still renewed.
    assert post(signed_in, SUBSCRIBE, Device(f"{PUSH_ORIGIN}/3").to_json()).status_code == 200


def test_a_suspended_person_cannot_turn_push_on(signed_in, user):
    user.is_suspended = True
    user.save(update_fields=["is_suspended"])
    response = post(signed_in, SUBSCRIBE, Device(f"{PUSH_ORIGIN}/a").to_json())
    assert response.status_code == 403
    assert not PushSubscription.objects.exists()


def test_with_push_off_the_settings_page_has_no_switch_and_nothing_is_stored(signed_in, settings):
    page = signed_in.get(reverse("accounts:notification_settings")).content.decode()
    assert "data-push-settings" in page and settings.VAPID_PUBLIC_KEY in page
    for kind in PUSH_KINDS:
        assert f'value="{kind}"' in page
    settings.PUSH_ENABLED = False
    page = signed_in.get(reverse("accounts:notification_settings")).content.decode()
    assert "data-push-settings" not in page
    assert post(signed_in, SUBSCRIBE, Device(f"{PUSH_ORIGIN}/a").to_json()).status_code == 403
    assert not PushSubscription.objects.exists()


def test_vapid_keys_prints_a_matching_pair(capsys):
    call_command("vapid_keys")
    lines = dict(line.split("=", 1) for line in capsys.readouterr().out.split())
    assert public_key_of(lines["VAPID_PRIVATE_KEY"]) == lines["VAPID_PUBLIC_KEY"]
    assert len(lines["VAPID_PUBLIC_KEY"]) == 87  # 65 bytes, base64url without padding


def test_signing_out_turns_push_off_for_the_devices_turned_on_in_that_browser(client, user):
    """A shared phone: whoever signs in there next must get none of this person's notices."""
    sign_in(client, user)
    phone = Device(f"{PUSH_ORIGIN}/phone")
    assert post(client, SUBSCRIBE, phone.to_json()).status_code == 200
    # Another browser of theirs, and another person's device, stay.
    laptop = Device(f"{PUSH_ORIGIN}/laptop")
    push_subscription_save(user=user, endpoint=laptop.endpoint, keys=laptop.to_json()["keys"])
    other = UserFactory()
    theirs = Device(f"{PUSH_ORIGIN}/theirs")
    push_subscription_save(user=other, endpoint=theirs.endpoint, keys=theirs.to_json()["keys"])

    response = client.post(reverse("account_logout"))

    assert response.status_code == 302
    assert sorted(PushSubscription.objects.values_list("endpoint", flat=True)) == sorted(
        [laptop.endpoint, theirs.endpoint]
    )


def test_a_device_turned_off_is_not_remembered_for_signing_out(client, user):
    sign_in(client, user)
    phone = Device(f"{PUSH_ORIGIN}/phone")
    post(client, SUBSCRIBE, phone.to_json())
    post(client, UNSUBSCRIBE, {"endpoint": phone.endpoint})
    assert client.session.get(SESSION_ENDPOINTS) == []
    # Turned on again from another browser: signing out here leaves it alone.
    push_subscription_save(user=user, endpoint=phone.endpoint, keys=phone.to_json()["keys"])
    client.post(reverse("account_logout"))
    assert PushSubscription.objects.filter(endpoint=phone.endpoint).exists()


def test_signing_out_everywhere_turns_push_off_on_every_device(client, user):
    sign_in(client, user)
    for name in ("phone", "laptop"):
        device = Device(f"{PUSH_ORIGIN}/{name}")
        push_subscription_save(user=user, endpoint=device.endpoint, keys=device.to_json()["keys"])
    other = UserFactory()
    theirs = Device(f"{PUSH_ORIGIN}/theirs")
    push_subscription_save(user=other, endpoint=theirs.endpoint, keys=theirs.to_json()["keys"])

    client.post(reverse("accounts:sign_out_everywhere"))

    assert list(PushSubscription.objects.values_list("user_id", flat=True)) == [other.pk]


def test_the_development_pair_is_made_once_and_kept(tmp_path):
    """`make run` (local settings) pushes with no set-up: the pair is made on first use, kept
    readable by its owner only, and the same on every start (browsers' subscriptions depend on it)."""
    path = tmp_path / "vapid-development-keys.json"
    first = development_pair(path)
    assert public_key_of(first.private_key) == first.public_key
    assert path.stat().st_mode & 0o777 == 0o600
    assert development_pair(path) == first
    path.write_text("{not json")
    replaced = development_pair(path)
    assert replaced != first and development_pair(path) == replaced
