"""Web Push, end to end against a push service of the tests' own (tests/accounts/push_service.py).

What brings people back reaches their devices: a followed host going live, a reminder's room
starting, an invitation, the room of a ticket they hold starting. Each push is signed with the site's
VAPID key (ES256, `aud` the push service's origin), encrypted for the device (aes128gcm, decrypted
here with the device's private key), carries a TTL that fits the notice and `Urgency: high` for a
live room, and goes to each device once per notice however often the beat runs. A device the push
service no longer knows is forgotten; a push service that fails is tried again, a bounded number of
times; one that hangs is given up on after PUSH_TIMEOUT_S.
"""

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import Notification, NotificationPreference, PushDelivery, PushSubscription
from accounts.services import (
    PushRetry,
    follow_create,
    push_delivery_send,
    push_subscription_save,
    user_delete_account,
    user_suspend,
)
from accounts.services.push import LATER_TTL_S, NOW_TTL_S, PUSH_MAX_ATTEMPTS
from rooms.models import Reminder, Room, Ticket
from rooms.services import notices_send_due, room_invite, room_live_notify
from spaces_project.celery import app as celery_app
from tests.factories import PASSWORD, RoomFactory, UserFactory

from .push_service import Device, PushService, vapid_claims

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def push_service():
    service = PushService()
    yield service
    service.close()


def subscribe(user, push_service, name: str = "phone", kinds=None) -> Device:
    device = Device(push_service.endpoint(f"{name}-{user.pk}"))
    push_subscription_save(user=user, endpoint=device.endpoint, keys=device.to_json()["keys"], kinds=kinds)
    return device


def assert_signed_and_encrypted(received, push_service) -> None:
    claims = vapid_claims(received, public_key=settings.VAPID_PUBLIC_KEY)
    assert claims["aud"] == push_service.origin
    assert claims["sub"] == settings.VAPID_SUBJECT
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert received.headers["content-encoding"] == "aes128gcm"


def test_a_followed_host_going_live_reaches_the_followers_phone(
    push_service, django_capture_on_commit_callbacks
):
    host = UserFactory(display_name="Grace")
    fan = UserFactory()
    follow_create(follower=fan, followee=host)
    phone = subscribe(fan, push_service)
    room = RoomFactory(host=host, title="What is in the sky tonight")

    with django_capture_on_commit_callbacks(execute=True):
        room_live_notify(room_id=room.pk)

    [push] = push_service.to(phone)
    assert_signed_and_encrypted(push, push_service)
    # Going live is worth 15 minutes, and a live room is urgent.
    assert NOW_TTL_S - 60 <= int(push.headers["ttl"]) <= NOW_TTL_S
    assert push.headers["urgency"] == "high"
    assert phone.decrypt(push) == {
        "title": "Grace",
        "body": "Grace is live: What is in the sky tonight",
        "url": f"{settings.SITE_URL}/rooms/{room.pk}/?src=push",
        "icon": f"{settings.SITE_URL}{settings.STATIC_URL}icons/icon-192.png",
        "tag": f"room-{room.pk}",
    }
    delivery = PushDelivery.objects.get()
    assert delivery.outcome == "sent" and delivery.done_at is not None
    assert PushSubscription.objects.get().last_success_at is not None


def test_two_beats_push_a_reminder_once_to_each_device(push_service, django_capture_on_commit_callbacks):
    room = RoomFactory(scheduled=True, title="Morning show")
    listener = UserFactory()
    Reminder.objects.create(room=room, user=listener)
    phone, laptop = subscribe(listener, push_service, "phone"), subscribe(listener, push_service, "laptop")
    start = room.scheduled_for + timedelta(seconds=5)

    for beat in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            notices_send_due(now=start + timedelta(seconds=beat * 30))

    for device in (phone, laptop):
        [push] = push_service.to(device)
        assert_signed_and_encrypted(push, push_service)
        assert device.decrypt(push)["body"] == f"Starting now: Morning show with {room.host.name}"
        # Not live yet: worth a quarter of an hour, with normal urgency.
        assert push.headers["urgency"] == "normal" and int(push.headers["ttl"]) <= NOW_TTL_S
    assert len(push_service.requests) == 2


def test_an_invitation_to_a_later_room_is_kept_a_day(push_service, django_capture_on_commit_callbacks):
    room = RoomFactory(scheduled=True, title="Friday jam")
    guest = UserFactory()
    phone = subscribe(guest, push_service)

    with django_capture_on_commit_callbacks(execute=True):
        room_invite(room_id=room.pk, actor=room.host, handle=guest.handle)

    [push] = push_service.to(phone)
    assert LATER_TTL_S - 60 <= int(push.headers["ttl"]) <= LATER_TTL_S
    assert push.headers["urgency"] == "normal"
    payload = phone.decrypt(push)
    assert payload["title"] == room.host.name and "Friday jam" in payload["body"]


def test_the_room_of_a_ticket_held_starting_reaches_the_holder(
    push_service, django_capture_on_commit_callbacks
):
    room = RoomFactory(title="Jazz night", ticket_price=1000, ticket_capacity=10)
    holder = UserFactory()
    Ticket.objects.create(
        room=room,
        buyer=holder,
        amount=1000,
        currency="USD",
        provider="development",
        status=Ticket.Status.PAID,
    )
    follow_create(follower=holder, followee=room.host)  # told once, as a holder, not twice
    phone = subscribe(holder, push_service)

    with django_capture_on_commit_callbacks(execute=True):
        room_live_notify(room_id=room.pk)

    [push] = push_service.to(phone)
    assert push.headers["urgency"] == "high"
    assert phone.decrypt(push)["body"] == "Jazz night has started: your ticket is ready, join now"
    assert Notification.objects.get(recipient=holder).kind == Notification.Kind.TICKET


def test_a_device_is_pushed_only_the_kinds_it_wants(push_service, django_capture_on_commit_callbacks):
    host, fan = UserFactory(), UserFactory()
    follow_create(follower=fan, followee=host)
    phone = subscribe(fan, push_service, kinds=[Notification.Kind.REMINDER])

    with django_capture_on_commit_callbacks(execute=True):
        room_live_notify(room_id=RoomFactory(host=host).pk)

    assert push_service.to(phone) == []
    assert Notification.objects.get(recipient=fan).push_wanted is False


def test_a_device_is_pushed_what_the_bell_and_email_are_off_for(
    push_service, django_capture_on_commit_callbacks
):
    host, fan = UserFactory(), UserFactory()
    follow_create(follower=fan, followee=host)
    NotificationPreference.objects.create(
        user=fan, kind=Notification.Kind.HOST_LIVE, in_app=False, email=False
    )
    phone = subscribe(fan, push_service)

    with django_capture_on_commit_callbacks(execute=True):
        room_live_notify(room_id=RoomFactory(host=host).pk)

    assert len(push_service.to(phone)) == 1
    notice = Notification.objects.get(recipient=fan)
    assert (notice.in_app, notice.email_wanted, notice.push_wanted) == (False, False, True)


@pytest.mark.parametrize("status", [404, 410])
def test_a_device_the_push_service_no_longer_knows_is_forgotten(
    status, push_service, django_capture_on_commit_callbacks
):
    host, fan = UserFactory(), UserFactory()
    follow_create(follower=fan, followee=host)
    phone, laptop = subscribe(fan, push_service, "phone"), subscribe(fan, push_service, "laptop")
    push_service.statuses[phone.endpoint.removeprefix(push_service.origin)] = status

    with django_capture_on_commit_callbacks(execute=True):
        room_live_notify(room_id=RoomFactory(host=host).pk)

    assert list(PushSubscription.objects.values_list("endpoint", flat=True)) == [laptop.endpoint]
    assert len(push_service.to(laptop)) == 1


def test_a_failing_push_service_is_tried_again_then_given_up(
    push_service, django_capture_on_commit_callbacks
):
    host, fan = UserFactory(), UserFactory()
    follow_create(follower=fan, followee=host)
    phone = subscribe(fan, push_service)
    push_service.statuses[phone.endpoint.removeprefix(push_service.origin)] = 503

    with django_capture_on_commit_callbacks(execute=True):
        room_live_notify(room_id=RoomFactory(host=host).pk)
    delivery = PushDelivery.objects.get()
    # Each retry of the task (with backoff, in a worker) tries again, until the limit of attempts.
    for _ in range(PUSH_MAX_ATTEMPTS - 1):
        with pytest.raises(PushRetry):
            push_delivery_send(delivery_id=delivery.pk)
    assert push_delivery_send(delivery_id=delivery.pk) == "given up"

    assert len(push_service.to(phone)) == PUSH_MAX_ATTEMPTS
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.outcome) == (PUSH_MAX_ATTEMPTS, "given up")
    assert PushSubscription.objects.filter(pk=delivery.subscription_id).exists()  # the device stays
    push_service.statuses.clear()
    assert push_delivery_send(delivery_id=delivery.pk) == "skipped"  # given up is done


def test_a_push_service_that_hangs_is_given_up_on_in_bounded_time(push_service, settings):
    settings.PUSH_TIMEOUT_S = 0.5
    push_service.hang_s = 30
    fan = UserFactory()
    phone = subscribe(fan, push_service)
    notice = Notification.objects.create(
        recipient=fan, kind=Notification.Kind.HOST_LIVE, text="x", url="/", push_wanted=True
    )
    delivery = PushDelivery.objects.create(subscription=PushSubscription.objects.get(), notification=notice)

    began = time.monotonic()
    with pytest.raises(PushRetry):
        push_delivery_send(delivery_id=delivery.pk)
    # Without a timeout this waits the 30 s the service hangs.
    assert time.monotonic() - began < 10
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.done_at) == (1, None)
    assert len(push_service.to(phone)) == 1


def test_a_notice_whose_room_is_over_is_not_pushed(push_service):
    fan = UserFactory()
    subscribe(fan, push_service)
    room = RoomFactory()
    Room.objects.filter(pk=room.pk).update(state=Room.State.ENDED, ended_at=timezone.now())
    notice = Notification.objects.create(
        recipient=fan, kind=Notification.Kind.HOST_LIVE, room=room, text="x", url="/", push_wanted=True
    )
    delivery = PushDelivery.objects.create(subscription=PushSubscription.objects.get(), notification=notice)

    assert push_delivery_send(delivery_id=delivery.pk) == "expired"
    assert push_delivery_send(delivery_id=delivery.pk) == "skipped"  # done: never sent later
    assert push_service.requests == []


def test_a_suspended_persons_devices_are_forgotten(push_service):
    person = UserFactory()
    subscribe(person, push_service, "phone")
    subscribe(person, push_service, "laptop")
    other = UserFactory()
    subscribe(other, push_service)

    user_suspend(user=person, reason="spam")

    assert list(PushSubscription.objects.values_list("user_id", flat=True)) == [other.pk]


def test_a_deleted_persons_devices_go_with_them(push_service, django_capture_on_commit_callbacks):
    person = UserFactory()
    subscribe(person, push_service)
    with django_capture_on_commit_callbacks(execute=True):
        user_delete_account(user=person, password=PASSWORD)
    assert not PushSubscription.objects.exists()


def test_a_push_service_that_hangs_never_holds_up_the_bell_or_the_email(
    push_service, settings, django_capture_on_commit_callbacks, mailoutbox
):
    settings.PUSH_TIMEOUT_S = 0.5
    push_service.hang_s = 30
    host, fan = UserFactory(display_name="Grace"), UserFactory()
    follow_create(follower=fan, followee=host)
    phone = subscribe(fan, push_service)

    # The notice is made in the caller's transaction without a word to the push service; the email
    # and the push are tasks of their own, queued after it commits.
    began = time.monotonic()
    with django_capture_on_commit_callbacks() as queued:
        room_live_notify(room_id=RoomFactory(host=host).pk)
    assert time.monotonic() - began < 5
    assert push_service.requests == []
    notice = Notification.objects.get(recipient=fan)
    assert notice.in_app and notice.email_wanted and notice.push_wanted
    # The tasks run (here eagerly, in order): the email has gone out, and the push waits for a task
    # of its own (one per device, bounded by PUSH_TIMEOUT_S: the test above).
    for task in queued:
        task()
    assert [message.to for message in mailoutbox] == [[fan.email]]
    assert push_service.to(phone) == []
    delivery = PushDelivery.objects.get()
    assert delivery.done_at is None and delivery.attempts == 0


def test_pushes_have_a_queue_and_a_worker_of_their_own():
    """However many pushes wait on a dead push service, the emails' worker never sees them."""
    router = celery_app.amqp.router
    assert router.route({}, "accounts.tasks.send_push")["queue"].name == "push"
    default = celery_app.conf.task_default_queue
    for task in ("accounts.tasks.send_notification_emails", "accounts.tasks.send_push_notifications"):
        assert router.route({}, task)["queue"].name == default
    systemd = ROOT / "deploy" / "systemd"
    assert " --queues push " in (systemd / "spaces-push-worker.service").read_text()
    assert "--queues" not in (systemd / "spaces-worker.service").read_text()  # the default queue only
    assert "spaces-push-worker.service" in (systemd / "spaces.target").read_text()
