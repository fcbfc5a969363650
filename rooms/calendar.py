"""Scheduled rooms as iCalendar (RFC 5545): one room to add to a calendar, or a host's feed.

Each room is one VEVENT whose UID never changes; SEQUENCE rises when the room is rescheduled or
cancelled, so a calendar that imported an older version takes the new one; a cancelled room stays
in the feed as STATUS:CANCELLED, which calendars show as cancelled (or drop) instead of keeping a
stale event. Times are written in UTC.
"""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from icalendar import Calendar, Event

from .models import Room

PRODID = "-//Spaces//Rooms//EN"
# Rooms have no planned end: calendars get an hour.
DEFAULT_DURATION = timedelta(hours=1)
# How often a subscribed calendar should fetch the feed again (X-PUBLISHED-TTL says the same).
REFRESH_INTERVAL = timedelta(hours=1)


def room_uid(room: Room) -> str:
    return f"room-{room.pk}@{urlparse(settings.SITE_URL).hostname or 'localhost'}"


def _utc(moment: datetime) -> datetime:
    # datetime.UTC itself: icalendar writes "Z" for it, but a TZID=+0000 for an offset-0 zone.
    return moment.astimezone(UTC).replace(microsecond=0)


def room_event(room: Room, *, stamp: datetime) -> Event:
    url = f"{settings.SITE_URL}/rooms/{room.pk}/"
    event = Event()
    event.add("uid", room_uid(room))
    event.add("dtstamp", _utc(stamp))
    event.add("dtstart", _utc(room.scheduled_for))
    if room.state == Room.State.ENDED and room.ended_at and room.ended_at > room.scheduled_for:
        event.add("dtend", _utc(room.ended_at))
    else:
        event.add("duration", DEFAULT_DURATION)
    event.add("sequence", room.calendar_sequence)
    event.add("status", "CANCELLED" if room.state == Room.State.CANCELLED else "CONFIRMED")
    event.add("summary", room.title)
    host = _("Hosted by %(name)s (@%(handle)s)") % {"name": room.host.name, "handle": room.host.handle}
    join = _("Join: %(url)s") % {"url": url}
    description = "\n\n".join(part for part in (room.description, host, join) if part)
    event.add("description", description)
    event.add("url", url)
    event.add("location", url)
    event.add("transp", "TRANSPARENT")  # a room does not make anyone busy
    return event


def calendar_ics(rooms: Iterable[Room], *, name: str | None = None) -> bytes:
    """A VCALENDAR with one event per room (each must have a start time)."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    if name:
        calendar.add("name", name)
        calendar.add("x-wr-calname", name)
        calendar.add("refresh-interval", REFRESH_INTERVAL, parameters={"VALUE": "DURATION"})
        calendar.add("x-published-ttl", "PT1H")
    stamp = timezone.now()
    for room in rooms:
        calendar.add_component(room_event(room, stamp=stamp))
    return calendar.to_ical()
