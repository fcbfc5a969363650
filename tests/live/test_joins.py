"""Signed-in people joining a room together are seated together (rooms/live/joins.py): a reconnect
storm of signed-in listeners costs a handful of queries per batch, not five per person."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rooms import services
from rooms.models import Participant
from spaces_project import protocol
from spaces_project.errors import ServiceError
from tests.factories import RoomFactory, UserFactory

from .wsclient import open_socket

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async


def test_seating_many_people_at_once_takes_the_same_few_queries_as_seating_a_few():
    room = RoomFactory()
    people = [UserFactory() for _ in range(40)]
    Participant.objects.bulk_create(Participant(room=room, user=u) for u in people[:30])  # came before
    Participant.objects.create(room=room, user=people[0 + 30], is_removed=True)
    speaker = people[1]
    Participant.objects.filter(room=room, user=speaker).update(role=Participant.Role.SPEAKER)

    with CaptureQueriesContext(connection) as few:
        services.participants_join(room_id=room.pk, users=people[2:5])
    with CaptureQueriesContext(connection) as many:
        seated = services.participants_join(room_id=room.pk, users=people[:30])
    assert len(many) <= len(few) + 2, [q["sql"] for q in many]
    assert all(isinstance(s, Participant) for s in seated.values())
    assert seated[speaker.pk].role == Participant.Role.SPEAKER  # the place they had is kept

    newcomers = services.participants_join(room_id=room.pk, users=people[30:])
    refused = newcomers.pop(people[30].pk)
    assert isinstance(refused, ServiceError) and refused.code == "removed"
    assert all(isinstance(s, Participant) for s in newcomers.values())
    assert Participant.objects.filter(room=room, is_removed=False).count() == 1 + 39  # the host too


async def test_people_connecting_together_each_get_their_own_snapshot_and_a_removed_one_is_refused():
    room = await db(RoomFactory)()
    people = [await db(UserFactory)() for _ in range(12)]
    removed = people[-1]
    await db(Participant.objects.create)(room=room, user=removed, is_removed=True)

    opened = await asyncio.gather(*(open_socket(room.pk, person) for person in people))
    for person, (connected, socket) in zip(people[:-1], opened, strict=False):
        assert connected
        snapshot = await socket.wait_for("room.snapshot")
        assert snapshot["you"]["user_id"] == person.pk
    _, refused = opened[-1]
    assert (await refused.communicator.receive_output(3))["code"] == protocol.CLOSE_REMOVED
    joined = await db(set)(
        Participant.objects.filter(room=room, is_removed=False).values_list("user_id", flat=True)
    )
    assert {p.pk for p in people[:-1]} <= joined
