"""A live room nobody runs any more ends by itself (services.rooms_end_abandoned, run by beat)."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from recordings.models import Recording
from rooms import services
from rooms.live import presence
from rooms.live.presence import RedisPresence, get_presence
from rooms.models import Participant, Room
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db

LATER = timedelta(minutes=11)


@pytest.fixture(autouse=True)
def empty_rosters():
    """The roster of every room starts empty (a test adds who is connected)."""
    store = get_presence()
    yield
    for room_id in Room.objects.values_list("pk", flat=True):
        for conn in ("host-tab", "cohost-tab", "listener-tab"):
            async_to_sync(store.remove)(room_id, conn)


def connect(room, user, conn: str) -> None:
    async_to_sync(get_presence().add)(room.pk, conn, user.pk)


def test_a_room_without_its_host_ends_after_the_limit_as_if_the_host_ended_it(
    django_capture_on_commit_callbacks,
):
    host = UserFactory()
    room = services.room_create(host=host, title="Left alone", is_recorded=True)
    listener = UserFactory()
    Participant.objects.create(room=room, user=listener)
    connect(room, listener, "listener-tab")
    now = timezone.now()
    assert services.rooms_end_abandoned(now=now) == []
    room.refresh_from_db()
    assert room.state == Room.State.LIVE and room.unattended_since == now
    assert services.rooms_end_abandoned(now=now + timedelta(minutes=9)) == []
    with django_capture_on_commit_callbacks() as callbacks:
        assert services.rooms_end_abandoned(now=now + LATER) == [room.pk]
    room.refresh_from_db()
    assert room.state == Room.State.ENDED and room.ended_at is not None
    assert Recording.objects.get(room=room).status == Recording.Status.PROCESSING
    assert len(callbacks) >= 2  # room.ended to the sockets, then the finalizing chain


@pytest.mark.parametrize("who", ["host", "cohost"])
def test_a_room_with_its_host_or_a_cohost_connected_stays_live(who):
    room = RoomFactory()
    cohost = UserFactory()
    Participant.objects.create(room=room, user=cohost, role=Participant.Role.COHOST)
    now = timezone.now()
    services.rooms_end_abandoned(now=now)  # nobody there yet: noted
    connect(room, room.host if who == "host" else cohost, f"{who}-tab")
    assert services.rooms_end_abandoned(now=now + LATER) == []
    room.refresh_from_db()
    assert room.state == Room.State.LIVE and room.unattended_since is None


def test_a_speaker_does_not_keep_a_room_alive():
    room = RoomFactory()
    speaker = UserFactory()
    Participant.objects.create(room=room, user=speaker, role=Participant.Role.SPEAKER)
    connect(room, speaker, "listener-tab")
    now = timezone.now()
    services.rooms_end_abandoned(now=now)
    assert services.rooms_end_abandoned(now=now + LATER) == [room.pk]


def test_the_limit_is_a_setting(settings):
    settings.ROOM_ABANDONED_MINUTES = 30
    room = RoomFactory()
    now = timezone.now()
    services.rooms_end_abandoned(now=now)
    assert services.rooms_end_abandoned(now=now + LATER) == []
    assert services.rooms_end_abandoned(now=now + timedelta(minutes=31)) == [room.pk]


def test_when_the_roster_cannot_be_read_nothing_changes(settings, monkeypatch):
    if not settings.REDIS_URL:
        pytest.skip("the roster lives in Redis only with REDIS_URL")
    room = RoomFactory()
    now = timezone.now()
    services.rooms_end_abandoned(now=now)
    monkeypatch.setattr(presence, "_presence", RedisPresence("redis://127.0.0.1:9/0"))  # nothing listens
    with pytest.raises(Exception, match="Connection refused|Error"):
        services.rooms_end_abandoned(now=now + LATER)
    room.refresh_from_db()
    assert room.state == Room.State.LIVE
