"""A live room's stage: every websocket action is one of these. Each locks the room row, so stage
changes are serialized and the stage limits hold however many requests arrive at once."""

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Follow, Notification, User
from accounts.selectors import blocked_among
from accounts.services import notify
from spaces_project import protocol, realtime
from spaces_project.errors import ServiceError

from .. import hooks
from ..analytics import collect as analytics
from ..events import links_payload, participant_updated
from ..models import MAX_PINNED_LINKS, Participant, PinnedLink, Reminder, Room, RoomInvitation
from ..ratelimit import get_rate_limiter
from ..selectors.tickets import ticketed_room_admitted_ids
from ._common import (
    _ask_to_speak,
    _change,
    _check_stage_has_room_for,
    _live_room_for_update,
    _participant,
    _remove_participant,
    _room_url,
    _stage_has_room_for,
    _stage_has_room_for_a_speaker,
    _stage_room_for_update,
)
from .tickets import tickets_holder_blocked


def _require_moderator(room: Room, actor: User) -> Participant:
    participant = _participant(room, actor.pk)
    if participant.role not in Participant.MODERATOR_ROLES:
        raise ServiceError("not_allowed", _("Only the host or a co-host can do that."))
    return participant


def _require_host_in_room(room: Room, actor: User, message: str) -> Participant:
    participant = _participant(room, actor.pk)
    if participant.role != Participant.Role.HOST:
        raise ServiceError("not_allowed", message)
    return participant


def _refusal_to_act_on(actor: Participant, target: Participant) -> ServiceError | None:
    """Co-hosts act on speakers and listeners; only the host acts on co-hosts; nobody on the host."""
    if target.role == Participant.Role.HOST:
        return ServiceError("not_allowed", _("Nobody can do that to the host."))
    if target.role == Participant.Role.COHOST and actor.role != Participant.Role.HOST:
        return ServiceError("not_allowed", _("Only the host can do that to a co-host."))
    return None


def _check_may_act_on(actor: Participant, target: Participant) -> None:
    refusal = _refusal_to_act_on(actor, target)
    if refusal is not None:
        raise refusal


def _check_speaker_policy(room: Room, user: User) -> None:
    if room.speaker_policy == Room.SpeakerPolicy.INVITED:
        raise ServiceError("not_allowed", _("Only people the host invites can speak in this room."))
    if (
        room.speaker_policy == Room.SpeakerPolicy.FOLLOWED
        and not Follow.objects.filter(follower_id=room.host_id, followee=user).exists()
    ):
        raise ServiceError("not_allowed", _("Only people the host follows can ask to speak in this room."))


def participant_join_refusal(*, room: Room, user) -> ServiceError | None:
    """Why `user` (possibly anonymous) may not be in the live room `room`, or None if they may."""
    if room.state != Room.State.LIVE and not room.in_backstage:
        return ServiceError("not_live", _("This room is not live."))
    if not getattr(user, "is_authenticated", False):
        if room.is_ticketed:
            return ServiceError("sign_in_required", _("This room is for ticket holders: sign in to listen."))
        if not room.allow_anonymous:
            return ServiceError("sign_in_required", _("Sign in to listen to this room."))
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
        return {pk: ServiceError("not_found", _("This room does not exist.")) for pk in wanted}
    users = list(User.objects.filter(pk__in=wanted))
    gone = {
        pk: ServiceError("not_found", _("This room does not exist.")) for pk in wanted - {u.pk for u in users}
    }
    return gone | _join_refusals(room, users)


def _join_refusals(room: Room, users: list[User]) -> dict[int, ServiceError]:
    """The door's rule for signed-in people, checked for all of `users` together, in the order
    participant_join_refusal gives the reasons: each refused person's first reason."""
    if room.state != Room.State.LIVE and not room.in_backstage:
        return {user.pk: ServiceError("not_live", _("This room is not live.")) for user in users}
    refusals = {
        user.pk: ServiceError("suspended", _("Your account is suspended."))
        for user in users
        if user.is_suspended
    }
    rest = {user.pk for user in users} - refusals.keys()
    for pk in blocked_among(user=room.host, user_ids=rest):
        refusals[pk] = ServiceError("not_found", _("This room does not exist."))
    if rest := rest - refusals.keys():
        for pk in Participant.objects.filter(room=room, user_id__in=rest, is_removed=True).values_list(
            "user_id", flat=True
        ):
            refusals[pk] = ServiceError("removed", _("You were removed from this room."))
    if room.is_ticketed and (rest := rest - refusals.keys()):
        for pk in rest - ticketed_room_admitted_ids(room=room, user_ids=rest):
            refusals[pk] = ServiceError("ticket_required", _("This room is for ticket holders."))
    return refusals


def participant_check_may_join(*, room: Room, user) -> None:
    """Raise unless `user` (possibly anonymous) may be in the live room `room`."""
    refusal = participant_join_refusal(room=room, user=user)
    if refusal is not None:
        raise refusal


def _seat_in_backstage(room: Room, participant: Participant) -> None:
    """An invited person coming into the backstage takes a place on the stage, muted, if it has one."""
    if participant.on_stage or participant.user_id == room.host_id:
        return
    invited = RoomInvitation.objects.filter(room=room, invitee_id=participant.user_id).exists()
    if invited and _stage_has_room_for(room, Participant.Role.SPEAKER):
        _change(participant, role=Participant.Role.SPEAKER, is_muted=True)


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


@transaction.atomic
def participant_join(*, room_id: int, user) -> Participant | None:
    """Seat `user` in the live room, keeping the place and role they had. None for anonymous."""
    room = Room.objects.select_related("host").filter(pk=room_id).first()
    if room is None:
        raise ServiceError("not_found", _("This room does not exist."))
    participant_check_may_join(room=room, user=user)
    if not getattr(user, "is_authenticated", False):
        return None
    participant, created = Participant.objects.select_related("user").get_or_create(room=room, user=user)
    return _seat(room, participant, created)


@transaction.atomic
def participants_join(*, room_id: int, users: list[User]) -> dict[int, Participant | ServiceError]:
    """participant_join for several signed-in people of one room at once (a web process's sockets
    after another process died, rooms/live/joins.py): the room, the door's rule and the places they
    had read in a handful of queries whatever their number. Each person's seat, or the refusal that
    participant_join would have raised."""
    room = Room.objects.select_related("host").filter(pk=room_id).first()
    if room is None:
        return {user.pk: ServiceError("not_found", _("This room does not exist.")) for user in users}
    out: dict[int, Participant | ServiceError] = dict(_join_refusals(room, users))
    admitted = [user for user in users if user.pk not in out]
    had = {
        p.user_id: p
        for p in Participant.objects.select_related("user").filter(
            room=room, user_id__in=[user.pk for user in admitted]
        )
    }
    for user in admitted:
        participant, created = had.get(user.pk), False
        if participant is None:
            participant, created = Participant.objects.select_related("user").get_or_create(
                room=room, user=user
            )
        out[user.pk] = _seat(room, participant, created)
    return out


def _seat(room: Room, participant: Participant, created: bool) -> Participant:
    """What joining does beyond the row: the backstage's seating, the stage's announcement, an
    invitee's offer to speak."""
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
        realtime.send_on_commit(protocol.ParticipantLeft(user_id=user.pk), room_id=room_id)


@transaction.atomic
def participant_raise_hand(*, room_id: int, actor: User) -> Participant:
    room = _live_room_for_update(room_id)
    participant = _participant(room, actor.pk)
    if participant.on_stage:
        raise ServiceError("already_on_stage", _("You are already on stage."))
    _check_speaker_policy(room, actor)
    if participant.hand_raised_at is None:
        _change(participant, hand_raised_at=timezone.now())
        transaction.on_commit(lambda: analytics.tally(room_id=room.pk, kind="hand"))
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
        raise ServiceError("already_on_stage", _("They are already on stage."))
    if target.hand_raised_at is None:
        raise ServiceError("no_request", _("They have not asked to speak."))
    _bring_on_stage(room, target)
    return target


@transaction.atomic
def speak_request_decline(*, room_id: int, actor: User, user_id: int) -> Participant:
    room = _live_room_for_update(room_id)
    _require_moderator(room, actor)
    target = _participant(room, user_id)
    if target.hand_raised_at is None:
        raise ServiceError("no_request", _("They have not asked to speak."))
    _change(target, hand_raised_at=None)
    realtime.send_on_commit(protocol.RequestDeclined(to_user_id=user_id), room_id=room_id, to=user_id)
    return target


@transaction.atomic
def speaker_invite(*, room_id: int, actor: User, user_id: int) -> Participant:
    room = _live_room_for_update(room_id)
    _require_moderator(room, actor)
    target = _participant(room, user_id)
    if target.on_stage:
        raise ServiceError("already_on_stage", _("They are already on stage."))
    _check_stage_has_room_for(room, Participant.Role.SPEAKER)
    _ask_to_speak(room, target, actor)
    notify(
        recipients=[target.user_id],
        kind=Notification.Kind.SPEAK_INVITE,
        actor=actor,
        room=room,
        text=lambda _zone: (
            _("%(name)s invited you to speak in %(title)s") % {"name": actor.name, "title": room.title}
        ),
        url=_room_url(room),
        push=True,
    )
    return target


@transaction.atomic
def speaker_invite_accept(*, room_id: int, actor: User) -> Participant:
    room = _live_room_for_update(room_id)
    participant = _participant(room, actor.pk)
    if participant.invited_to_speak_at is None:
        raise ServiceError("not_invited", _("You have not been invited to speak."))
    if participant.on_stage:
        raise ServiceError("already_on_stage", _("You are already on stage."))
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
        raise ServiceError("not_on_stage", _("Only people on stage have a microphone."))
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
        raise ServiceError("not_on_stage", _("They are not on stage."))
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
            raise ServiceError("not_allowed", _("The host stays on stage."))
    else:
        moderator = _require_moderator(room, actor)
        target = _participant(room, user_id)
        _check_may_act_on(moderator, target)
    if not target.on_stage:
        raise ServiceError("not_on_stage", _("They are not on stage."))
    _change(target, role=Participant.Role.LISTENER, is_muted=True)
    return target


@transaction.atomic
def participant_remove(*, room_id: int, actor: User, user_id: int) -> Participant:
    """Remove someone from the room; they are disconnected and cannot come back."""
    room = _live_room_for_update(room_id)
    moderator = _require_moderator(room, actor)
    if actor.pk == user_id:
        raise ServiceError("not_allowed", _("You cannot remove yourself; leave instead."))
    target = _participant(room, user_id)
    _check_may_act_on(moderator, target)
    _remove_participant(target, close_code=protocol.CLOSE_REMOVED)
    return target


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
    _require_host_in_room(room, actor, _("Only the host can add co-hosts."))
    target = _participant(room, user_id)
    if target.role in (Participant.Role.HOST, Participant.Role.COHOST):
        raise ServiceError("already_cohost", _("They are already a host of this room."))
    _check_stage_has_room_for(room, Participant.Role.COHOST)
    _change(target, role=Participant.Role.COHOST, hand_raised_at=None, invited_to_speak_at=None)
    return target


@transaction.atomic
def cohost_remove(*, room_id: int, actor: User, user_id: int) -> Participant:
    """The host takes co-host rights away; the person stays on stage as a speaker if there is room,
    and goes back to the audience (muted) if the ten speakers' places are taken."""
    room = _stage_room_for_update(room_id)
    _require_host_in_room(room, actor, _("Only the host can remove co-hosts."))
    target = _participant(room, user_id)
    if target.role != Participant.Role.COHOST:
        raise ServiceError("not_cohost", _("They are not a co-host."))
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
        raise ServiceError("bad_policy", _("Choose everyone, followed or invited."))
    if room.speaker_policy != policy:
        room.speaker_policy = policy
        room.save(update_fields=["speaker_policy"])
        realtime.send_on_commit(protocol.Settings(speaker_policy=policy), room_id=room.pk)
    return room


@transaction.atomic
def room_set_captions(*, room_id: int, actor: User, enabled: bool) -> Room:
    """Host or co-host turns live captions on or off for everyone in the room (each listener still
    chooses whether to show them). A recorded room that loses captions for a while gets its
    transcript from the recording instead, when it is finalized (rooms/hooks.py)."""
    room = _live_room_for_update(room_id)
    _require_moderator(room, actor)
    if room.captions_enabled != enabled:
        room.captions_enabled = enabled
        room.save(update_fields=["captions_enabled"])
        realtime.send_on_commit(protocol.CaptionsChanged(enabled=enabled), room_id=room.pk)
        if not enabled:
            for on_captions_off in hooks.on_captions_off:
                on_captions_off(room=room)
    return room


def reaction_send(*, room_id: int, actor: User, emoji: str) -> None:
    """Show `emoji` on the sender's avatar for everyone; rate-limited per person and room."""
    if emoji not in protocol.REACTIONS:
        raise ServiceError("bad_emoji", _("That reaction is not available."))
    if actor.is_suspended:
        raise ServiceError("suspended", _("Your account is suspended."))
    if not Participant.objects.filter(
        room_id=room_id, user=actor, is_removed=False, room__state=Room.State.LIVE
    ).exists():
        raise ServiceError("not_in_room", _("Join the room to react."))
    if not get_rate_limiter().allow(
        f"reaction:{room_id}:{actor.pk}",
        per_second=protocol.REACTION_RATE_PER_SECOND,
        burst=protocol.REACTION_BURST,
    ):
        raise ServiceError("rate_limited", _("Slow down: at most one reaction a second."))
    realtime.send_on_commit(protocol.Reaction(user_id=actor.pk, emoji=emoji), room_id=room_id)
    analytics.tally(room_id=room_id, kind="reaction")


@transaction.atomic
def link_pin(*, room_id: int, actor: User, title: str, url: str) -> PinnedLink:
    room = _live_room_for_update(room_id)
    _require_moderator(room, actor)
    title = " ".join(title.split())[:100]
    url = url.strip()
    if not title:
        raise ServiceError("title_required", _("Give the link a title."))
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ServiceError("bad_url", _("Pin an http or https link.")) from None
    if len(url) > 500:
        raise ServiceError("bad_url", _("That link is too long."))
    if PinnedLink.objects.filter(room=room).count() >= MAX_PINNED_LINKS:
        raise ServiceError(
            "too_many_links",
            _("At most %(count)s links can be pinned.") % {"count": MAX_PINNED_LINKS},
        )
    link = PinnedLink.objects.create(room=room, title=title, url=url, pinned_by=actor)
    realtime.send_on_commit(protocol.Links(links=links_payload(room.pk)), room_id=room.pk)
    return link


@transaction.atomic
def link_unpin(*, room_id: int, actor: User, link_id: int) -> None:
    room = _live_room_for_update(room_id)
    _require_moderator(room, actor)
    deleted, _ignored = PinnedLink.objects.filter(room=room, pk=link_id).delete()
    if not deleted:
        raise ServiceError("not_found", _("That link is not pinned."))
    realtime.send_on_commit(protocol.Links(links=links_payload(room.pk)), room_id=room.pk)


def participant_reannounce(*, room_id: int, user_id: int) -> None:
    """A stage member's new connection (a reloaded page) joined while the leave of their old one was
    on its way: pages may have had the join first and the leave last, so tell them again that the
    person is on stage (room.participant_updated)."""
    participant = Participant.objects.filter(
        room_id=room_id, user_id=user_id, is_removed=False, role__in=Participant.STAGE_ROLES
    ).first()
    if participant is not None:
        participant_updated(participant)


def participant_disconnected(*, room_id: int, user_id: int) -> None:
    """The person's last connection closed without leaving: keep their place, tell the room."""
    if Participant.objects.filter(
        room_id=room_id, user_id=user_id, is_removed=False, role__in=Participant.STAGE_ROLES
    ).exists():
        realtime.send_on_commit(protocol.ParticipantLeft(user_id=user_id), room_id=room_id)


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
        realtime.send_on_commit(
            protocol.Error(code=code, message=message), room_id=room_id, to=user.pk, close=close
        )
