"""Notification emails whose task was lost or given up (tests/faults/ kills the workers for real)."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts import services
from accounts.models import Notification
from accounts.tasks import redispatch_pending_emails, send_notification_emails
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def wanting_email(recipient) -> Notification:
    return Notification.objects.create(
        recipient=recipient, kind="host_live", text="Ada is live: Jazz", url="/rooms/1/", email_wanted=True
    )


def test_emails_whose_task_was_lost_are_queued_again_and_sent_once(settings):
    settings.NOTIFICATION_EMAIL_STUCK_AFTER_S = 600
    fresh, lost = wanting_email(UserFactory()), wanting_email(UserFactory())
    Notification.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(minutes=11))
    assert redispatch_pending_emails() == 1  # without a broker the task runs here
    assert [m.to[0] for m in mail.outbox] == [lost.recipient.email]
    assert Notification.objects.get(pk=lost.pk).emailed_at is not None
    assert Notification.objects.get(pk=fresh.pk).emailed_at is None  # may still be on its way
    assert redispatch_pending_emails() == 0
    assert send_notification_emails([lost.pk]) == 0  # delivered again: nothing twice
    assert len(mail.outbox) == 1


def test_a_given_up_task_decides_its_emails_so_nothing_queues_them_for_ever():
    sent, stuck = wanting_email(UserFactory()), wanting_email(UserFactory())
    send_notification_emails([sent.pk])
    assert services.notification_emails_give_up(notification_ids=[sent.pk, stuck.pk], reason="test") == 1
    assert Notification.objects.filter(email_wanted=True, emailed_at__isnull=True).count() == 0
    assert [m.to[0] for m in mail.outbox] == [sent.recipient.email]
