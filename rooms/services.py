"""Every write about rooms. Views, consumers, admin actions and tasks all call these."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import Follow, Notification, User
from accounts.selectors import follower_count
from accounts.tasks import send_notification_emails
from spaces_project.errors import ServiceError

from .models import (
    MAX_SCHEDULE_DAYS,
    MAX_TITLE_LENGTH,
    MAX_TOPICS,
    MAX_UPCOMING_PER_HOST,
    Participant,
    Room,
    RoomTopic,
    Tag,
)


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
        tag, _ = Tag.objects.get_or_create(slug=slug, defaults={"name": name[:40]})
        tags.append(tag)
    if len(tags) > MAX_TOPICS:
        raise ServiceError("too_many_topics", f"A room has at most {MAX_TOPICS} topics.", field="topics")
    return tags


def host_check_eligible(*, user: User) -> None:
    """Raise unless `user` may host a room now."""
    if not user.is_authenticated:
        raise ServiceError("not_signed_in", "Sign in to host a room.")
    if user.is_suspended:
        raise ServiceError("suspended", "Your account is suspended and cannot host rooms.")
    needed = settings.MIN_FOLLOWERS_TO_HOST
    if needed and follower_count(user=user) < needed:
        raise ServiceError(
            "not_eligible", f"You need at least {needed} followers to host a room.", field=None
        )


def _clean_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise ServiceError("title_required", "Give the room a title.", field="title")
    if len(title) > MAX_TITLE_LENGTH:
        raise ServiceError(
            "title_too_long", f"A title has at most {MAX_TITLE_LENGTH} characters.", field="title"
        )
    return title


def _check_schedule_time(when: datetime) -> None:
    now = timezone.now()
    if when <= now:
        raise ServiceError("schedule_in_past", "Pick a time in the future.", field="scheduled_for")
    if when > now + timedelta(days=MAX_SCHEDULE_DAYS):
        raise ServiceError(
            "schedule_too_far",
            f"Rooms can be scheduled at most {MAX_SCHEDULE_DAYS} days ahead.",
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
) -> Room:
    """Open a room now, or schedule one up to 30 days ahead (at most 10 upcoming per host)."""
    host_check_eligible(user=host)
    # Serialize this host's room creation so the upcoming-room limit holds under races.
    User.objects.select_for_update().get(pk=host.pk)
    title = _clean_title(title)
    tags = tags_from_names(topics or [])
    if speaker_policy not in Room.SpeakerPolicy.values:
        raise ServiceError("bad_policy", "Choose who may speak.", field="speaker_policy")
    room = Room(
        title=title,
        description=description.strip(),
        host=host,
        speaker_policy=speaker_policy,
        is_recorded=is_recorded,
        allow_anonymous=allow_anonymous,
    )
    if start_now:
        _check_not_already_live(host)
        room.state = Room.State.LIVE
        room.started_at = timezone.now()
    else:
        if scheduled_for is None:
            raise ServiceError("schedule_required", "Pick when the room starts.", field="scheduled_for")
        _check_schedule_time(scheduled_for)
        upcoming = Room.objects.filter(host=host, state=Room.State.SCHEDULED).count()
        if upcoming >= MAX_UPCOMING_PER_HOST:
            raise ServiceError(
                "too_many_upcoming",
                f"You can have at most {MAX_UPCOMING_PER_HOST} upcoming rooms.",
            )
        room.state = Room.State.SCHEDULED
        room.scheduled_for = scheduled_for
    room.save()
    _set_topics(room, tags)
    if start_now:
        _room_went_live(room)
    return room


def _check_not_already_live(host: User) -> None:
    if Room.objects.filter(host=host, state=Room.State.LIVE).exists():
        raise ServiceError("already_live", "You are already hosting a live room; end it first.")


def _room_went_live(room: Room) -> None:
    """Seat the host and tell the host's followers. Call inside `transaction.atomic`."""
    Participant.objects.update_or_create(
        room=room, user=room.host, defaults={"role": Participant.Role.HOST, "is_removed": False}
    )
    follower_ids = list(Follow.objects.filter(followee=room.host).values_list("follower_id", flat=True))
    if not follower_ids:
        return
    text = f"{room.host.name} is live: {room.title}"
    url = f"/rooms/{room.pk}/"
    created = Notification.objects.bulk_create(
        Notification(
            recipient_id=follower_id,
            kind=Notification.Kind.HOST_LIVE,
            actor=room.host,
            room=room,
            text=text[:200],
            url=url,
        )
        for follower_id in follower_ids
    )
    ids = [n.pk for n in created if n.pk]
    if ids:
        send_notification_emails.delay_on_commit(ids)


def _require_host(room: Room, actor: User, action: str) -> None:
    if not actor.is_authenticated or actor.pk != room.host_id:
        raise ServiceError("not_allowed", f"Only the host can {action} this room.")


@transaction.atomic
def room_start(*, room: Room, actor: User) -> Room:
    room = Room.objects.select_for_update().get(pk=room.pk)
    _require_host(room, actor, "start")
    if room.state != Room.State.SCHEDULED:
        raise ServiceError("bad_state", "Only a scheduled room can be started.")
    host_check_eligible(user=actor)
    _check_not_already_live(actor)
    room.state = Room.State.LIVE
    room.started_at = timezone.now()
    room.save(update_fields=["state", "started_at"])
    _room_went_live(room)
    return room


@transaction.atomic
def room_end(*, room: Room, actor: User) -> Room:
    """End a live room. Only the host (or a moderator, through the moderation services) may."""
    room = Room.objects.select_for_update().get(pk=room.pk)
    _require_host(room, actor, "end")
    return _room_close(room)


def _room_close(room: Room) -> Room:
    if room.state != Room.State.LIVE:
        raise ServiceError("bad_state", "Only a live room can be ended.")
    room.state = Room.State.ENDED
    room.ended_at = timezone.now()
    room.save(update_fields=["state", "ended_at"])
    return room


@transaction.atomic
def room_force_end(*, room: Room) -> Room:
    """End a live room on a moderator's decision. Call from moderation services only."""
    room = Room.objects.select_for_update().get(pk=room.pk)
    return _room_close(room)


@transaction.atomic
def room_cancel(*, room: Room, actor: User) -> Room:
    room = Room.objects.select_for_update().get(pk=room.pk)
    _require_host(room, actor, "cancel")
    if room.state != Room.State.SCHEDULED:
        raise ServiceError("bad_state", "Only a scheduled room can be cancelled.")
    room.state = Room.State.CANCELLED
    room.save(update_fields=["state"])
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
) -> Room:
    """Edit a scheduled or live room. The schedule and the record switch change only before the start."""
    room = Room.objects.select_for_update().get(pk=room.pk)
    _require_host(room, actor, "edit")
    if room.is_over:
        raise ServiceError("bad_state", "An ended or cancelled room cannot be edited.")
    room.title = _clean_title(title)
    room.description = description.strip()
    if speaker_policy not in Room.SpeakerPolicy.values:
        raise ServiceError("bad_policy", "Choose who may speak.", field="speaker_policy")
    room.speaker_policy = speaker_policy
    room.allow_anonymous = allow_anonymous
    if room.state == Room.State.SCHEDULED:
        if scheduled_for is not None and scheduled_for != room.scheduled_for:
            _check_schedule_time(scheduled_for)
            room.scheduled_for = scheduled_for
        if is_recorded is not None:
            room.is_recorded = is_recorded
    elif is_recorded is not None and is_recorded != room.is_recorded:
        raise ServiceError(
            "recording_locked", "Recording can only be switched before the room starts.", field="is_recorded"
        )
    room.save()
    _set_topics(room, tags_from_names(topics))
    return room
