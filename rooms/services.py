"""Every write about rooms. Views, consumers, admin actions and tasks all call these."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.text import slugify

from accounts.events import send_to_user
from accounts.models import Follow, Notification, User
from accounts.selectors import blocked_among, follower_count
from accounts.services import notify
from spaces_project.errors import ServiceError

from . import protocol
from .events import links_payload, participant_updated, publish_on_commit
from .models import (
    HOST_NOTICE_AHEAD,
    LIVE_NOTICE_GAP,
    MAX_DESCRIPTION_LENGTH,
    MAX_SCHEDULE_DAYS,
    MAX_TITLE_LENGTH,
    MAX_TOPICS,
    MAX_UPCOMING_PER_HOST,
    Participant,
    PinnedLink,
    Reminder,
    Room,
    RoomInvitation,
    RoomTopic,
    Tag,
)
from .seat_gate import seats_changed
from .selectors import ticketed_room_admitted_ids
from .tickets import tickets_holder_blocked, tickets_room_cancelled, tickets_room_rescheduled


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


def _clean_description(description: str) -> str:
    description = description.strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise ServiceError(
            "description_too_long",
            f"A description has at most {MAX_DESCRIPTION_LENGTH:,} characters.",
            field="description",
        )
    return description


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
    captions_enabled: bool = False,
    large_audience: bool = False,
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
        description=_clean_description(description),
        host=host,
        speaker_policy=speaker_policy,
        is_recorded=is_recorded,
        allow_anonymous=allow_anonymous,
        captions_enabled=captions_enabled,
        large_audience=large_audience,
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
        room.host_notice_for = _host_notice_for(scheduled_for)
    room.save()
    _set_topics(room, tags)
    if start_now:
        _room_went_live(room)
    return room


def _check_not_already_live(host: User) -> None:
    if Room.objects.filter(host=host, state=Room.State.LIVE).exists():
        raise ServiceError("already_live", "You are already hosting a live room; end it first.")


def _room_went_live(room: Room) -> None:
    """Seat the host, open the recording if it is recorded, and (after commit, in a task) tell the
    people who set a reminder and the host's followers. Call inside `transaction.atomic`."""
    from recordings.services import recording_start_capture  # recordings depends on rooms

    from .tasks import notify_room_live

    Participant.objects.update_or_create(
        room=room, user=room.host, defaults={"role": Participant.Role.HOST, "is_removed": False}
    )
    recording_start_capture(room=room)
    # A host with many followers must not wait for their notifications; robust: a broker that
    # blinks must not cancel the hooks after this one.
    transaction.on_commit(lambda: notify_room_live.delay(room.pk), robust=True)


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
        publish_on_commit(room.pk, protocol.WentLive(room_id=room.pk, started_at=room.started_at.isoformat()))
    return room


def backstage_opens_at(room: Room) -> datetime | None:
    """When the host may open the room's backstage (None: it has no scheduled time)."""
    from .models import BACKSTAGE_OPENS_BEFORE

    return room.scheduled_for - BACKSTAGE_OPENS_BEFORE if room.scheduled_for else None


@transaction.atomic
def room_open_backstage(*, room: Room, actor: User) -> Room:
    """Open the backstage of a scheduled room, up to BACKSTAGE_OPENS_BEFORE before its time.

    The host, and then the people they invited (seated as speakers as they come in), meet on the
    stage and hear each other; listeners who open the room wait for it to go live. Nothing is
    recorded until `room_start`.
    """
    room = Room.objects.select_for_update().get(pk=room.pk)
    _require_host(room, actor, "open the backstage of")
    if room.state != Room.State.SCHEDULED:
        raise ServiceError("bad_state", "Only a scheduled room has a backstage.")
    if room.backstage_opened_at is not None:
        return room
    opens_at = backstage_opens_at(room)
    if opens_at is None or timezone.now() < opens_at:
        raise ServiceError("too_early", "The backstage opens 15 minutes before the room's scheduled time.")
    host_check_eligible(user=actor)
    _check_not_already_live(actor)
    room.backstage_opened_at = timezone.now()
    room.save(update_fields=["backstage_opened_at"])
    Participant.objects.update_or_create(
        room=room, user=room.host, defaults={"role": Participant.Role.HOST, "is_removed": False}
    )
    return room


def _seat_in_backstage(room: Room, participant: Participant) -> None:
    """An invited person coming into the backstage takes a place on the stage, muted, if it has one."""
    if participant.on_stage or participant.user_id == room.host_id:
        return
    invited = RoomInvitation.objects.filter(room=room, invitee_id=participant.user_id).exists()
    if invited and _stage_has_room_for(room, Participant.Role.SPEAKER):
        _change(participant, role=Participant.Role.SPEAKER, is_muted=True)


@transaction.atomic
def room_end(*, room: Room, actor: User) -> Room:
    """End a live room. Only the host (or a moderator, through the moderation services) may."""
    room = Room.objects.select_for_update().get(pk=room.pk)
    _require_host(room, actor, "end")
    return _room_close(room)


def _room_close(room: Room) -> Room:
    if room.state != Room.State.LIVE:
        raise ServiceError("bad_state", "Only a live room can be ended.")
    from recordings.services import recording_end_capture  # recordings depends on rooms

    room.state = Room.State.ENDED
    room.ended_at = timezone.now()
    room.save(update_fields=["state", "ended_at"])
    Participant.objects.filter(room=room).exclude(hand_raised_at=None, invited_to_speak_at=None).update(
        hand_raised_at=None, invited_to_speak_at=None
    )
    publish_on_commit(room.pk, protocol.Ended(room_id=room.pk), close=protocol.CLOSE_ENDED)
    # After room.ended in commit order: the mixer closes the capture when it hears that event, and
    # finalizing starts once the capture is closed.
    recording_end_capture(room=room)
    return room


def rooms_end_abandoned(*, now: datetime | None = None) -> list[int]:
    """End the live rooms that have had no host or co-host connected for ROOM_ABANDONED_MINUTES, as
    if the host had ended them (recording included); return their ids. Called by a periodic task.

    Each call notes which live rooms are unattended now (`Room.unattended_since`) and clears the
    mark of those whose host or a co-host is back. When the roster cannot be read (Redis is down)
    it raises and changes nothing: an outage must not look like every host left.
    """
    from .presence import present_user_ids

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
    _require_host(room, actor, "cancel")
    if room.state != Room.State.SCHEDULED:
        raise ServiceError("bad_state", "Only a scheduled room can be cancelled.")
    was_backstage = room.backstage_opened_at is not None
    room.state = Room.State.CANCELLED
    room.calendar_sequence += 1
    room.backstage_opened_at = None
    room.save(update_fields=["state", "calendar_sequence", "backstage_opened_at"])
    if was_backstage:
        # Close the backstage's sockets (and stop its mixer).
        publish_on_commit(room.pk, protocol.Ended(room_id=room.pk), close=protocol.CLOSE_NOT_LIVE)
    # Every paid ticket is refunded through its provider, and each holder told (rooms/tickets.py).
    tickets_room_cancelled(room=room)
    notify(
        recipients=Reminder.objects.filter(room=room).values_list("user_id", flat=True),
        kind=Notification.Kind.REMINDER,
        actor=room.host,
        room=room,
        text=f"{room.host.name} cancelled {room.title} ({_when(room.scheduled_for)})",
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
    _require_host(room, actor, "edit")
    if room.is_over:
        raise ServiceError("bad_state", "An ended or cancelled room cannot be edited.")
    room.title = _clean_title(title)
    room.description = _clean_description(description)
    if speaker_policy not in Room.SpeakerPolicy.values:
        raise ServiceError("bad_policy", "Choose who may speak.", field="speaker_policy")
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
                publish_on_commit(room.pk, protocol.Ended(room_id=room.pk), close=protocol.CLOSE_NOT_LIVE)
        if is_recorded is not None:
            room.is_recorded = is_recorded
    elif is_recorded is not None and is_recorded != room.is_recorded:
        raise ServiceError(
            "recording_locked", "Recording can only be switched before the room starts.", field="is_recorded"
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
        text=f"{room.host.name} moved {room.title} to {_when(room.scheduled_for)}; your reminder moved too",
        url=_room_url(room),
        key=f"moved:{room.pk}:{room.calendar_sequence}",
    )


# ---------------------------------------------------------------------------------------------
# Live rooms: every websocket action is one of these. Each locks the room row, so stage changes
# are serialized and the stage limits hold however many requests arrive at once.
# ---------------------------------------------------------------------------------------------


def _change(participant: Participant, **changes) -> bool:
    """Apply `changes` to the participant; save and announce them only if something changed."""
    changed = [field for field, value in changes.items() if getattr(participant, field) != value]
    if not changed:
        return False
    for field in changed:
        setattr(participant, field, changes[field])
    participant.save(update_fields=[*changed, "updated_at"])
    participant_updated(participant)
    return True


def _live_room_for_update(room_id: int) -> Room:
    room = Room.objects.select_for_update().filter(pk=room_id).first()
    if room is None:
        raise ServiceError("not_found", "This room does not exist.")
    if room.state != Room.State.LIVE:
        raise ServiceError("not_live", "This room is not live.")
    return room


def _stage_room_for_update(room_id: int) -> Room:
    """The room, locked, if it is live or its backstage is open: the stage works in both."""
    room = Room.objects.select_for_update().filter(pk=room_id).first()
    if room is None:
        raise ServiceError("not_found", "This room does not exist.")
    if room.state != Room.State.LIVE and not room.in_backstage:
        raise ServiceError("not_live", "This room is not live.")
    return room


def _participant(room: Room, user_id: int, *, for_update: bool = True) -> Participant:
    queryset = Participant.objects.select_related("user")
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    participant = queryset.filter(room=room, user_id=user_id, is_removed=False).first()
    if participant is None:
        raise ServiceError("not_in_room", "That person is not in this room.")
    return participant


def _require_moderator(room: Room, actor: User) -> Participant:
    participant = _participant(room, actor.pk)
    if participant.role not in Participant.MODERATOR_ROLES:
        raise ServiceError("not_allowed", "Only the host or a co-host can do that.")
    return participant


def _require_host_in_room(room: Room, actor: User, message: str) -> Participant:
    participant = _participant(room, actor.pk)
    if participant.role != Participant.Role.HOST:
        raise ServiceError("not_allowed", message)
    return participant


def _refusal_to_act_on(actor: Participant, target: Participant) -> ServiceError | None:
    """Co-hosts act on speakers and listeners; only the host acts on co-hosts; nobody on the host."""
    if target.role == Participant.Role.HOST:
        return ServiceError("not_allowed", "Nobody can do that to the host.")
    if target.role == Participant.Role.COHOST and actor.role != Participant.Role.HOST:
        return ServiceError("not_allowed", "Only the host can do that to a co-host.")
    return None


def _check_may_act_on(actor: Participant, target: Participant) -> None:
    refusal = _refusal_to_act_on(actor, target)
    if refusal is not None:
        raise refusal


def _stage_limit(role: str) -> int:
    from .models import MAX_COHOSTS, MAX_SPEAKERS

    return MAX_COHOSTS if role == Participant.Role.COHOST else MAX_SPEAKERS


def _stage_has_room_for(room: Room, role: str) -> bool:
    return Participant.objects.filter(room=room, role=role, is_removed=False).count() < _stage_limit(role)


def _check_stage_has_room_for(room: Room, role: str) -> None:
    if not _stage_has_room_for(room, role):
        what = "co-hosts" if role == Participant.Role.COHOST else "speakers"
        raise ServiceError("stage_full", f"The stage is full: at most {_stage_limit(role)} {what}.")


def _check_speaker_policy(room: Room, user: User) -> None:
    if room.speaker_policy == Room.SpeakerPolicy.INVITED:
        raise ServiceError("not_allowed", "Only people the host invites can speak in this room.")
    if (
        room.speaker_policy == Room.SpeakerPolicy.FOLLOWED
        and not Follow.objects.filter(follower_id=room.host_id, followee=user).exists()
    ):
        raise ServiceError("not_allowed", "Only people the host follows can ask to speak in this room.")


def participant_join_refusal(*, room: Room, user) -> ServiceError | None:
    """Why `user` (possibly anonymous) may not be in the live room `room`, or None if they may."""
    if room.state != Room.State.LIVE and not room.in_backstage:
        return ServiceError("not_live", "This room is not live.")
    if not getattr(user, "is_authenticated", False):
        if room.is_ticketed:
            return ServiceError("sign_in_required", "This room is for ticket holders: sign in to listen.")
        if not room.allow_anonymous:
            return ServiceError("sign_in_required", "Sign in to listen to this room.")
        return None
    return _join_refusals(room, [user]).get(user.pk)


def participants_join_refusals(*, room_id: int, user_ids) -> dict[int, ServiceError]:
    """participant_join_refusal for several signed-in people of one room at once, everything read
    afresh (the room, their accounts, blocks, removals, tickets), in a handful of queries whatever
    their number: the refusal of each person who may not be in the room now; the others may.
    The room socket asks before renewing the signed HLS URLs of a private room's listeners."""
    wanted = set(user_ids)
    room = Room.objects.select_related("host").filter(pk=room_id).first()
    if room is None:
        return {pk: ServiceError("not_found", "This room does not exist.") for pk in wanted}
    users = list(User.objects.filter(pk__in=wanted))
    gone = {
        pk: ServiceError("not_found", "This room does not exist.") for pk in wanted - {u.pk for u in users}
    }
    return gone | _join_refusals(room, users)


def _join_refusals(room: Room, users: list[User]) -> dict[int, ServiceError]:
    """The door's rule for signed-in people, checked for all of `users` together, in the order
    participant_join_refusal gives the reasons: each refused person's first reason."""
    if room.state != Room.State.LIVE and not room.in_backstage:
        return {user.pk: ServiceError("not_live", "This room is not live.") for user in users}
    refusals = {
        user.pk: ServiceError("suspended", "Your account is suspended.")
        for user in users
        if user.is_suspended
    }
    rest = {user.pk for user in users} - refusals.keys()
    for pk in blocked_among(user=room.host, user_ids=rest):
        refusals[pk] = ServiceError("not_found", "This room does not exist.")
    if rest := rest - refusals.keys():
        for pk in Participant.objects.filter(room=room, user_id__in=rest, is_removed=True).values_list(
            "user_id", flat=True
        ):
            refusals[pk] = ServiceError("removed", "You were removed from this room.")
    if room.is_ticketed and (rest := rest - refusals.keys()):
        for pk in rest - ticketed_room_admitted_ids(room=room, user_ids=rest):
            refusals[pk] = ServiceError("ticket_required", "This room is for ticket holders.")
    return refusals


def participant_check_may_join(*, room: Room, user) -> None:
    """Raise unless `user` (possibly anonymous) may be in the live room `room`."""
    refusal = participant_join_refusal(room=room, user=user)
    if refusal is not None:
        raise refusal


@transaction.atomic
def participant_join(*, room_id: int, user) -> Participant | None:
    """Seat `user` in the live room, keeping the place and role they had. None for anonymous."""
    room = Room.objects.select_related("host").filter(pk=room_id).first()
    if room is None:
        raise ServiceError("not_found", "This room does not exist.")
    participant_check_may_join(room=room, user=user)
    if not getattr(user, "is_authenticated", False):
        return None
    participant, created = Participant.objects.select_related("user").get_or_create(room=room, user=user)
    if room.in_backstage:
        _seat_in_backstage(room, participant)
    if not created and participant.on_stage:
        participant_updated(participant)
    if created and not room.in_backstage:
        _offer_the_stage_to_an_invitee(room, participant)
    return participant


@transaction.atomic
def participant_leave(*, room_id: int, user: User, quiet: bool) -> None:
    """Leave on purpose: a speaker goes back to the audience; a dropped connection keeps the place."""
    participant = Participant.objects.select_for_update().filter(room_id=room_id, user=user).first()
    if participant is None or participant.is_removed:
        return
    # Even a quiet leave takes the person off everyone's stage and hand list (announced by _change).
    # Whoever comes back after leaving on purpose comes back muted.
    role = Participant.Role.LISTENER if participant.role == Participant.Role.SPEAKER else participant.role
    _change(participant, role=role, is_muted=True, hand_raised_at=None, invited_to_speak_at=None)
    if not quiet:
        publish_on_commit(room_id, protocol.ParticipantLeft(user_id=user.pk))


@transaction.atomic
def participant_raise_hand(*, room_id: int, actor: User) -> Participant:
    room = _live_room_for_update(room_id)
    participant = _participant(room, actor.pk)
    if participant.on_stage:
        raise ServiceError("already_on_stage", "You are already on stage.")
    _check_speaker_policy(room, actor)
    if participant.hand_raised_at is None:
        _change(participant, hand_raised_at=timezone.now())
    return participant


@transaction.atomic
def participant_lower_hand(*, room_id: int, actor: User) -> Participant:
    room = _live_room_for_update(room_id)
    participant = _participant(room, actor.pk)
    _change(participant, hand_raised_at=None)
    return participant


def _bring_on_stage(room: Room, participant: Participant) -> None:
    _check_stage_has_room_for(room, Participant.Role.SPEAKER)
    _change(
        participant,
        role=Participant.Role.SPEAKER,
        is_muted=True,
        hand_raised_at=None,
        invited_to_speak_at=None,
    )


@transaction.atomic
def speak_request_approve(*, room_id: int, actor: User, user_id: int) -> Participant:
    room = _live_room_for_update(room_id)
    _require_moderator(room, actor)
    target = _participant(room, user_id)
    if target.on_stage:
        raise ServiceError("already_on_stage", "They are already on stage.")
    if target.hand_raised_at is None:
        raise ServiceError("no_request", "They have not asked to speak.")
    _bring_on_stage(room, target)
    return target


@transaction.atomic
def speak_request_decline(*, room_id: int, actor: User, user_id: int) -> Participant:
    room = _live_room_for_update(room_id)
    _require_moderator(room, actor)
    target = _participant(room, user_id)
    if target.hand_raised_at is None:
        raise ServiceError("no_request", "They have not asked to speak.")
    _change(target, hand_raised_at=None)
    publish_on_commit(room_id, protocol.RequestDeclined(to_user_id=user_id), to=user_id)
    return target


@transaction.atomic
def speaker_invite(*, room_id: int, actor: User, user_id: int) -> Participant:
    room = _live_room_for_update(room_id)
    _require_moderator(room, actor)
    target = _participant(room, user_id)
    if target.on_stage:
        raise ServiceError("already_on_stage", "They are already on stage.")
    _check_stage_has_room_for(room, Participant.Role.SPEAKER)
    _ask_to_speak(room, target, actor)
    notify(
        recipients=[target.user_id],
        kind=Notification.Kind.SPEAK_INVITE,
        actor=actor,
        room=room,
        text=f"{actor.name} invited you to speak in {room.title}",
        url=_room_url(room),
    )
    return target


def _ask_to_speak(room: Room, target: Participant, actor: User) -> None:
    _change(target, invited_to_speak_at=timezone.now())
    publish_on_commit(
        room.pk,
        protocol.SpeakInvited(to_user_id=target.user_id, by=actor.name, recorded=room.is_recorded),
        to=target.user_id,
    )


@transaction.atomic
def speaker_invite_accept(*, room_id: int, actor: User) -> Participant:
    room = _live_room_for_update(room_id)
    participant = _participant(room, actor.pk)
    if participant.invited_to_speak_at is None:
        raise ServiceError("not_invited", "You have not been invited to speak.")
    if participant.on_stage:
        raise ServiceError("already_on_stage", "You are already on stage.")
    _bring_on_stage(room, participant)
    return participant


@transaction.atomic
def speaker_invite_decline(*, room_id: int, actor: User) -> Participant:
    room = _live_room_for_update(room_id)
    participant = _participant(room, actor.pk)
    _change(participant, invited_to_speak_at=None)
    return participant


@transaction.atomic
def participant_set_muted(*, room_id: int, actor: User, muted: bool) -> Participant:
    """A stage member mutes or unmutes themself."""
    room = _stage_room_for_update(room_id)
    participant = _participant(room, actor.pk)
    if not participant.on_stage:
        raise ServiceError("not_on_stage", "Only people on stage have a microphone.")
    _change(participant, is_muted=muted)
    return participant


@transaction.atomic
def speaker_mute(*, room_id: int, actor: User, user_id: int) -> Participant:
    """Host or co-host mutes someone on stage. Nobody but the speaker can unmute them."""
    room = _stage_room_for_update(room_id)
    moderator = _require_moderator(room, actor)
    target = _participant(room, user_id)
    if target.pk != moderator.pk:
        _check_may_act_on(moderator, target)
    if not target.on_stage:
        raise ServiceError("not_on_stage", "They are not on stage.")
    _change(target, is_muted=True)
    return target


@transaction.atomic
def speakers_mute_all(*, room_id: int, actor: User) -> int:
    """Host or co-host mutes everyone else on stage they may mute one by one (`speaker_mute`)."""
    room = _stage_room_for_update(room_id)
    moderator = _require_moderator(room, actor)
    muted = 0
    for target in _stage_members(room):
        if target.pk == moderator.pk or target.is_muted or _refusal_to_act_on(moderator, target):
            continue
        _change(target, is_muted=True)
        muted += 1
    return muted


def _stage_members(room: Room) -> list[Participant]:
    return list(
        Participant.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(room=room, role__in=Participant.STAGE_ROLES, is_removed=False)
    )


@transaction.atomic
def speaker_move_to_audience(*, room_id: int, actor: User, user_id: int) -> Participant:
    """Host or co-host moves a speaker back to the audience; a stage member may step down."""
    room = _stage_room_for_update(room_id)
    if actor.pk == user_id:
        target = _participant(room, user_id)
        if target.role == Participant.Role.HOST:
            raise ServiceError("not_allowed", "The host stays on stage.")
    else:
        moderator = _require_moderator(room, actor)
        target = _participant(room, user_id)
        _check_may_act_on(moderator, target)
    if not target.on_stage:
        raise ServiceError("not_on_stage", "They are not on stage.")
    _change(target, role=Participant.Role.LISTENER, is_muted=True)
    return target


@transaction.atomic
def participant_remove(*, room_id: int, actor: User, user_id: int) -> Participant:
    """Remove someone from the room; they are disconnected and cannot come back."""
    room = _live_room_for_update(room_id)
    moderator = _require_moderator(room, actor)
    if actor.pk == user_id:
        raise ServiceError("not_allowed", "You cannot remove yourself; leave instead.")
    target = _participant(room, user_id)
    _check_may_act_on(moderator, target)
    _remove_participant(target, close_code=protocol.CLOSE_REMOVED)
    return target


def _remove_participant(target: Participant, *, close_code: int, banned: bool = True) -> None:
    """Take `target` out of the room now. `banned`: a host's removal, which keeps them out for good;
    without it (a block) the block itself keeps them out, and only for as long as it lasts."""
    target.role = Participant.Role.LISTENER
    target.is_muted = True
    target.is_removed = banned
    target.hand_raised_at = None
    target.invited_to_speak_at = None
    target.save()
    publish_on_commit(target.room_id, protocol.ParticipantLeft(user_id=target.user_id))
    if banned:
        error = protocol.Error(code="removed", message="You were removed from this room.")
    else:
        error = protocol.Error(code="not_found", message="This room does not exist.")
    publish_on_commit(target.room_id, error, to=target.user_id, close=close_code)


@transaction.atomic
def room_remove_blocked(*, host: User, blocked: User) -> None:
    """After `host` blocks `blocked`, take them out of the host's live rooms at once."""
    for participant in Participant.objects.select_for_update().filter(
        room__host=host, room__state=Room.State.LIVE, user=blocked, is_removed=False
    ):
        _remove_participant(participant, close_code=protocol.CLOSE_NOT_FOUND, banned=False)
    # A ticket holder the host blocks is refunded; the block itself keeps them out.
    tickets_holder_blocked(host=host, blocked=blocked)
    # Neither sees the other's rooms any more: no reminders of them, no invitations to them.
    between = Q(room__host=host, user=blocked) | Q(room__host=blocked, user=host)
    Reminder.objects.filter(between).delete()
    RoomInvitation.objects.filter(
        Q(room__host=host, invitee=blocked) | Q(room__host=blocked, invitee=host)
    ).delete()


@transaction.atomic
def cohost_add(*, room_id: int, actor: User, user_id: int) -> Participant:
    room = _stage_room_for_update(room_id)
    _require_host_in_room(room, actor, "Only the host can add co-hosts.")
    target = _participant(room, user_id)
    if target.role in (Participant.Role.HOST, Participant.Role.COHOST):
        raise ServiceError("already_cohost", "They are already a host of this room.")
    _check_stage_has_room_for(room, Participant.Role.COHOST)
    _change(target, role=Participant.Role.COHOST, hand_raised_at=None, invited_to_speak_at=None)
    return target


@transaction.atomic
def cohost_remove(*, room_id: int, actor: User, user_id: int) -> Participant:
    """The host takes co-host rights away; the person stays on stage as a speaker if there is room,
    and goes back to the audience (muted) if the ten speakers' places are taken."""
    room = _stage_room_for_update(room_id)
    _require_host_in_room(room, actor, "Only the host can remove co-hosts.")
    target = _participant(room, user_id)
    if target.role != Participant.Role.COHOST:
        raise ServiceError("not_cohost", "They are not a co-host.")
    if _stage_has_room_for(room, Participant.Role.SPEAKER):
        _change(target, role=Participant.Role.SPEAKER)
    else:
        _change(target, role=Participant.Role.LISTENER, is_muted=True)
    return target


@transaction.atomic
def room_set_speaker_policy(*, room_id: int, actor: User, policy: str) -> Room:
    room = _live_room_for_update(room_id)
    _require_moderator(room, actor)
    if policy not in Room.SpeakerPolicy.values:
        raise ServiceError("bad_policy", "Choose everyone, followed or invited.")
    if room.speaker_policy != policy:
        room.speaker_policy = policy
        room.save(update_fields=["speaker_policy"])
        publish_on_commit(room.pk, protocol.Settings(speaker_policy=policy))
    return room


@transaction.atomic
def room_set_captions(*, room_id: int, actor: User, enabled: bool) -> Room:
    """Host or co-host turns live captions on or off for everyone in the room (each listener still
    chooses whether to show them). A recorded room that loses captions for a while gets its
    transcript from the recording instead, when it is finalized."""
    from recordings.services import transcript_note_captions_off

    room = _live_room_for_update(room_id)
    _require_moderator(room, actor)
    if room.captions_enabled != enabled:
        room.captions_enabled = enabled
        room.save(update_fields=["captions_enabled"])
        publish_on_commit(room.pk, protocol.CaptionsChanged(enabled=enabled))
        if not enabled:
            transcript_note_captions_off(room=room)
    return room


def reaction_send(*, room_id: int, actor: User, emoji: str) -> None:
    """Show `emoji` on the sender's avatar for everyone; rate-limited per person and room."""
    from .ratelimit import get_rate_limiter

    if emoji not in protocol.REACTIONS:
        raise ServiceError("bad_emoji", "That reaction is not available.")
    if actor.is_suspended:
        raise ServiceError("suspended", "Your account is suspended.")
    if not Participant.objects.filter(
        room_id=room_id, user=actor, is_removed=False, room__state=Room.State.LIVE
    ).exists():
        raise ServiceError("not_in_room", "Join the room to react.")
    if not get_rate_limiter().allow(
        f"reaction:{room_id}:{actor.pk}",
        per_second=protocol.REACTION_RATE_PER_SECOND,
        burst=protocol.REACTION_BURST,
    ):
        raise ServiceError("rate_limited", "Slow down: at most one reaction a second.")
    publish_on_commit(room_id, protocol.Reaction(user_id=actor.pk, emoji=emoji))


@transaction.atomic
def link_pin(*, room_id: int, actor: User, title: str, url: str) -> PinnedLink:
    from django.core.exceptions import ValidationError
    from django.core.validators import URLValidator

    from .models import MAX_PINNED_LINKS

    room = _live_room_for_update(room_id)
    _require_moderator(room, actor)
    title = " ".join(title.split())[:100]
    url = url.strip()
    if not title:
        raise ServiceError("title_required", "Give the link a title.")
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ServiceError("bad_url", "Pin an http or https link.") from None
    if len(url) > 500:
        raise ServiceError("bad_url", "That link is too long.")
    if PinnedLink.objects.filter(room=room).count() >= MAX_PINNED_LINKS:
        raise ServiceError("too_many_links", f"At most {MAX_PINNED_LINKS} links can be pinned.")
    link = PinnedLink.objects.create(room=room, title=title, url=url, pinned_by=actor)
    publish_on_commit(room.pk, protocol.Links(links=links_payload(room.pk)))
    return link


@transaction.atomic
def link_unpin(*, room_id: int, actor: User, link_id: int) -> None:
    room = _live_room_for_update(room_id)
    _require_moderator(room, actor)
    deleted, _ = PinnedLink.objects.filter(room=room, pk=link_id).delete()
    if not deleted:
        raise ServiceError("not_found", "That link is not pinned.")
    publish_on_commit(room.pk, protocol.Links(links=links_payload(room.pk)))


def room_start_by_id(*, room_id: int, actor: User) -> Room:
    """Go live (from the backstage, or straight from the schedule)."""
    room = Room.objects.filter(pk=room_id).first()
    if room is None:
        raise ServiceError("not_found", "This room does not exist.")
    return room_start(room=room, actor=actor)


def room_end_by_id(*, room_id: int, actor: User) -> Room:
    room = Room.objects.filter(pk=room_id).first()
    if room is None:
        raise ServiceError("not_found", "This room does not exist.")
    return room_end(room=room, actor=actor)


def participant_disconnected(*, room_id: int, user_id: int) -> None:
    """The person's last connection closed without leaving: keep their place, tell the room."""
    if Participant.objects.filter(
        room_id=room_id, user_id=user_id, is_removed=False, role__in=Participant.STAGE_ROLES
    ).exists():
        publish_on_commit(room_id, protocol.ParticipantLeft(user_id=user_id))


def participant_disconnect_everywhere(
    *, user: User, code: str = "suspended", message: str = "Your account is suspended."
) -> None:
    """Close every room socket `user` has open (suspended, signed out everywhere, deleted).

    Sockets close once the transaction commits, within the bus's delivery time (well under a second).
    """
    close = protocol.close_code_for(code) if code in protocol.CLOSE_FOR_REFUSAL else protocol.CLOSE_SIGNED_OUT
    room_ids = Participant.objects.filter(user=user, room__state=Room.State.LIVE).values_list(
        "room_id", flat=True
    )
    for room_id in room_ids:
        publish_on_commit(room_id, protocol.Error(code=code, message=message), to=user.pk, close=close)


# ---------------------------------------------------------------------------------------------
# A site moderator's changes to a live room (Django admin). Call from moderation services only:
# they check the moderator and write the audit log. Each change is announced like any other.
# ---------------------------------------------------------------------------------------------


def _live_participant_for_update(participant: Participant) -> tuple[Room, Participant]:
    room = _live_room_for_update(participant.room_id)
    return room, _participant(room, participant.user_id)


@transaction.atomic
def participant_force_mute(*, participant: Participant) -> Participant:
    """Mute a stage member, the host included."""
    _, target = _live_participant_for_update(participant)
    if not target.on_stage:
        raise ServiceError("not_on_stage", f"{target.user} is not on stage.")
    _change(target, is_muted=True)
    return target


@transaction.atomic
def participant_force_to_audience(*, participant: Participant) -> Participant:
    """Move a co-host or speaker back to the audience. The host stays: end the room instead."""
    _, target = _live_participant_for_update(participant)
    if target.role == Participant.Role.HOST:
        raise ServiceError("not_allowed", "The host stays on stage; end the room instead.")
    if not target.on_stage:
        raise ServiceError("not_on_stage", f"{target.user} is not on stage.")
    _change(target, role=Participant.Role.LISTENER, is_muted=True)
    return target


@transaction.atomic
def participant_force_remove(*, participant: Participant) -> Participant:
    """Remove someone from the room for good; their sockets close. The host stays: end the room instead."""
    _, target = _live_participant_for_update(participant)
    if target.role == Participant.Role.HOST:
        raise ServiceError("not_allowed", "The host cannot be removed; end the room instead.")
    _remove_participant(target, close_code=protocol.CLOSE_REMOVED)
    return target


@transaction.atomic
def links_force_unpin(*, room: Room) -> int:
    """Unpin every link of a live room; return how many there were."""
    room = _live_room_for_update(room.pk)
    deleted, _ = PinnedLink.objects.filter(room=room).delete()
    if deleted:
        publish_on_commit(room.pk, protocol.Links(links=[]))
    return deleted


# ---------------------------------------------------------------------------------------------
# Bringing people back: reminders, invitations, going-live notices and the timed notices that
# the periodic task (rooms/tasks.py, under Celery beat) sends when they are due.
# ---------------------------------------------------------------------------------------------

# Rooms handled per transaction by the periodic task.
DUE_BATCH = 100


def _room_url(room: Room) -> str:
    return f"/rooms/{room.pk}/"


def _when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    moment = moment.astimezone(timezone.get_fixed_timezone(0))
    return f"{moment:%a} {moment.day} {moment:%b}, {moment:%H:%M} UTC"


def _host_notice_for(scheduled_for: datetime) -> datetime | None:
    """A host who schedules a room less than 30 minutes ahead needs no notice: mark it as given."""
    return scheduled_for if scheduled_for - timezone.now() <= HOST_NOTICE_AHEAD else None


def _visible_room_for(room_id: int, user, *, doing: str) -> Room:
    from .selectors import room_get_for_viewer

    if not getattr(user, "is_authenticated", False):
        raise ServiceError("sign_in_required", f"Sign in to {doing}.")
    return room_get_for_viewer(room_id=room_id, viewer=user)


def _announce_reminder_count(room: Room) -> None:
    """Tell the host, live, how many people now wait for their room."""

    def send() -> None:
        count = Reminder.objects.filter(room_id=room.pk).count()
        send_to_user(room.host_id, protocol.UserReminderCount(room_id=room.pk, count=count))

    transaction.on_commit(send, robust=True)


@transaction.atomic
def reminder_set(*, room_id: int, user: User) -> bool:
    """Remind `user` when the scheduled room starts. True if set now; setting it twice is one reminder."""
    room = _visible_room_for(room_id, user, doing="set a reminder")
    if room.host_id == user.pk:
        raise ServiceError("own_room", "You host this room: you will be told 30 minutes before it starts.")
    if user.is_suspended:
        raise ServiceError("suspended", "Your account is suspended.")
    if room.state != Room.State.SCHEDULED:
        raise ServiceError("not_scheduled", "Reminders are for rooms that have not started yet.")
    try:
        with transaction.atomic():
            _, created = Reminder.objects.get_or_create(room=room, user=user)
    except IntegrityError:  # the same person, twice at once
        created = False
    if created:
        _announce_reminder_count(room)
    return created


@transaction.atomic
def reminder_delete(*, room_id: int, user: User) -> bool:
    """Take a reminder back. True if there was one."""
    room = _visible_room_for(room_id, user, doing="change a reminder")
    deleted, _ = Reminder.objects.filter(room=room, user=user).delete()
    if deleted:
        _announce_reminder_count(room)
    return bool(deleted)


def _may_invite(room: Room, actor: User) -> None:
    if actor.pk == room.host_id:
        return
    if (
        room.state == Room.State.LIVE
        and Participant.objects.filter(
            room=room, user=actor, role=Participant.Role.COHOST, is_removed=False
        ).exists()
    ):
        return
    raise ServiceError("not_allowed", "Only the host or a co-host can invite people to this room.")


def _stage_has_room_for_a_speaker(room: Room) -> bool:
    try:
        _check_stage_has_room_for(room, Participant.Role.SPEAKER)
    except ServiceError:
        return False
    return True


@transaction.atomic
def room_invite(*, room_id: int, actor: User, handle: str) -> tuple[User, bool]:
    """Invite the person with `handle` to a scheduled or live room; return (them, invited now).

    Each invitation notifies once: inviting someone again does nothing. Invited to a live room
    whose stage has a free place, they are also asked to speak, at once if they are in the room,
    or when they come in.
    """
    from accounts.selectors import is_blocked_between, user_get_by_handle

    room = _visible_room_for(room_id, actor, doing="invite people")
    room = Room.objects.select_for_update().select_related("host").get(pk=room.pk)
    _may_invite(room, actor)
    if room.state not in (Room.State.SCHEDULED, Room.State.LIVE):
        raise ServiceError("bad_state", "Only a scheduled or live room takes invitations.")
    name = handle.strip().lstrip("@").strip()
    if not name:
        raise ServiceError("handle_required", "Type the @handle of the person to invite.", field="handle")
    invitee = user_get_by_handle(handle=name[:30])
    if invitee is None:
        raise ServiceError("no_such_person", f"Nobody has the handle @{name[:30]}.", field="handle")
    if invitee.pk == actor.pk:
        raise ServiceError("self_invite", "You cannot invite yourself.", field="handle")
    if invitee.pk == room.host_id:
        raise ServiceError("host_invite", f"@{invitee.handle} hosts this room.", field="handle")
    if is_blocked_between(a=invitee, b=room.host) or is_blocked_between(a=invitee, b=actor):
        raise ServiceError("blocked", f"You cannot invite @{invitee.handle}.", field="handle")
    live = room.state == Room.State.LIVE
    participant = (
        Participant.objects.select_for_update().select_related("user").filter(room=room, user=invitee).first()
        if live
        else None
    )
    if participant is not None and participant.is_removed:
        raise ServiceError("removed", f"@{invitee.handle} was removed from this room.", field="handle")
    to_speak = live and not (participant and participant.on_stage) and _stage_has_room_for_a_speaker(room)
    try:
        with transaction.atomic():
            invitation = RoomInvitation.objects.create(
                room=room, invitee=invitee, invited_by=actor, to_speak=to_speak
            )
    except IntegrityError:
        return invitee, False
    if to_speak and participant is not None:
        invitation.speak_offered_at = timezone.now()
        invitation.save(update_fields=["speak_offered_at"])
        _ask_to_speak(room, participant, actor)
    if to_speak:
        kind, text = (
            Notification.Kind.SPEAK_INVITE,
            f"{actor.name} invited you to speak in {room.title}, live now",
        )
    elif live:
        kind, text = Notification.Kind.ROOM_INVITE, f"{actor.name} invited you to {room.title}, live now"
    else:
        when = _when(room.scheduled_for)
        kind, text = Notification.Kind.ROOM_INVITE, f"{actor.name} invited you to {room.title}, {when}"
    notify(
        recipients=[invitee.pk],
        kind=kind,
        actor=actor,
        room=room,
        text=text,
        url=_room_url(room),
        key=f"invite:{room.pk}",
    )
    return invitee, True


def _offer_the_stage_to_an_invitee(room: Room, participant: Participant) -> None:
    """Someone invited to speak before they came in is asked once, on arrival, if there is room."""
    invitation = (
        RoomInvitation.objects.select_for_update()
        .filter(room=room, invitee_id=participant.user_id, to_speak=True, speak_offered_at__isnull=True)
        .first()
    )
    if invitation is None:
        return
    invitation.speak_offered_at = timezone.now()
    invitation.save(update_fields=["speak_offered_at"])
    if _stage_has_room_for_a_speaker(room):
        _change(participant, invited_to_speak_at=timezone.now())


def _fire_reminders(room: Room, *, text: str, now: datetime, notify_anyone: bool = True) -> int:
    """Tell everyone whose reminder for `room` has not fired yet; return how many were told.

    Reminders another transaction holds are left to it. Call inside `transaction.atomic`.
    """
    from accounts.selectors import blocked_user_ids

    pending = list(
        Reminder.objects.select_for_update(skip_locked=True)
        .filter(room=room, notified_at__isnull=True)
        .values_list("pk", "user_id")
    )
    if not pending:
        return 0
    hidden = blocked_user_ids(user=room.host)
    recipients = [user_id for _, user_id in pending if user_id not in hidden] if notify_anyone else []
    notify(
        recipients=recipients,
        kind=Notification.Kind.REMINDER,
        actor=room.host,
        room=room,
        text=text,
        url=_room_url(room),
        key=f"reminder:{room.pk}:{room.calendar_sequence}",
    )
    Reminder.objects.filter(pk__in=[pk for pk, _ in pending]).update(notified_at=now)
    return len(recipients)


@transaction.atomic
def room_live_notify(*, room_id: int) -> None:
    """The room went live: fire its reminders, and tell the host's followers unless they were told
    about this host in the last 10 minutes. Safe to run twice (tasks/notify_room_live)."""
    room = Room.objects.select_related("host").filter(pk=room_id).first()
    if room is None or room.state != Room.State.LIVE:
        return  # ended before we got here: do not tell anyone it is live
    now = timezone.now()
    # Noted first: if what follows fails, the task's retries (and the notices' keys) finish it; the
    # mark only says the task ran, so that rooms_announce_missed does not queue it again.
    Room.objects.filter(pk=room.pk, live_announced_at__isnull=True).update(live_announced_at=now)
    _fire_reminders(room, text=f"{room.host.name} started {room.title}: join now", now=now)
    # One conditional UPDATE decides, under the host row's lock: starting and ending rooms in a
    # loop cannot notify more than once per gap, whatever runs at the same time.
    claimed = (
        User.objects.filter(pk=room.host_id)
        .filter(Q(live_notified_at__isnull=True) | Q(live_notified_at__lte=now - LIVE_NOTICE_GAP))
        .update(live_notified_at=now)
    )
    if not claimed:
        return
    followers = (
        Follow.objects.filter(followee_id=room.host_id)
        # Those who set a reminder were just told.
        .exclude(follower_id__in=Reminder.objects.filter(room=room).values("user_id"))
        .values_list("follower_id", flat=True)
    )
    notify(
        recipients=followers,
        kind=Notification.Kind.HOST_LIVE,
        actor=room.host,
        room=room,
        text=f"{room.host.name} is live: {room.title}",
        url=_room_url(room),
        key=f"live:{room.pk}",
    )


def rooms_announce_missed(*, now: datetime | None = None) -> list[int]:
    """Queue again the going-live announcement of live rooms that were never announced: their task
    was lost (the broker was down when the host went live). Called by a periodic task; announcing
    twice notifies nobody twice (each notice has its key)."""
    from .tasks import notify_room_live

    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.ROOM_LIVE_ANNOUNCE_STUCK_AFTER_S)
    missed = list(
        Room.objects.filter(state=Room.State.LIVE, live_announced_at__isnull=True, started_at__lt=cutoff)
        .order_by("started_at")
        .values_list("pk", flat=True)[:500]
    )
    for room_id in missed:
        notify_room_live.delay(room_id)
    return missed


def notices_send_due(*, now: datetime | None = None) -> int:
    """Send every timed notice that is due: reminders of rooms whose start time has come, and
    hosts' notices 30 minutes before. Return how many people were notified.

    Run by the periodic task. Each batch locks the rooms it handles (skipping rooms another run
    holds), and each notice carries a key the database accepts once per person, so runs that
    overlap, or repeat, never notify twice.
    """
    now = now or timezone.now()
    sent = 0
    for send_batch in (_send_due_reminders, _send_due_host_notices):
        while True:
            count, more = send_batch(now)
            sent += count
            if not more:
                break
    return sent


@transaction.atomic
def _send_due_reminders(now: datetime) -> tuple[int, bool]:
    from .selectors import UPCOMING_GRACE

    rooms = list(
        Room.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("host")
        .filter(state=Room.State.SCHEDULED, scheduled_for__lte=now)
        .filter(Exists(Reminder.objects.filter(room=OuterRef("pk"), notified_at__isnull=True)))
        .order_by("scheduled_for", "pk")[:DUE_BATCH]
    )
    sent = 0
    for room in rooms:
        # A reminder an hour late (the service was down) would send people to a room that is no
        # longer listed as upcoming: it is dropped, not sent.
        sent += _fire_reminders(
            room,
            text=f"Starting now: {room.title} with {room.host.name}",
            now=now,
            notify_anyone=now - room.scheduled_for <= UPCOMING_GRACE,
        )
    return sent, len(rooms) == DUE_BATCH


@transaction.atomic
def _send_due_host_notices(now: datetime) -> tuple[int, bool]:
    rooms = list(
        Room.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("host")
        .filter(state=Room.State.SCHEDULED, scheduled_for__gt=now, scheduled_for__lte=now + HOST_NOTICE_AHEAD)
        .filter(Q(host_notice_for__isnull=True) | ~Q(host_notice_for=F("scheduled_for")))
        .order_by("scheduled_for", "pk")[:DUE_BATCH]
    )
    for room in rooms:
        minutes = max(1, round((room.scheduled_for - now).total_seconds() / 60))
        notify(
            recipients=[room.host_id],
            kind=Notification.Kind.REMINDER,
            room=room,
            text=f"Your room {room.title} starts in {minutes} minute{'s' if minutes != 1 else ''}",
            url=_room_url(room),
            key=f"host-notice:{room.pk}:{room.calendar_sequence}",
        )
        room.host_notice_for = room.scheduled_for
        room.save(update_fields=["host_notice_for"])
    return len(rooms), len(rooms) == DUE_BATCH
