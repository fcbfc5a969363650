"""A site moderator's changes to a live room (Django admin). Call from moderation services only:
they check the moderator and write the audit log. Each change is announced like any other."""

from django.db import transaction
from django.utils.translation import gettext as _

from spaces_project import protocol, realtime
from spaces_project.errors import ServiceError

from ..models import Participant, PinnedLink, Room
from ._common import _change, _live_room_for_update, _participant, _remove_participant


def _live_participant_for_update(participant: Participant) -> tuple[Room, Participant]:
    room = _live_room_for_update(participant.room_id)
    return room, _participant(room, participant.user_id)


@transaction.atomic
def participant_force_mute(*, participant: Participant) -> Participant:
    """Mute a stage member, the host included."""
    _room, target = _live_participant_for_update(participant)
    if not target.on_stage:
        raise ServiceError("not_on_stage", _("%(user)s is not on stage.") % {"user": target.user})
    _change(target, is_muted=True)
    return target


@transaction.atomic
def participant_force_to_audience(*, participant: Participant) -> Participant:
    """Move a co-host or speaker back to the audience. The host stays: end the room instead."""
    _room, target = _live_participant_for_update(participant)
    if target.role == Participant.Role.HOST:
        raise ServiceError("not_allowed", _("The host stays on stage; end the room instead."))
    if not target.on_stage:
        raise ServiceError("not_on_stage", _("%(user)s is not on stage.") % {"user": target.user})
    _change(target, role=Participant.Role.LISTENER, is_muted=True)
    return target


@transaction.atomic
def participant_force_remove(*, participant: Participant) -> Participant:
    """Remove someone from the room for good; their sockets close. The host stays: end the room instead."""
    _room, target = _live_participant_for_update(participant)
    if target.role == Participant.Role.HOST:
        raise ServiceError("not_allowed", _("The host cannot be removed; end the room instead."))
    _remove_participant(target, close_code=protocol.CLOSE_REMOVED)
    return target


@transaction.atomic
def links_force_unpin(*, room: Room) -> int:
    """Unpin every link of a live room; return how many there were."""
    room = _live_room_for_update(room.pk)
    deleted, _ = PinnedLink.objects.filter(room=room).delete()
    if deleted:
        realtime.send_on_commit(protocol.Links(links=[]), room_id=room.pk)
    return deleted
