"""The .ics files, read back with a real iCalendar parser."""

from datetime import UTC, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar

from accounts.services import block_create
from rooms import services
from tests.factories import RoomFactory

pytestmark = pytest.mark.django_db


def parse(response) -> Calendar:
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    return Calendar.from_ical(response.content)


def events(calendar: Calendar) -> dict[str, object]:
    return {str(event["SUMMARY"]): event for event in calendar.walk("VEVENT")}


@pytest.fixture
def scheduled(user):
    when = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    return services.room_create(
        host=user,
        title="Tea; at five, please",
        description="Bring cups.",
        start_now=False,
        scheduled_for=when,
    )


def reschedule(room, when):
    return services.room_update(
        room=room,
        actor=room.host,
        title=room.title,
        description=room.description,
        topics=[],
        speaker_policy=room.speaker_policy,
        allow_anonymous=True,
        scheduled_for=when,
    )


def test_a_scheduled_room_as_an_ics_file(client, scheduled):
    response = client.get(reverse("rooms:calendar", args=[scheduled.pk]))
    assert response["Content-Disposition"] == f'attachment; filename="room-{scheduled.pk}.ics"'
    calendar = parse(response)
    assert calendar["VERSION"] == "2.0" and calendar["PRODID"]
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == f"room-{scheduled.pk}@testserver"
    start = event["DTSTART"].dt
    assert start == scheduled.scheduled_for and start.utcoffset() == timedelta(0)
    assert (
        b"DTSTART:" + scheduled.scheduled_for.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ").encode()
        in response.content
    )
    assert event["SEQUENCE"] == 0 and str(event["STATUS"]) == "CONFIRMED"
    assert str(event["SUMMARY"]) == "Tea; at five, please"
    assert str(event["URL"]) == f"http://testserver/rooms/{scheduled.pk}/"
    assert "Bring cups." in str(event["DESCRIPTION"]) and f"@{scheduled.host.handle}" in str(
        event["DESCRIPTION"]
    )


def test_reschedule_keeps_the_uid_and_raises_the_sequence(client, scheduled):
    url = reverse("rooms:calendar", args=[scheduled.pk])
    first = parse(client.get(url)).walk("VEVENT")[0]
    later = scheduled.scheduled_for + timedelta(hours=3)
    reschedule(scheduled, later)
    second = parse(client.get(url)).walk("VEVENT")[0]
    assert str(second["UID"]) == str(first["UID"])
    assert second["SEQUENCE"] == 1 and second["DTSTART"].dt == later
    reschedule(scheduled, later + timedelta(hours=1))
    assert parse(client.get(url)).walk("VEVENT")[0]["SEQUENCE"] == 2


def test_a_cancelled_room_says_so(client, scheduled):
    services.room_cancel(room=scheduled, actor=scheduled.host)
    [event] = parse(client.get(reverse("rooms:calendar", args=[scheduled.pk]))).walk("VEVENT")
    assert str(event["STATUS"]) == "CANCELLED" and event["SEQUENCE"] == 1


def test_a_room_you_may_not_see_or_never_scheduled_has_no_calendar(client, scheduled, other_user):
    block_create(blocker=scheduled.host, blocked=other_user)
    client.force_login(other_user)
    assert client.get(reverse("rooms:calendar", args=[scheduled.pk])).status_code == 404
    started_now = RoomFactory()
    assert client.get(reverse("rooms:calendar", args=[started_now.pk])).status_code == 404


def test_the_room_page_links_to_its_calendar(client, scheduled):
    page = client.get(reverse("rooms:detail", args=[scheduled.pk])).content.decode()
    assert f'href="{reverse("rooms:calendar", args=[scheduled.pk])}"' in page and "Add to calendar" in page


def test_a_hosts_feed_carries_their_upcoming_rooms_and_cancellations(client, user, scheduled):
    soon = services.room_create(
        host=user, title="Soon", start_now=False, scheduled_for=timezone.now() + timedelta(hours=3)
    )
    cancelled = services.room_create(
        host=user, title="Called off", start_now=False, scheduled_for=timezone.now() + timedelta(days=3)
    )
    services.room_cancel(room=cancelled, actor=user)
    RoomFactory(host=user, title="Started without a schedule")
    RoomFactory(scheduled=True, title="Someone else's")

    response = client.get(reverse("accounts:calendar", args=[user.handle]))
    calendar = parse(response)
    assert user.handle in str(calendar["X-WR-CALNAME"])
    found = events(calendar)
    assert set(found) == {"Tea; at five, please", "Soon", "Called off"}
    assert str(found["Called off"]["STATUS"]) == "CANCELLED"
    assert str(found["Soon"]["UID"]) == f"room-{soon.pk}@testserver"
    assert len({str(event["UID"]) for event in found.values()}) == 3


def test_a_hosts_feed_is_hidden_from_people_they_blocked(client, user, scheduled, other_user):
    block_create(blocker=user, blocked=other_user)
    client.force_login(other_user)
    assert client.get(reverse("accounts:calendar", args=[user.handle])).status_code == 404
