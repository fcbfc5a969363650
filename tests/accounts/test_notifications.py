"""Notifications: once per key, each kind switchable in the app and by email, emails with a
one-click unsubscribe, a follow notice at most once per pair per day, display names on one line."""

from datetime import timedelta

import pytest
from django.core import mail, signing
from django.db import IntegrityError
from django.urls import reverse
from django.utils import timezone

from accounts import selectors, services
from accounts.models import Notification, NotificationPreference
from spaces_project.errors import ServiceError
from tests.factories import UserFactory

from .conftest import csrf_token, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run what services queue for after commit (emails, live pushes), as a real commit would."""

    def run(action, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return action(*args, **kwargs)

    return run


def reminders_for(person) -> list[Notification]:
    return list(Notification.objects.filter(recipient=person, kind=Notification.Kind.REMINDER))


def test_a_key_notifies_each_person_once_however_often_it_is_sent(user, other_user, on_commit):
    for _ in range(3):
        on_commit(
            services.notify,
            recipients=[user.pk, other_user.pk, user.pk],
            kind=Notification.Kind.REMINDER,
            text="Starting now",
            url="/rooms/1/",
            key="reminder:1:0",
        )
    assert len(reminders_for(user)) == 1 and len(reminders_for(other_user)) == 1
    # Reminders email by default: one email each, not three.
    assert sorted(m.to[0] for m in mail.outbox) == sorted([user.email, other_user.email])


def test_the_database_refuses_a_second_notification_for_a_key(user):
    Notification.objects.create(recipient=user, kind="reminder", text="a", dedupe_key="k")
    with pytest.raises(IntegrityError):
        Notification.objects.create(recipient=user, kind="reminder", text="b", dedupe_key="k")


def test_email_carries_a_link_and_a_one_click_unsubscribe(user, on_commit):
    on_commit(
        services.notify,
        recipients=[user.pk],
        kind=Notification.Kind.ROOM_INVITE,
        text="Ada invited you to Tea time",
        url="/rooms/7/",
    )
    [email] = mail.outbox
    assert email.subject == "Spaces: Ada invited you to Tea time"
    assert "http://testserver/rooms/7/" in email.body
    unsubscribe = email.extra_headers["List-Unsubscribe"]
    assert unsubscribe.startswith("<http://testserver/notifications/unsubscribe/") and unsubscribe.endswith(
        ">"
    )
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe[1:-1] in email.body
    message = email.message()
    assert message["List-Unsubscribe"] == unsubscribe


def _unsubscribe_path(email) -> str:
    return email.extra_headers["List-Unsubscribe"][1:-1].removeprefix("http://testserver")


def test_one_click_unsubscribe_stops_that_kind_of_email_without_signing_in(user, client, on_commit):
    on_commit(services.notify, recipients=[user.pk], kind=Notification.Kind.HOST_LIVE, text="Ada is live")
    path = _unsubscribe_path(mail.outbox[0])

    # A mail program's one-click POST: no session, no CSRF token (RFC 8058).
    response = client.post(path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert NotificationPreference.objects.get(user=user, kind="host_live").email is False
    mail.outbox.clear()
    on_commit(
        services.notify, recipients=[user.pk], kind=Notification.Kind.HOST_LIVE, text="Ada is live again"
    )
    assert mail.outbox == []
    # Still shown in the app, and other kinds still email.
    assert selectors.unread_notification_count(user=user) == 2
    on_commit(services.notify, recipients=[user.pk], kind=Notification.Kind.REMINDER, text="Starting")
    assert len(mail.outbox) == 1


def test_opening_the_unsubscribe_link_only_asks(user, client, on_commit):
    on_commit(services.notify, recipients=[user.pk], kind=Notification.Kind.HOST_LIVE, text="Ada is live")
    response = client.get(_unsubscribe_path(mail.outbox[0]))
    # Link scanners open links: a GET changes nothing.
    assert response.status_code == 200 and b"Unsubscribe</button>" in response.content
    assert not NotificationPreference.objects.filter(user=user).exists()


@pytest.mark.parametrize(
    "token",
    [
        "nonsense",
        signing.dumps([1, "host_live"], salt="another.salt"),
        signing.dumps([1, "host_live"]) + "x",
    ],
)
def test_a_forged_unsubscribe_link_is_refused_and_changes_nothing(db, client, token):
    response = client.post(reverse("accounts:unsubscribe", args=[token]))
    assert response.status_code == 403
    assert b"not valid" in response.content
    assert not NotificationPreference.objects.exists()


def test_a_tampered_unsubscribe_link_for_another_person_is_refused(user, other_user, client):
    token = services.unsubscribe_token(user_id=user.pk, kind="host_live")
    payload, rest = token.split(":", 1)
    forged = signing.b64_encode(f'[{other_user.pk},"host_live"]'.encode()).decode() + ":" + rest
    assert client.post(reverse("accounts:unsubscribe", args=[forged])).status_code == 403
    assert not NotificationPreference.objects.exists()


def test_in_app_switched_off_hides_the_kind_but_email_still_comes(user, on_commit):
    services.notification_preferences_set(user=user, choices={"reminder": (False, True)})
    on_commit(services.notify, recipients=[user.pk], kind=Notification.Kind.REMINDER, text="Quietly")
    assert selectors.unread_notification_count(user=user) == 0
    assert list(selectors.notifications_for(user=user)) == []
    assert len(mail.outbox) == 1


def test_both_switched_off_makes_nothing(user, on_commit):
    services.notification_preferences_set(user=user, choices={"reminder": (False, False)})
    assert on_commit(services.notify, recipients=[user.pk], kind="reminder", text="Nothing") == []
    assert not Notification.objects.exists() and mail.outbox == []


def test_an_email_switched_off_after_the_notification_was_made_is_not_sent(
    user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.notify(recipients=[user.pk], kind=Notification.Kind.REMINDER, text="Later")
    services.notification_preferences_set(user=user, choices={"reminder": (True, False)})
    for callback in callbacks:
        callback()
    assert mail.outbox == []
    assert Notification.objects.get(recipient=user).emailed_at is not None


def test_emails_are_sent_once_even_when_the_task_runs_twice(user, on_commit):
    [pk] = on_commit(services.notify, recipients=[user.pk], kind="reminder", text="Once")
    assert services.notification_emails_send(notification_ids=[pk]) == 0
    assert len(mail.outbox) == 1


def test_settings_page_saves_each_kind_for_app_and_email(csrf_client, user):
    sign_in(csrf_client, user)
    url = reverse("accounts:notification_settings")
    token = csrf_token(csrf_client, url)
    data = {"csrfmiddlewaretoken": token}
    for kind in Notification.Kind.values:
        data[f"{kind}_in_app"] = "on"
    data["new_follower_email"] = "on"  # off by default; every other email switched off here
    response = csrf_client.post(url, data)
    assert response.status_code == 302
    saved = {
        kind: (choice.in_app, choice.email)
        for kind, _, choice in selectors.notification_preferences(user=user)
    }
    assert saved == {kind: (True, kind == "new_follower") for kind in Notification.Kind.values}
    page = csrf_client.get(url).content.decode()
    assert 'name="new_follower_email" id="id_new_follower_email" checked' in page


def test_follow_notice_at_most_once_per_pair_per_day(user, other_user, on_commit):
    for _ in range(4):
        on_commit(services.follow_create, follower=other_user, followee=user)
        services.follow_delete(follower=other_user, followee=user)
    assert Notification.objects.filter(recipient=user, kind="new_follower").count() == 1
    # Someone else following is news.
    on_commit(services.follow_create, follower=UserFactory(), followee=user)
    assert Notification.objects.filter(recipient=user, kind="new_follower").count() == 2


def test_follow_notice_comes_again_the_next_day(user, other_user, on_commit, monkeypatch):
    on_commit(services.follow_create, follower=other_user, followee=user)
    services.follow_delete(follower=other_user, followee=user)
    tomorrow = timezone.now() + timedelta(days=1)
    monkeypatch.setattr(timezone, "now", lambda: tomorrow)
    on_commit(services.follow_create, follower=other_user, followee=user)
    assert Notification.objects.filter(recipient=user, kind="new_follower").count() == 2


@pytest.mark.parametrize(
    "name",
    ["Ada\nLovelace", "Ada\rBcc: x@example.com", "Tab\there", "Nul\x00", "Line\u2028sep", "Bidi\u202ename"],
)
def test_display_names_cannot_carry_control_characters(user, name):
    with pytest.raises(ServiceError) as refused:
        services.user_update_profile(user=user, display_name=name, bio="")
    assert refused.value.field == "display_name"
    user.refresh_from_db()
    assert user.display_name != name


def test_emoji_names_are_still_fine(user):
    services.user_update_profile(user=user, display_name="Ada 👩‍💻", bio="line one\nline two")
    user.refresh_from_db()
    assert user.display_name == "Ada 👩‍💻" and user.bio == "line one\nline two"


def test_the_profile_form_explains_the_refusal(csrf_client, user):
    sign_in(csrf_client, user)
    url = reverse("accounts:profile_edit")
    token = csrf_token(csrf_client, url)
    response = csrf_client.post(url, {"csrfmiddlewaretoken": token, "display_name": "Two\nlines", "bio": ""})
    assert response.status_code == 200
    assert "line breaks" in str(response.context["form"].errors["display_name"])


def test_a_name_saved_before_the_rule_does_not_kill_the_going_live_email(user, other_user, on_commit):
    # Such names exist from before (the migration cleans them; a raw write can still make one).
    type(user).objects.filter(pk=other_user.pk).update(display_name="Evil\nBcc: everyone@example.com")
    other_user.refresh_from_db()
    on_commit(
        services.notify,
        recipients=[user.pk],
        kind=Notification.Kind.HOST_LIVE,
        text=f"{other_user.name} is live: Tea",
    )
    [email] = mail.outbox
    assert email.subject == "Spaces: Evil Bcc: everyone@example.com is live: Tea"
    assert email.recipients() == [user.email]
