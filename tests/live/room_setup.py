"""Rooms, people and their places for the room socket tests (tests/live/test_room_socket_*.py)."""

from channels.db import database_sync_to_async

from rooms.models import Participant, Room
from tests.factories import RoomFactory, UserFactory

db = database_sync_to_async


@db
def make_room(**kwargs) -> Room:
    return RoomFactory(**kwargs)


@db
def make_user(**kwargs):
    return UserFactory(**kwargs)


@db
def participant(room: Room, user) -> Participant:
    return Participant.objects.get(room=room, user=user)


@db
def set_role(room: Room, user, role: str, muted: bool = True) -> None:
    Participant.objects.update_or_create(room=room, user=user, defaults={"role": role, "is_muted": muted})
