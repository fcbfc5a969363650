"""Notification emails go out once each, whatever happens to the task that sends them."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts import services
from accounts.models import Notification
from accounts.services import follow_create
from accounts.tasks import redispatch_pending_emails, send_notification_emails
from rooms import services as room_services
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def pending(recipient, **fields) -> Notification:
    return Notification.objects.create(
        recipient=recipient,
        kind="host_live",
        text="Ada is live: Jazz",
        url="/rooms/1/",
        email_status="pending",
        **fields,
    )


def test_going_live_queues_one_email_per_follower_and_they_go_out_once(django_capture_on_commit_callbacks):
    host, fans = UserFactory(), [UserFactory(), UserFactory()]
    for fan in fans:
        follow_create(follower=fan, followee=host)
    with django_capture_on_commit_callbacks(execute=True):
        room_services.room_create(host=host, title="Jazz")
    assert sorted(m.to[0] for m in mail.outbox) == sorted(f.email for f in fans)
    assert set(Notification.objects.filter(kind="host_live").values_list("email_status", flat=True)) == {
        "sent"
    }
    ids = list(Notification.objects.filter(kind="host_live").values_list("pk", flat=True))
    assert send_notification_emails(ids) == 0  # delivered again: nothing is sent twice
    assert len(mail.outbox) == 2


def test_read_notifications_and_people_without_email_are_not_emailed():
    read = pending(UserFactory(), read_at=timezone.now())
    no_email = pending(UserFactory(email=""))
    assert send_notification_emails([read.pk, no_email.pk]) == 0
    assert mail.outbox == []
    assert set(Notification.objects.values_list("email_status", flat=True)) == {""}


def test_a_task_given_up_marks_its_emails_failed_not_sent():
    first, second = pending(UserFactory()), pending(UserFactory())
    send_notification_emails([first.pk])
    assert services.notification_emails_fail(notification_ids=[first.pk, second.pk]) == 1
    assert Notification.objects.get(pk=first.pk).email_status == "sent"
    assert Notification.objects.get(pk=second.pk).email_status == "failed"


def test_emails_whose_dispatch_was_lost_are_queued_again(settings):
    settings.NOTIFICATION_EMAIL_STUCK_AFTER_S = 600
    fresh, lost = pending(UserFactory()), pending(UserFactory())
    Notification.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(minutes=11))
    assert redispatch_pending_emails() == 1  # without a broker the task runs here
    assert [m.to[0] for m in mail.outbox] == [lost.recipient.email]
    assert Notification.objects.get(pk=fresh.pk).email_status == "pending"
