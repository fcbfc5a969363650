"""What the room services share: the locked reads every live action starts with, the one way a
participant changes, the stage's limits, and how notices name a room and a time."""

from datetime import UTC, datetime, tzinfo

from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.timezones import format_moment
from spaces_project import protocol, realtime
from spaces_project.errors import ServiceError

from ..events import participant_updated
from ..models import MAX_COHOSTS, MAX_SPEAKERS, Participant, Room


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
        raise ServiceError("not_found", _("This room does not exist."))
    if room.state != Room.State.LIVE:
        raise ServiceError("not_live", _("This room is not live."))
    return room


def _stage_room_for_update(room_id: int) -> Room:
    """The room, locked, if it is live or its backstage is open: the stage works in both."""
    room = Room.objects.select_for_update().filter(pk=room_id).first()
    if room is None:
        raise ServiceError("not_found", _("This room does not exist."))
    if room.state != Room.State.LIVE and not room.in_backstage:
        raise ServiceError("not_live", _("This room is not live."))
    return room


def _participant(room: Room, user_id: int, *, for_update: bool = True) -> Participant:
    queryset = Participant.objects.select_related("user")
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    participant = queryset.filter(room=room, user_id=user_id, is_removed=False).first()
    if participant is None:
        raise ServiceError("not_in_room", _("That person is not in this room."))
    return participant


def _stage_limit(role: str) -> int:
    return MAX_COHOSTS if role == Participant.Role.COHOST else MAX_SPEAKERS


def _stage_has_room_for(room: Room, role: str) -> bool:
    return Participant.objects.filter(room=room, role=role, is_removed=False).count() < _stage_limit(role)


def _check_stage_has_room_for(room: Room, role: str) -> None:
    if not _stage_has_room_for(room, role):
        if role == Participant.Role.COHOST:
            refusal = _("The stage is full: at most %(count)s co-hosts.")
        else:
            refusal = _("The stage is full: at most %(count)s speakers.")
        raise ServiceError("stage_full", refusal % {"count": _stage_limit(role)})


def _stage_has_room_for_a_speaker(room: Room) -> bool:
    try:
        _check_stage_has_room_for(room, Participant.Role.SPEAKER)
    except ServiceError:
        return False
    return True


def _ask_to_speak(room: Room, target: Participant, actor: User) -> None:
    _change(target, invited_to_speak_at=timezone.now())
    realtime.send_on_commit(
        protocol.SpeakInvited(to_user_id=target.user_id, by=actor.name, recorded=room.is_recorded),
        room_id=room.pk,
        to=target.user_id,
    )


def _remove_participant(target: Participant, *, close_code: int, banned: bool = True) -> None:
    """Take `target` out of the room now. `banned`: a host's removal, which keeps them out for good;
    without it (a block) the block itself keeps them out, and only for as long as it lasts."""
    target.role = Participant.Role.LISTENER
    target.is_muted = True
    target.is_removed = banned
    target.hand_raised_at = None
    target.invited_to_speak_at = None
    target.save()
    realtime.send_on_commit(protocol.ParticipantLeft(user_id=target.user_id), room_id=target.room_id)
    if banned:
        error = protocol.Error(code="removed", message="You were removed from this room.")
    else:
        error = protocol.Error(code="not_found", message="This room does not exist.")
    realtime.send_on_commit(error, room_id=target.room_id, to=target.user_id, close=close_code)


def _room_url(room: Room) -> str:
    return f"/rooms/{room.pk}/"


def _when(moment: datetime | None, zone: tzinfo = UTC) -> str:
    """`moment` for a reader in `zone`: notices pass the recipient's (notify's text as a function
    of the zone), so each reads "Wed 9 Dec, 20:00 CET" in their own."""
    if moment is None:
        return ""
    return format_moment(moment, zone)
