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

from . import protocol
from .events import links_payload, participant_updated, publish_on_commit
from .models import (
    MAX_SCHEDULE_DAYS,
    MAX_TITLE_LENGTH,
    MAX_TOPICS,
    MAX_UPCOMING_PER_HOST,
    Participant,
    PinnedLink,
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
    captions_enabled: bool = False,
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
        captions_enabled=captions_enabled,
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
    """Seat the host, open the recording if it is recorded, and tell the host's followers.
    Call inside `transaction.atomic`."""
    from recordings.services import recording_start_capture  # recordings depends on rooms

    Participant.objects.update_or_create(
        room=room, user=room.host, defaults={"role": Participant.Role.HOST, "is_removed": False}
    )
    recording_start_capture(room=room)
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


def _check_may_act_on(actor: Participant, target: Participant) -> None:
    """Co-hosts act on speakers and listeners; only the host acts on co-hosts; nobody on the host."""
    if target.role == Participant.Role.HOST:
        raise ServiceError("not_allowed", "Nobody can do that to the host.")
    if target.role == Participant.Role.COHOST and actor.role != Participant.Role.HOST:
        raise ServiceError("not_allowed", "Only the host can do that to a co-host.")


def _check_stage_has_room_for(room: Room, role: str) -> None:
    from .models import MAX_COHOSTS, MAX_SPEAKERS

    limit = MAX_COHOSTS if role == Participant.Role.COHOST else MAX_SPEAKERS
    taken = Participant.objects.filter(room=room, role=role, is_removed=False).count()
    if taken >= limit:
        what = "co-hosts" if role == Participant.Role.COHOST else "speakers"
        raise ServiceError("stage_full", f"The stage is full: at most {limit} {what}.")


def _check_speaker_policy(room: Room, user: User) -> None:
    if room.speaker_policy == Room.SpeakerPolicy.INVITED:
        raise ServiceError("not_allowed", "Only people the host invites can speak in this room.")
    if (
        room.speaker_policy == Room.SpeakerPolicy.FOLLOWED
        and not Follow.objects.filter(follower_id=room.host_id, followee=user).exists()
    ):
        raise ServiceError("not_allowed", "Only people the host follows can ask to speak in this room.")


def participant_check_may_join(*, room: Room, user) -> None:
    """Raise unless `user` (possibly anonymous) may be in the live room `room`."""
    from accounts.selectors import is_blocked_between

    if room.state != Room.State.LIVE:
        raise ServiceError("not_live", "This room is not live.")
    if not getattr(user, "is_authenticated", False):
        if not room.allow_anonymous:
            raise ServiceError("sign_in_required", "Sign in to listen to this room.")
        return
    if user.is_suspended:
        raise ServiceError("suspended", "Your account is suspended.")
    if is_blocked_between(a=user, b=room.host):
        raise ServiceError("not_found", "This room does not exist.")
    if Participant.objects.filter(room=room, user=user, is_removed=True).exists():
        raise ServiceError("removed", "You were removed from this room.")


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
    if not created and participant.on_stage:
        participant_updated(participant)
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
    from accounts.services import notification_create

    room = _live_room_for_update(room_id)
    _require_moderator(room, actor)
    target = _participant(room, user_id)
    if target.on_stage:
        raise ServiceError("already_on_stage", "They are already on stage.")
    _check_stage_has_room_for(room, Participant.Role.SPEAKER)
    _change(target, invited_to_speak_at=timezone.now())
    publish_on_commit(
        room_id,
        protocol.SpeakInvited(to_user_id=user_id, by=actor.name, recorded=room.is_recorded),
        to=user_id,
    )
    notification_create(
        recipient=target.user,
        kind=Notification.Kind.SPEAK_INVITE,
        actor=actor,
        room=room,
        text=f"{actor.name} invited you to speak in {room.title}",
        url=f"/rooms/{room.pk}/",
    )
    return target


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
    room = _live_room_for_update(room_id)
    participant = _participant(room, actor.pk)
    if not participant.on_stage:
        raise ServiceError("not_on_stage", "Only people on stage have a microphone.")
    _change(participant, is_muted=muted)
    return participant


@transaction.atomic
def speaker_mute(*, room_id: int, actor: User, user_id: int) -> Participant:
    """Host or co-host mutes someone on stage. Nobody but the speaker can unmute them."""
    room = _live_room_for_update(room_id)
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
    room = _live_room_for_update(room_id)
    moderator = _require_moderator(room, actor)
    muted = 0
    for target in _stage_members(room):
        if target.pk == moderator.pk or target.is_muted or target.role == Participant.Role.HOST:
            continue
        if target.role == Participant.Role.COHOST and moderator.role != Participant.Role.HOST:
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
    room = _live_room_for_update(room_id)
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


def _remove_participant(target: Participant, *, close_code: int) -> None:
    target.role = Participant.Role.LISTENER
    target.is_muted = True
    target.is_removed = True
    target.hand_raised_at = None
    target.invited_to_speak_at = None
    target.save()
    publish_on_commit(target.room_id, protocol.ParticipantLeft(user_id=target.user_id))
    publish_on_commit(
        target.room_id,
        protocol.Error(code="removed", message="You were removed from this room."),
        to=target.user_id,
        close=close_code,
    )


@transaction.atomic
def room_remove_blocked(*, host: User, blocked: User) -> None:
    """After `host` blocks `blocked`, take them out of the host's live rooms at once."""
    for participant in Participant.objects.select_for_update().filter(
        room__host=host, room__state=Room.State.LIVE, user=blocked, is_removed=False
    ):
        _remove_participant(participant, close_code=protocol.CLOSE_NOT_FOUND)


@transaction.atomic
def cohost_add(*, room_id: int, actor: User, user_id: int) -> Participant:
    room = _live_room_for_update(room_id)
    if actor.pk != room.host_id:
        raise ServiceError("not_allowed", "Only the host can add co-hosts.")
    target = _participant(room, user_id)
    if target.role in (Participant.Role.HOST, Participant.Role.COHOST):
        raise ServiceError("already_cohost", "They are already a host of this room.")
    _check_stage_has_room_for(room, Participant.Role.COHOST)
    _change(target, role=Participant.Role.COHOST, hand_raised_at=None, invited_to_speak_at=None)
    return target


@transaction.atomic
def cohost_remove(*, room_id: int, actor: User, user_id: int) -> Participant:
    """The host takes co-host rights away; the person stays on stage as a speaker if there is room."""
    from .models import MAX_SPEAKERS

    room = _live_room_for_update(room_id)
    if actor.pk != room.host_id:
        raise ServiceError("not_allowed", "Only the host can remove co-hosts.")
    target = _participant(room, user_id)
    if target.role != Participant.Role.COHOST:
        raise ServiceError("not_cohost", "They are not a co-host.")
    speakers = Participant.objects.filter(room=room, role=Participant.Role.SPEAKER, is_removed=False).count()
    _change(target, role=Participant.Role.SPEAKER if speakers < MAX_SPEAKERS else Participant.Role.LISTENER)
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


def participant_disconnect_everywhere(*, user: User) -> None:
    """Close every room socket `user` has open (their account was suspended)."""
    room_ids = Participant.objects.filter(user=user, room__state=Room.State.LIVE).values_list(
        "room_id", flat=True
    )
    for room_id in room_ids:
        publish_on_commit(
            room_id,
            protocol.Error(code="suspended", message="Your account is suspended."),
            to=user.pk,
            close=protocol.CLOSE_SUSPENDED,
        )
