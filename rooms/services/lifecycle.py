"""A room's life: create, edit, schedule, open the backstage, go live, end, cancel."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.text import slugify
from django.utils.translation import gettext as _

from accounts.models import Notification, User
from accounts.selectors import follower_count
from accounts.services import notify
from spaces_project import protocol, realtime
from spaces_project.errors import ServiceError
from spaces_project.tasks import dispatch

from .. import hooks
from ..events import status_changed
from ..live.presence import present_user_ids
from ..live.seat_gate import seats_changed
from ..models import (
    BACKSTAGE_OPENS_BEFORE,
    HOST_NOTICE_AHEAD,
    MAX_DESCRIPTION_LENGTH,
    MAX_SCHEDULE_DAYS,
    MAX_TITLE_LENGTH,
    MAX_TOPICS,
    MAX_UPCOMING_PER_HOST,
    Participant,
    Reminder,
    Room,
    RoomTopic,
    Tag,
)
from ._common import _room_url, _when
from .tickets import ticket_sales_set, tickets_room_cancelled, tickets_room_rescheduled


def tags_from_names(names: list[str]) -> list[Tag]:
    """Return the tags for `names` (creating missing ones), deduplicated, in order."""
    tags: list[Tag] = []
    seen: set[str] = set()
    for raw in names:
        name = " ".join(raw.strip().lstrip("#").split())
        slug = slugify(name)[:40]
        if not slug or slug in seen:
            continue
        seen.add(slug)
        tag, _ignored = Tag.objects.get_or_create(slug=slug, defaults={"name": name[:40]})
        tags.append(tag)
    if len(tags) > MAX_TOPICS:
        raise ServiceError(
            "too_many_topics",
            _("A room has at most %(count)s topics.") % {"count": MAX_TOPICS},
            field="topics",
        )
    return tags


def host_check_eligible(*, user: User) -> None:
    """Raise unless `user` may host a room now."""
    if not user.is_authenticated:
        raise ServiceError("not_signed_in", _("Sign in to host a room."))
    if user.is_suspended:
        raise ServiceError("suspended", _("Your account is suspended and cannot host rooms."))
    needed = settings.MIN_FOLLOWERS_TO_HOST
    if needed and follower_count(user=user) < needed:
        raise ServiceError(
            "not_eligible",
            _("You need at least %(needed)s followers to host a room.") % {"needed": needed},
            field=None,
        )


def _clean_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise ServiceError("title_required", _("Give the room a title."), field="title")
    if len(title) > MAX_TITLE_LENGTH:
        raise ServiceError(
            "title_too_long",
            _("A title has at most %(count)s characters.") % {"count": MAX_TITLE_LENGTH},
            field="title",
        )
    return title


def _clean_description(description: str) -> str:
    description = description.strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise ServiceError(
            "description_too_long",
            _("A description has at most %(count)s characters.")
            % {"count": number_format(MAX_DESCRIPTION_LENGTH, force_grouping=True)},
            field="description",
        )
    return description


def _check_schedule_time(when: datetime) -> None:
    now = timezone.now()
    if when <= now:
        raise ServiceError("schedule_in_past", _("Pick a time in the future."), field="scheduled_for")
    if when > now + timedelta(days=MAX_SCHEDULE_DAYS):
        raise ServiceError(
            "schedule_too_far",
            _("Rooms can be scheduled at most %(days)s days ahead.") % {"days": MAX_SCHEDULE_DAYS},
            field="scheduled_for",
        )


def _set_topics(room: Room, tags: list[Tag]) -> None:
    RoomTopic.objects.filter(room=room).delete()
    RoomTopic.objects.bulk_create(
        RoomTopic(room=room, tag=tag, position=index) for index, tag in enumerate(tags, start=1)
    )


@transaction.atomic
def room_create(
    *,
    host: User,
    title: str,
    description: str = "",
    topics: list[str] | None = None,
    start_now: bool = True,
    scheduled_for: datetime | None = None,
    speaker_policy: str = Room.SpeakerPolicy.EVERYONE,
    is_recorded: bool = False,
    allow_anonymous: bool = True,
    captions_enabled: bool = False,
    large_audience: bool = False,
    ticket_price: str | None = None,
    ticket_capacity: str | None = None,
) -> Room:
    """Open a room now, or schedule one up to 30 days ahead (at most 10 upcoming per host).

    A scheduled room can go on sale at once: with a `ticket_price` or a `ticket_capacity` the terms
    are set by the ticket service, with its rules, in the same transaction (a refused price creates
    no room)."""
    host_check_eligible(user=host)
    # Serialize this host's room creation so the upcoming-room limit holds under races.
    User.objects.select_for_update().get(pk=host.pk)
    title = _clean_title(title)
    tags = tags_from_names(topics or [])
    if speaker_policy not in Room.SpeakerPolicy.values:
        raise ServiceError("bad_policy", _("Choose who may speak."), field="speaker_policy")
    room = Room(
        title=title,
        description=_clean_description(description),
        host=host,
        speaker_policy=speaker_policy,
        is_recorded=is_recorded,
        allow_anonymous=allow_anonymous,
        captions_enabled=captions_enabled,
        large_audience=large_audience,
    )
    sells_tickets = bool(str(ticket_price or "").strip() or str(ticket_capacity or "").strip())
    if start_now and sells_tickets:
        raise ServiceError(
            "tickets_need_schedule",
            _("Tickets are sold before a room starts: schedule it, or leave the price and seats empty."),
            field="price",
        )
    if start_now:
        _check_not_already_live(host)
        room.state = Room.State.LIVE
        room.started_at = timezone.now()
    else:
        if scheduled_for is None:
            raise ServiceError("schedule_required", _("Pick when the room starts."), field="scheduled_for")
        _check_schedule_time(scheduled_for)
        upcoming = Room.objects.filter(host=host, state=Room.State.SCHEDULED).count()
        if upcoming >= MAX_UPCOMING_PER_HOST:
            raise ServiceError(
                "too_many_upcoming",
                _("You can have at most %(count)s upcoming rooms.") % {"count": MAX_UPCOMING_PER_HOST},
            )
        room.state = Room.State.SCHEDULED
        room.scheduled_for = scheduled_for
        room.host_notice_for = _host_notice_for(scheduled_for)
    room.save()
    _set_topics(room, tags)
    if start_now:
        _room_went_live(room)
    elif sells_tickets:
        room = ticket_sales_set(room_id=room.pk, actor=host, price=ticket_price, capacity=ticket_capacity)
    return room


def _check_not_already_live(host: User) -> None:
    if Room.objects.filter(host=host, state=Room.State.LIVE).exists():
        raise ServiceError("already_live", _("You are already hosting a live room; end it first."))


def _room_went_live(room: Room) -> None:
    """Seat the host, let the apps above open what they keep of the room (its recording, if it is
    recorded: rooms/hooks.py), and (after commit, in a task) tell the people who set a reminder and
    the host's followers. Call inside `transaction.atomic`."""
    Participant.objects.update_or_create(
        room=room, user=room.host, defaults={"role": Participant.Role.HOST, "is_removed": False}
    )
    for on_room_live in hooks.on_room_live:
        on_room_live(room=room)
    # A host with many followers must not wait for their notifications; robust: a broker that
    # blinks must not cancel the hooks after this one.
    dispatch("rooms.tasks.notify_room_live", room.pk)


def _require_host(room: Room, actor: User, refusal: str) -> None:
    """`refusal` is the whole translated sentence ("Only the host can end this room."), one msgid per
    action, so a translator never sees an English verb dropped into a sentence."""
    if not actor.is_authenticated or actor.pk != room.host_id:
        raise ServiceError("not_allowed", refusal)


@transaction.atomic
def room_start(*, room: Room, actor: User) -> Room:
    room = Room.objects.select_for_update().get(pk=room.pk)
    _require_host(room, actor, _("Only the host can start this room."))
    if room.state != Room.State.SCHEDULED:
        raise ServiceError("bad_state", _("Only a scheduled room can be started."))
    host_check_eligible(user=actor)
    _check_not_already_live(actor)
    from_backstage = room.backstage_opened_at is not None
    room.state = Room.State.LIVE
    room.started_at = timezone.now()
    room.backstage_opened_at = None
    room.save(update_fields=["state", "started_at", "backstage_opened_at"])
    if room.is_ticketed:
        seats_changed(room.pk)  # sales are over: purchases are answered by Django, with the reason
    _room_went_live(room)
    if from_backstage:
        # The backstage's sockets stay open: the stage goes live as it is, the listeners waiting
        # start hearing it, and the mixer starts the recording when it sees this event.
        realtime.send_on_commit(
            protocol.WentLive(room_id=room.pk, started_at=room.started_at.isoformat()), room_id=room.pk
        )
    # Every open page of it, in the backstage or still watching the schedule, turns live.
    status_changed(room)
    return room


def backstage_opens_at(room: Room) -> datetime | None:
    """When the host may open the room's backstage (None: it has no scheduled time)."""
    return room.scheduled_for - BACKSTAGE_OPENS_BEFORE if room.scheduled_for else None


@transaction.atomic
def room_open_backstage(*, room: Room, actor: User) -> Room:
    """Open the backstage of a scheduled room, up to BACKSTAGE_OPENS_BEFORE before its time.

    The host, and then the people they invited (seated as speakers as they come in), meet on the
    stage and hear each other; listeners who open the room wait for it to go live. Nothing is
    recorded until `room_start`.
    """
    room = Room.objects.select_for_update().get(pk=room.pk)
    _require_host(room, actor, _("Only the host can open the backstage of this room."))
    if room.state != Room.State.SCHEDULED:
        raise ServiceError("bad_state", _("Only a scheduled room has a backstage."))
    if room.backstage_opened_at is not None:
        return room
    opens_at = backstage_opens_at(room)
    if opens_at is None or timezone.now() < opens_at:
        raise ServiceError("too_early", _("The backstage opens 15 minutes before the room's scheduled time."))
    host_check_eligible(user=actor)
    _check_not_already_live(actor)
    room.backstage_opened_at = timezone.now()
    room.save(update_fields=["backstage_opened_at"])
    Participant.objects.update_or_create(
        room=room, user=room.host, defaults={"role": Participant.Role.HOST, "is_removed": False}
    )
    # The pages watching the schedule join: the stage is seated, the audience waits.
    status_changed(room)
    return room


@transaction.atomic
def room_end(*, room: Room, actor: User) -> Room:
    """End a live room. Only the host (or a moderator, through the moderation services) may."""
    room = Room.objects.select_for_update().get(pk=room.pk)
    _require_host(room, actor, _("Only the host can end this room."))
    return _room_close(room)


def _room_close(room: Room) -> Room:
    if room.state != Room.State.LIVE:
        raise ServiceError("bad_state", _("Only a live room can be ended."))
    room.state = Room.State.ENDED
    room.ended_at = timezone.now()
    room.save(update_fields=["state", "ended_at"])
    Participant.objects.filter(room=room).exclude(hand_raised_at=None, invited_to_speak_at=None).update(
        hand_raised_at=None, invited_to_speak_at=None
    )
    status_changed(room)
    realtime.send_on_commit(protocol.Ended(room_id=room.pk), room_id=room.pk, close=protocol.CLOSE_ENDED)
    # After room.ended in commit order: the mixer closes the capture when it hears that event, and
    # finalizing (recordings' hook) starts once the capture is closed.
    for on_room_end in hooks.on_room_end:
        on_room_end(room=room)
    # The room's analytics: what waits is written and its figures kept (rooms/analytics/).
    dispatch("rooms.tasks.analytics_room_ended", room.pk)
    return room


def rooms_end_abandoned(*, now: datetime | None = None) -> list[int]:
    """End the live rooms that have had no host or co-host connected for ROOM_ABANDONED_MINUTES, as
    if the host had ended them (recording included); return their ids. Called by a periodic task.

    Each call notes which live rooms are unattended now (`Room.unattended_since`) and clears the
    mark of those whose host or a co-host is back. When the roster cannot be read (Redis is down)
    it raises and changes nothing: an outage must not look like every host left.
    """
    now = now or timezone.now()
    live = dict(Room.objects.filter(state=Room.State.LIVE).values_list("pk", "unattended_since"))
    if not live:
        return []
    present = present_user_ids(list(live))
    moderators: dict[int, set[int]] = {room_id: set() for room_id in live}
    for room_id, user_id in Participant.objects.filter(
        room_id__in=list(live), role__in=Participant.MODERATOR_ROLES, is_removed=False
    ).values_list("room_id", "user_id"):
        moderators[room_id].add(user_id)
    limit = timedelta(minutes=settings.ROOM_ABANDONED_MINUTES)
    ended = []
    for room_id, since in live.items():
        if moderators[room_id] & present[room_id]:
            if since is not None:
                Room.objects.filter(pk=room_id).update(unattended_since=None)
        elif since is None:
            Room.objects.filter(pk=room_id, state=Room.State.LIVE, unattended_since=None).update(
                unattended_since=now
            )
        elif now - since >= limit and room_end_abandoned(room_id=room_id):
            ended.append(room_id)
    return ended


@transaction.atomic
def room_end_abandoned(*, room_id: int) -> bool:
    """End a live room nobody runs any more (see rooms_end_abandoned); False if it changed meanwhile."""
    room = Room.objects.select_for_update().filter(pk=room_id, state=Room.State.LIVE).first()
    if room is None or room.unattended_since is None:
        return False
    _room_close(room)
    return True


@transaction.atomic
def room_force_end(*, room: Room) -> Room:
    """End a live room on a moderator's decision. Call from moderation services only."""
    room = Room.objects.select_for_update().get(pk=room.pk)
    return _room_close(room)


@transaction.atomic
def rooms_force_end_hosted_by(*, host: User) -> list[Room]:
    """End every live room `host` hosts (their account was suspended); return those it ended."""
    ended = []
    for room in Room.objects.filter(host=host, state=Room.State.LIVE):
        try:
            ended.append(room_force_end(room=room))
        except ServiceError:
            pass  # The host ended it meanwhile; nothing left to do for this room.
    return ended


@transaction.atomic
def room_cancel(*, room: Room, actor: User) -> Room:
    room = Room.objects.select_for_update().get(pk=room.pk)
    _require_host(room, actor, _("Only the host can cancel this room."))
    if room.state != Room.State.SCHEDULED:
        raise ServiceError("bad_state", _("Only a scheduled room can be cancelled."))
    was_backstage = room.backstage_opened_at is not None
    room.state = Room.State.CANCELLED
    room.calendar_sequence += 1
    room.backstage_opened_at = None
    room.save(update_fields=["state", "calendar_sequence", "backstage_opened_at"])
    status_changed(room)
    if was_backstage:
        # Close the backstage's sockets (and stop its mixer).
        realtime.send_on_commit(
            protocol.Ended(room_id=room.pk), room_id=room.pk, close=protocol.CLOSE_NOT_LIVE
        )
    # Every paid ticket is refunded through its provider, and each holder told (rooms/services/tickets.py).
    tickets_room_cancelled(room=room)
    notify(
        recipients=Reminder.objects.filter(room=room).values_list("user_id", flat=True),
        kind=Notification.Kind.REMINDER,
        actor=room.host,
        room=room,
        text=lambda zone: (
            _("%(host)s cancelled %(title)s (%(when)s)")
            % {"host": room.host.name, "title": room.title, "when": _when(room.scheduled_for, zone)}
        ),
        url=_room_url(room),
        key=f"cancelled:{room.pk}",
    )
    return room


@transaction.atomic
def room_update(
    *,
    room: Room,
    actor: User,
    title: str,
    description: str,
    topics: list[str],
    speaker_policy: str,
    allow_anonymous: bool,
    scheduled_for: datetime | None = None,
    is_recorded: bool | None = None,
    large_audience: bool | None = None,
) -> Room:
    """Edit a scheduled or live room. The schedule and the record switch change only before the start."""
    room = Room.objects.select_for_update().get(pk=room.pk)
    _require_host(room, actor, _("Only the host can edit this room."))
    if room.is_over:
        raise ServiceError("bad_state", _("An ended or cancelled room cannot be edited."))
    room.title = _clean_title(title)
    room.description = _clean_description(description)
    if speaker_policy not in Room.SpeakerPolicy.values:
        raise ServiceError("bad_policy", _("Choose who may speak."), field="speaker_policy")
    room.speaker_policy = speaker_policy
    room.allow_anonymous = allow_anonymous
    if large_audience is not None:
        # Takes effect for listeners who join after the change; those listening keep their audio.
        room.large_audience = large_audience
    rescheduled = False
    if room.state == Room.State.SCHEDULED:
        if scheduled_for is not None and scheduled_for != room.scheduled_for:
            _check_schedule_time(scheduled_for)
            room.scheduled_for = scheduled_for
            room.host_notice_for = _host_notice_for(scheduled_for)
            room.calendar_sequence += 1
            rescheduled = True
            opens_at = backstage_opens_at(room)
            if room.backstage_opened_at is not None and opens_at is not None and timezone.now() < opens_at:
                # Moved out of the backstage's window: the backstage closes (and opens again later).
                room.backstage_opened_at = None
                status_changed(room)
                realtime.send_on_commit(
                    protocol.Ended(room_id=room.pk), room_id=room.pk, close=protocol.CLOSE_NOT_LIVE
                )
        if is_recorded is not None:
            room.is_recorded = is_recorded
    elif is_recorded is not None and is_recorded != room.is_recorded:
        raise ServiceError(
            "recording_locked",
            _("Recording can only be switched before the room starts."),
            field="is_recorded",
        )
    room.save()
    _set_topics(room, tags_from_names(topics))
    if rescheduled:
        _reminders_follow_the_new_time(room)
        # Tickets stay valid at the new time (X Spaces refunds instead); their holders are told.
        tickets_room_rescheduled(room=room)
    return room


def _reminders_follow_the_new_time(room: Room) -> None:
    """Reminders move with a rescheduled room: they fire at the new time, and their owners are told."""
    Reminder.objects.filter(room=room).update(notified_at=None)
    notify(
        recipients=Reminder.objects.filter(room=room).values_list("user_id", flat=True),
        kind=Notification.Kind.REMINDER,
        actor=room.host,
        room=room,
        text=lambda zone: (
            _("%(host)s moved %(title)s to %(when)s; your reminder moved too")
            % {"host": room.host.name, "title": room.title, "when": _when(room.scheduled_for, zone)}
        ),
        url=_room_url(room),
        key=f"moved:{room.pk}:{room.calendar_sequence}",
    )


def _host_notice_for(scheduled_for: datetime) -> datetime | None:
    """A host who schedules a room less than 30 minutes ahead needs no notice: mark it as given."""
    return scheduled_for if scheduled_for - timezone.now() <= HOST_NOTICE_AHEAD else None


def room_start_by_id(*, room_id: int, actor: User) -> Room:
    """Go live (from the backstage, or straight from the schedule)."""
    room = Room.objects.filter(pk=room_id).first()
    if room is None:
        raise ServiceError("not_found", _("This room does not exist."))
    return room_start(room=room, actor=actor)


def room_end_by_id(*, room_id: int, actor: User) -> Room:
    room = Room.objects.filter(pk=room_id).first()
    if room is None:
        raise ServiceError("not_found", _("This room does not exist."))
    return room_end(room=room, actor=actor)
