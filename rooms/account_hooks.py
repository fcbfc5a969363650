"""What rooms does when something happens to a person (accounts/hooks.py): RoomsConfig.ready
registers these, with rooms.services' own functions where one does the whole part."""

from accounts import hooks
from accounts.models import User

from .models import Room
from .services import (
    participant_disconnect_everywhere,
    room_force_end,
    room_remove_blocked,
    rooms_force_end_hosted_by,
    tickets_account_deleting,
)


def remove_blocked(*, blocker: User, blocked: User) -> None:
    """The blocked person leaves the blocker's live rooms (room_remove_blocked)."""
    room_remove_blocked(host=blocker, blocked=blocked)


def end_hosted_rooms(*, user: User) -> list[Room]:
    """A suspended person's live rooms end; return them."""
    return rooms_force_end_hosted_by(host=user)


def end_rooms_of_deleted_host(*, user: User) -> list:
    """A person deleting their account: the live rooms they host end, everyone in them told, as when a
    moderator ends a room. Their rooms' files are recordings' (no directory of rooms' own)."""
    for room in Room.objects.select_for_update().filter(host=user, state=Room.State.LIVE):
        room_force_end(room=room)
    return []


def register() -> None:
    hooks.on_block.register(remove_blocked)
    hooks.on_sessions_end.register(participant_disconnect_everywhere)
    hooks.on_suspension.register(end_hosted_rooms)
    hooks.before_account_deletion.register(tickets_account_deleting)
    hooks.on_account_deletion.register(end_rooms_of_deleted_host)
