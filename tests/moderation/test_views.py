import pytest
from django.urls import reverse

from accounts.services import block_create
from moderation.models import Report
from recordings.models import Recording
from tests.factories import PASSWORD, RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


def _url(target_type, target_id):
    return reverse("moderation:create", args=[target_type, target_id])


def _sign_in(client, user):
    assert client.login(handle=user.handle, password=PASSWORD)


def _post(client, url, data):
    client.get(url)
    return client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def test_anonymous_is_sent_to_sign_in(client, room):
    url = _url("room", room.pk)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert "next=" in response["Location"]


def test_form_shows_what_is_reported_and_the_reasons(client, user):
    room = RoomFactory(title="Crypto moon talk")
    _sign_in(client, user)
    response = client.get(_url("room", room.pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Crypto moon talk" in page and f"@{room.host.handle}" in page
    assert 'type="radio"' in page and "Hateful conduct" in page


def test_reporting_a_room_redirects_back_with_thanks(csrf_client, user, room):
    _sign_in(csrf_client, user)
    response = _post(csrf_client, _url("room", room.pk), {"reason": "spam", "note": "Links everywhere"})
    assert response.status_code == 302
    assert response["Location"] == reverse("rooms:detail", args=[room.pk])
    report = Report.objects.get()
    assert (report.reporter, report.target_room, report.reason, report.note) == (
        user,
        room,
        "spam",
        "Links everywhere",
    )
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == ["Thanks, our moderators will look at it."]


def test_reporting_a_user_redirects_to_their_profile(csrf_client, user, other_user):
    _sign_in(csrf_client, user)
    response = _post(csrf_client, _url("user", other_user.pk), {"reason": "impersonation", "note": ""})
    assert response["Location"] == reverse("accounts:profile", args=[other_user.handle])
    assert Report.objects.get().target_user == other_user


def test_reporting_a_recording_redirects_to_its_room(csrf_client, user):
    recording = Recording.objects.create(room=RoomFactory(), status=Recording.Status.READY)
    _sign_in(csrf_client, user)
    response = _post(csrf_client, _url("recording", recording.pk), {"reason": "hate"})
    assert response["Location"] == reverse("rooms:detail", args=[recording.room_id])
    assert Report.objects.get().target_recording == recording


def test_post_without_csrf_token_is_forbidden(csrf_client, user, room):
    _sign_in(csrf_client, user)
    response = csrf_client.post(_url("room", room.pk), {"reason": "spam"})
    assert response.status_code == 403
    assert not Report.objects.exists()


def test_missing_reason_shows_an_error(csrf_client, user, room):
    _sign_in(csrf_client, user)
    response = _post(csrf_client, _url("room", room.pk), {"note": "hm"})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not Report.objects.exists()


def test_second_report_of_the_same_target_updates_the_first(csrf_client, user, room):
    _sign_in(csrf_client, user)
    _post(csrf_client, _url("room", room.pk), {"reason": "spam"})
    response = _post(csrf_client, _url("room", room.pk), {"reason": "hate", "note": "Worse now."})
    assert response.status_code == 302
    report = Report.objects.get()
    assert (report.reason, report.note) == ("hate", "Worse now.")


def test_reporting_yourself_shows_an_error(csrf_client, user):
    _sign_in(csrf_client, user)
    response = _post(csrf_client, _url("user", user.pk), {"reason": "spam"})
    assert response.status_code == 200
    assert "You cannot report yourself." in response.content.decode()
    assert not Report.objects.exists()


@pytest.mark.parametrize("target_type", ["tag", "room", "user", "recording"])
def test_unknown_type_or_missing_target_is_404(client, user, target_type):
    _sign_in(client, user)
    assert client.get(_url(target_type, 987_654)).status_code == 404


def test_room_hidden_by_a_block_is_404(csrf_client, user):
    room = RoomFactory()
    block_create(blocker=room.host, blocked=user)
    _sign_in(csrf_client, user)
    assert csrf_client.get(_url("room", room.pk)).status_code == 404
    # Even a hand-made POST with a valid token cannot reach it.
    other_room = RoomFactory()
    csrf_client.get(_url("room", other_room.pk))
    response = csrf_client.post(
        _url("room", room.pk),
        {"reason": "spam", "csrfmiddlewaretoken": csrf_client.cookies["csrftoken"].value},
    )
    assert response.status_code == 404
    assert not Report.objects.exists()


def test_inactive_user_is_404(client, user):
    _sign_in(client, user)
    assert client.get(_url("user", UserFactory(is_active=False).pk)).status_code == 404
