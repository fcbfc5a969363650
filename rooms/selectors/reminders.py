"""Reads about bringing people to a room: reminders, invitations and calendars."""

from datetime import timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.selectors import blocked_user_ids
from spaces_project import protocol
from spaces_project.errors import NotFound

from ..models import Participant, Reminder, Room
from .discovery import room_get_for_viewer, rooms_visible_to


def reminder_count(*, room: Room) -> int:
    return Reminder.objects.filter(room=room).count()


def reminder_counts_of_host(*, host) -> list[protocol.ReminderCount]:
    """How many people wait for each of `host`'s scheduled rooms (for the host's open pages)."""
    return [
        protocol.ReminderCount(room_id=room_id, count=count)
        for room_id, count in Room.objects.filter(host=host, state=Room.State.SCHEDULED)
        .annotate(count=Count("reminders"))
        .order_by("pk")
        .values_list("pk", "count")
    ]


def has_reminder(*, room: Room, user) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return Reminder.objects.filter(room=room, user=user).exists()


def may_invite(*, room: Room, user) -> bool:
    """Whether `user` may invite people to `room` (the host; a co-host while it is live)."""
    if not getattr(user, "is_authenticated", False) or room.state not in (
        Room.State.SCHEDULED,
        Room.State.LIVE,
    ):
        return False
    if user.pk == room.host_id:
        return True
    return room.state == Room.State.LIVE and (
        Participant.objects.filter(
            room=room, user=user, role=Participant.Role.COHOST, is_removed=False
        ).exists()
    )


def room_invitees(*, room: Room, limit: int = 50) -> list[User]:
    """Who was invited to `room`, newest first."""
    return list(
        User.objects.filter(room_invitations__room=room).order_by("-room_invitations__created_at")[:limit]
    )


def invite_suggestions(*, room: Room, actor, query: str = "", limit: int = 8) -> list[User]:
    """People `actor` follows who could be invited to `room`, matching `query` (handle or name).

    Never anyone blocked either way by the host or by `actor`, the host, `actor`, or someone
    already invited.
    """
    hidden = blocked_user_ids(user=actor) | blocked_user_ids(user=room.host)
    people = (
        User.objects.filter(follower_links__follower=actor, is_active=True)
        .exclude(pk__in=[*hidden, room.host_id, actor.pk])
        .exclude(room_invitations__room=room)
    )
    term = query.strip().lstrip("@").strip()[:30]
    if term:
        people = people.filter(Q(handle__istartswith=term) | Q(display_name__icontains=term))
    return list(people.order_by("-follower_links__created_at", "pk")[:limit])


# Past rooms a host's calendar feed still carries, so subscribers keep what they went to.
CALENDAR_PAST = timedelta(days=14)


def room_for_calendar(*, room_id: int, viewer) -> Room:
    """A room that was scheduled (it has a start time), if `viewer` may see it; NotFound otherwise."""
    room = room_get_for_viewer(room_id=room_id, viewer=viewer)
    if room.scheduled_for is None:
        raise NotFound(_("This room was never scheduled."))
    return room


def calendar_rooms_of_host(*, host: User, viewer) -> QuerySet[Room]:
    """The host's scheduled rooms from two weeks ago on, whatever became of them (live, ended,
    cancelled), so a subscribed calendar shows each change."""
    return (
        rooms_visible_to(viewer=viewer)
        .filter(host=host, scheduled_for__isnull=False, scheduled_for__gte=timezone.now() - CALENDAR_PAST)
        .select_related("host")
        .order_by("scheduled_for", "pk")
    )
