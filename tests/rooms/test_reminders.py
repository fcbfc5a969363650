"""Reminders, the host's 30-minute notice, rescheduling and cancelling, going-live notices: who is
told what, when, and never twice."""

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification
from accounts.services import block_create, follow_create
from rooms import services
from rooms.models import Reminder, Room
from spaces_project.errors import NotFound, ServiceError
from tests.factories import RoomFactory, UserFactory

from .conftest import csrf_post

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a service and what it queues for after commit (tasks, emails, live pushes)."""

    def run(action, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return action(*args, **kwargs)

    return run


@pytest.fixture
def scheduled(user):
    return services.room_create(
        host=user, title="Tea at five", start_now=False, scheduled_for=timezone.now() + 2 * HOUR
    )


def notes(person, kind=Notification.Kind.REMINDER) -> list[str]:
    return list(
        Notification.objects.filter(recipient=person, kind=kind).order_by("pk").values_list("text", flat=True)
    )


def move_start(room: Room, when) -> None:
    """Time passes: the room's start is now `when` (no service: nothing is announced)."""
    Room.objects.filter(pk=room.pk).update(scheduled_for=when)
    room.refresh_from_db()


# -- setting reminders ---------------------------------------------------------------------------


def test_a_listener_sets_a_reminder_once_and_takes_it_back(scheduled, other_user):
    assert services.reminder_set(room_id=scheduled.pk, user=other_user) is True
    assert services.reminder_set(room_id=scheduled.pk, user=other_user) is False
    assert Reminder.objects.filter(room=scheduled).count() == 1
    assert services.reminder_delete(room_id=scheduled.pk, user=other_user) is True
    assert not Reminder.objects.exists()


def test_a_reminder_on_a_room_you_may_not_see_is_refused_and_nothing_saved(scheduled, other_user):
    block_create(blocker=scheduled.host, blocked=other_user)
    with pytest.raises(NotFound):
        services.reminder_set(room_id=scheduled.pk, user=other_user)
    with pytest.raises(NotFound):
        services.reminder_set(room_id=987654, user=other_user)
    assert not Reminder.objects.exists()


@pytest.mark.parametrize("state", ["live", "ended", "cancelled"])
def test_reminders_are_for_rooms_that_have_not_started(other_user, state):
    times = {
        "live": {},
        "ended": {"ended_at": timezone.now()},
        "cancelled": {"started_at": None, "scheduled_for": timezone.now() + HOUR},
    }
    room = RoomFactory(state=state, **times[state])
    with pytest.raises(ServiceError) as refused:
        services.reminder_set(room_id=room.pk, user=other_user)
    assert refused.value.code == "not_scheduled"
    assert not Reminder.objects.exists()


def test_the_host_does_not_set_a_reminder_on_their_own_room(scheduled):
    with pytest.raises(ServiceError):
        services.reminder_set(room_id=scheduled.pk, user=scheduled.host)
    assert not Reminder.objects.exists()


def test_blocking_drops_reminders_both_ways(scheduled, other_user):
    services.reminder_set(room_id=scheduled.pk, user=other_user)
    block_create(blocker=other_user, blocked=scheduled.host)
    assert not Reminder.objects.exists()


def test_room_page_set_reminder_button_and_host_count(client, scheduled, other_user):
    client.force_login(other_user)
    page = client.get(reverse("rooms:detail", args=[scheduled.pk])).content.decode()
    assert "Set reminder</button>" in page and "Add to calendar" in page
    response = csrf_post(client, reverse("rooms:reminder_set", args=[scheduled.pk]))
    assert response.status_code == 302
    page = client.get(reverse("rooms:detail", args=[scheduled.pk])).content.decode()
    assert "Reminder set" in page and "Remove reminder" in page
    client.force_login(scheduled.host)
    page = client.get(reverse("rooms:detail", args=[scheduled.pk])).content.decode()
    assert 'data-testid="reminder-count">1</strong>' in page and "Set reminder</button>" not in page


def test_room_page_reminder_of_a_hidden_room_is_404(client, scheduled, other_user):
    block_create(blocker=other_user, blocked=scheduled.host)
    client.force_login(other_user)
    assert csrf_post(client, reverse("rooms:reminder_set", args=[scheduled.pk]), page="/").status_code == 404
    assert not Reminder.objects.exists()


# -- firing at the start time --------------------------------------------------------------------


def test_reminders_fire_at_the_start_time_once(scheduled, committed):
    fans = [UserFactory(), UserFactory()]
    for fan in fans:
        services.reminder_set(room_id=scheduled.pk, user=fan)
    assert committed(services.notices_send_due) == 0  # not yet
    move_start(scheduled, timezone.now() - timedelta(seconds=5))
    assert committed(services.notices_send_due) == 2
    assert committed(services.notices_send_due) == 0  # a second tick over the same minute
    for fan in fans:
        assert notes(fan) == [f"Starting now: Tea at five with {scheduled.host.name}"]
        assert Notification.objects.get(recipient=fan).url == f"/rooms/{scheduled.pk}/"
    assert sorted(m.to[0] for m in mail.outbox) == sorted(f.email for f in fans)


def test_a_reminder_an_hour_late_is_dropped_not_sent(scheduled, other_user, committed):
    services.reminder_set(room_id=scheduled.pk, user=other_user)
    move_start(scheduled, timezone.now() - 2 * HOUR)
    assert committed(services.notices_send_due) == 0
    assert notes(other_user) == []
    assert Reminder.objects.get().notified_at is not None


def test_the_host_is_told_30_minutes_before_once(scheduled, committed):
    host = scheduled.host
    move_start(scheduled, timezone.now() + timedelta(minutes=31))
    committed(services.notices_send_due)
    assert notes(host) == []
    move_start(scheduled, timezone.now() + timedelta(minutes=29, seconds=50))
    committed(services.notices_send_due)
    committed(services.notices_send_due)
    assert notes(host) == ["Your room Tea at five starts in 30 minutes"]
    assert [m.to for m in mail.outbox] == [[host.email]]


def test_a_room_scheduled_less_than_30_minutes_ahead_sends_its_host_no_notice(user, committed):
    committed(
        services.room_create,
        host=user,
        title="Soon",
        start_now=False,
        scheduled_for=timezone.now() + timedelta(minutes=10),
    )
    committed(services.notices_send_due)
    assert notes(user) == []


def test_reminders_fire_on_an_early_start_and_followers_with_a_reminder_hear_once(scheduled, committed):
    follower_with_reminder, follower = UserFactory(), UserFactory()
    for person in (follower_with_reminder, follower):
        follow_create(follower=person, followee=scheduled.host)
    services.reminder_set(room_id=scheduled.pk, user=follower_with_reminder)
    committed(services.room_start, room=scheduled, actor=scheduled.host)
    assert notes(follower_with_reminder) == [f"{scheduled.host.name} started Tea at five: join now"]
    assert notes(follower_with_reminder, Notification.Kind.HOST_LIVE) == []
    assert notes(follower, Notification.Kind.HOST_LIVE) == [f"{scheduled.host.name} is live: Tea at five"]
    # The start time comes: nothing more.
    move_start(scheduled, timezone.now() - timedelta(seconds=1))
    committed(services.notices_send_due)
    assert len(notes(follower_with_reminder)) == 1


# -- rescheduling and cancelling -----------------------------------------------------------------


def reschedule(room, when):
    return services.room_update(
        room=room,
        actor=room.host,
        title=room.title,
        description="",
        topics=[],
        speaker_policy=room.speaker_policy,
        allow_anonymous=True,
        scheduled_for=when,
    )


def test_reminders_move_with_a_rescheduled_room_and_their_owners_are_told(scheduled, other_user, committed):
    services.reminder_set(room_id=scheduled.pk, user=other_user)
    later = (timezone.now() + 5 * HOUR).replace(second=0, microsecond=0)
    room = committed(reschedule, scheduled, later)
    assert room.calendar_sequence == 1
    [moved] = notes(other_user)
    assert moved.startswith(f"{scheduled.host.name} moved Tea at five to ") and f"{later:%H:%M} UTC" in moved
    move_start(room, timezone.now() - timedelta(seconds=1))
    committed(services.notices_send_due)
    assert notes(other_user)[1].startswith("Starting now: Tea at five")


def test_a_reminder_that_fired_fires_again_after_a_reschedule(scheduled, other_user, committed):
    services.reminder_set(room_id=scheduled.pk, user=other_user)
    move_start(scheduled, timezone.now() - timedelta(minutes=5))
    committed(services.notices_send_due)
    committed(reschedule, scheduled, timezone.now() + HOUR)
    move_start(scheduled, timezone.now() - timedelta(seconds=1))
    committed(services.notices_send_due)
    starting, moved, starting_again = notes(other_user)
    assert starting == starting_again == f"Starting now: Tea at five with {scheduled.host.name}"
    assert moved.startswith(f"{scheduled.host.name} moved Tea at five to ")


@pytest.mark.parametrize("when", [-timedelta(minutes=1), timedelta(days=31)])
def test_rescheduling_into_the_past_or_too_far_is_refused_and_nothing_moves(scheduled, other_user, when):
    services.reminder_set(room_id=scheduled.pk, user=other_user)
    before = scheduled.scheduled_for
    with pytest.raises(ServiceError) as refused:
        reschedule(scheduled, timezone.now() + when)
    assert refused.value.field == "scheduled_for"
    scheduled.refresh_from_db()
    assert (scheduled.scheduled_for, scheduled.calendar_sequence) == (before, 0)
    assert notes(other_user) == []


def test_cancelling_tells_the_people_who_set_a_reminder(scheduled, other_user, committed):
    services.reminder_set(room_id=scheduled.pk, user=other_user)
    room = committed(services.room_cancel, room=scheduled, actor=scheduled.host)
    assert room.calendar_sequence == 1
    [cancelled] = notes(other_user)
    assert cancelled.startswith(f"{scheduled.host.name} cancelled Tea at five (")
    move_start(room, timezone.now() - timedelta(seconds=1))
    committed(services.notices_send_due)
    assert len(notes(other_user)) == 1


# -- going live ----------------------------------------------------------------------------------


def test_followers_hear_of_a_host_going_live_at_most_once_in_10_minutes(user, committed, monkeypatch):
    fan = UserFactory()
    follow_create(follower=fan, followee=user)
    for _ in range(3):  # start and end rooms in a loop
        room = committed(services.room_create, host=user, title="Loop")
        committed(services.room_end, room=room, actor=user)
    assert len(notes(fan, Notification.Kind.HOST_LIVE)) == 1
    later = timezone.now() + timedelta(minutes=10, seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    committed(services.room_create, host=user, title="Later")
    assert len(notes(fan, Notification.Kind.HOST_LIVE)) == 2


def test_a_room_that_ended_before_the_task_ran_is_not_announced(user, committed):
    fan = UserFactory()
    follow_create(follower=fan, followee=user)
    room = services.room_create(host=user, title="Blink")  # the task is queued, not run
    services.room_end(room=room, actor=user)
    services.room_live_notify(room_id=room.pk)
    assert notes(fan, Notification.Kind.HOST_LIVE) == []


# -- two runs at once ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_the_same_moment_notify_once():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    host = UserFactory()
    starting = RoomFactory(host=host, scheduled=True, title="Race")
    fans = [UserFactory() for _ in range(30)]
    Reminder.objects.bulk_create(Reminder(room=starting, user=fan) for fan in fans)
    now = timezone.now()
    Room.objects.filter(pk=starting.pk).update(scheduled_for=now - timedelta(seconds=1))
    # And another room of the host's, in 20 minutes: its notice is due.
    RoomFactory(host=host, scheduled=True, title="Next", scheduled_for=now + timedelta(minutes=20))
    barrier = threading.Barrier(4)
    counts, errors = [], []

    def run():
        try:
            barrier.wait()
            counts.append(services.notices_send_due(now=now))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sum(counts) == 30 + 1  # 30 reminders and the host's notice, whoever sent them
    assert Notification.objects.filter(kind="reminder").count() == 31
    assert all(len(notes(fan)) == 1 for fan in fans) and len(notes(host)) == 1
