"""Times in the reader's zone (issue 28, item 7): a person's `time_zone`, guessed from the browser at
sign-up, changed on the account page, UTC until then; notices and emails write times in it."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts import selectors, services
from accounts.models import Notification, User
from accounts.timezones import format_moment, time_zone_choices, zone_named
from rooms import services as room_services
from spaces_project.errors import ServiceError
from tests.factories import PASSWORD, UserFactory

from .conftest import csrf_token, sign_in

pytestmark = pytest.mark.django_db

# Wednesday 9 December 2026, 19:00 UTC: 20:00 in Paris (CET), 14:00 in New York (EST).
EVENING = datetime(2026, 12, 9, 19, 0, tzinfo=UTC)


def test_a_moment_is_written_in_the_readers_zone_with_its_abbreviation():
    assert format_moment(EVENING, zone_named("Europe/Paris")) == "Wed 9 Dec, 20:00 CET"
    assert format_moment(EVENING, zone_named("America/New_York")) == "Wed 9 Dec, 14:00 EST"
    assert format_moment(EVENING, zone_named("UTC")) == "Wed 9 Dec, 19:00 UTC"
    # Unknown or empty: UTC.
    assert format_moment(EVENING, zone_named("Mars/Olympus")) == "Wed 9 Dec, 19:00 UTC"
    assert format_moment(EVENING, zone_named("")) == "Wed 9 Dec, 19:00 UTC"


def test_a_person_is_in_utc_until_they_choose(user):
    assert user.time_zone == "UTC"
    services.user_set_time_zone(user=user, time_zone="Europe/Paris")
    user.refresh_from_db()
    assert user.time_zone == "Europe/Paris"


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "localtime", "europe/paris", "Europe/Paris "])
def test_a_zone_the_server_does_not_know_is_refused_on_its_field(user, name):
    with pytest.raises(ServiceError) as refused:
        services.user_set_time_zone(user=user, time_zone=name)
    assert (refused.value.code, refused.value.field) == ("bad_time_zone", "time_zone")
    user.refresh_from_db()
    assert user.time_zone == "UTC"


def test_the_list_offers_utc_first_then_places():
    choices = time_zone_choices()
    assert choices[0] == ("UTC", "UTC")
    assert ("America/New_York", "America/New York") in choices
    assert not any(name == "localtime" or name.startswith("Etc/") for name, _ in choices)


# -- sign-up guesses it from the browser -----------------------------------------------------------


def _sign_up(client, **extra):
    token = csrf_token(client, reverse("account_signup"))
    data = {
        "email": "zoe@example.com",
        "username": "zoe",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "csrfmiddlewaretoken": token,
        **extra,
    }
    return client.post(reverse("account_signup"), data)


def test_sign_up_keeps_the_zone_the_browser_gave(csrf_client):
    page = csrf_client.get(reverse("account_signup")).content.decode()
    assert 'name="time_zone"' in page and "data-browser-time-zone" in page
    assert "js/time-zone.js" in page
    response = _sign_up(csrf_client, time_zone="Asia/Tokyo")
    assert response.status_code == 302
    assert User.objects.get(handle="zoe").time_zone == "Asia/Tokyo"


@pytest.mark.parametrize("sent", [{}, {"time_zone": "Not/AZone"}])
def test_sign_up_without_a_zone_or_with_a_bad_one_is_utc(csrf_client, sent):
    response = _sign_up(csrf_client, **sent)
    assert response.status_code == 302
    assert User.objects.get(handle="zoe").time_zone == "UTC"


# -- the account page ---------------------------------------------------------------------------------


def test_the_account_page_changes_the_zone(csrf_client, user):
    sign_in(csrf_client, user)
    url = reverse("accounts:settings")
    page = csrf_client.get(url).content.decode()
    assert 'id="time-zone"' in page and '<option value="UTC" selected>UTC</option>' in page
    token = csrf_client.cookies["csrftoken"].value
    response = csrf_client.post(
        reverse("accounts:time_zone"), {"time_zone": "Europe/Paris", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302 and response["Location"] == f"{url}#time-zone"
    user.refresh_from_db()
    assert user.time_zone == "Europe/Paris"
    page = csrf_client.get(url).content.decode()
    assert '<option value="Europe/Paris" selected>Europe/Paris</option>' in page
    assert "Times in emails and notifications are now in Europe/Paris." in page

    response = csrf_client.post(
        reverse("accounts:time_zone"), {"time_zone": "Nowhere", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 400
    assert "time_zone" in response.context["time_zone_form"].errors
    user.refresh_from_db()
    assert user.time_zone == "Europe/Paris"


# -- notices and emails ------------------------------------------------------------------------------


def test_an_invitation_reads_in_each_invitees_zone(django_capture_on_commit_callbacks):
    host = UserFactory(display_name="Hana")
    paris, in_utc_person = UserFactory(time_zone="Europe/Paris"), UserFactory()
    services.follow_create(follower=host, followee=paris)
    when = timezone.now().replace(microsecond=0) + timedelta(days=2)
    room = room_services.room_create(host=host, title="Jazz night", start_now=False, scheduled_for=when)
    with django_capture_on_commit_callbacks(execute=True):
        room_services.room_invite(room_id=room.pk, actor=host, handle=paris.handle)
        room_services.room_invite(room_id=room.pk, actor=host, handle=in_utc_person.handle)
    in_paris = Notification.objects.get(recipient=paris, kind=Notification.Kind.ROOM_INVITE)
    in_utc = Notification.objects.get(recipient=in_utc_person, kind=Notification.Kind.ROOM_INVITE)
    assert (
        in_paris.text == f"Hana invited you to Jazz night, {format_moment(when, zone_named('Europe/Paris'))}"
    )
    assert in_utc.text == f"Hana invited you to Jazz night, {format_moment(when, UTC)}"
    assert in_paris.text.endswith(("CET", "CEST")) and in_utc.text.endswith("UTC")
    # The email says what the notice says.
    email = next(message for message in mail.outbox if message.to == [paris.email])
    assert in_paris.text in email.body


def test_one_notice_to_many_people_reads_in_each_ones_zone(user, other_user):
    services.user_set_time_zone(user=other_user, time_zone="America/New_York")
    services.notify(
        recipients=[user.pk, other_user.pk],
        kind=Notification.Kind.REMINDER,
        text=lambda zone: f"Starts {format_moment(EVENING, zone)}",
    )
    texts = dict(Notification.objects.values_list("recipient_id", "text"))
    assert texts == {user.pk: "Starts Wed 9 Dec, 19:00 UTC", other_user.pk: "Starts Wed 9 Dec, 14:00 EST"}


def test_a_suspension_ends_in_the_persons_zone(user):
    user.suspended_until = EVENING
    user.time_zone = "Europe/Paris"
    assert (
        selectors.suspension_message(user=user)
        == "Your account is suspended until 09 December 2026, 20:00 CET."
    )
