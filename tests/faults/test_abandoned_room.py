"""A live room whose host and co-hosts have all gone ends by itself, recording included.

A web process, a Celery worker and beat on this module's own Redis, with ROOM_ABANDONED_MINUTES
at 3 seconds and beat checking every second.
"""

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from accounts.models import Notification
from accounts.services import follow_create
from deploy import harness
from recordings.models import Recording
from recordings.services import capture_directory
from rooms import services as room_services
from rooms.models import Participant, Room
from tests.factories import UserFactory
from tests.recordings.helpers import capture_tone

from .conftest import server_env, session_cookie, start_beat, start_daphne, start_worker

pytestmark = pytest.mark.django_db(transaction=True)
ABANDONED_S = 3


@pytest.fixture(scope="module")
def stack(processes, redis_server, media_root, stack_dir, django_db_setup):
    env = server_env(
        redis_server.url(),
        media_root,
        ROOM_ABANDONED_MINUTES=ABANDONED_S / 60,
        ROOM_ABANDONED_CHECK_EVERY_S=1,
    )
    port = start_daphne(processes, env)
    start_worker(processes, env)
    start_beat(processes, env, stack_dir)
    return port


def test_a_room_whose_hosts_left_ends_by_itself_with_its_recording(stack, media, processes):
    host, cohost, fan = UserFactory(), UserFactory(), UserFactory()
    follow_create(follower=fan, followee=host)
    room = room_services.room_create(host=host, title="Who turns off the lights?", is_recorded=True)
    Participant.objects.create(room=room, user=cohost, role=Participant.Role.COHOST)
    capture_tone(capture_directory(room.pk), speaker_id=host.pk, seconds=3)
    cookies = {"host": session_cookie(host), "cohost": session_cookie(cohost)}
    origin = f"http://127.0.0.1:{stack}"
    url = f"ws://127.0.0.1:{stack}/ws/rooms/{room.pk}/"

    def state() -> str:
        return Room.objects.get(pk=room.pk).state

    async def scenario():
        clients = {
            name: harness.RoomClient(url, origin=origin, cookie=cookies.get(name), name=name)
            for name in ("host", "cohost", "listener")
        }
        try:
            for client in clients.values():
                client.start()
            for client in clients.values():
                await client.wait(lambda c=client: c.snapshots, 30, "a first snapshot")
            # Attended for longer than the limit: nothing happens.
            await asyncio.sleep(ABANDONED_S + 2)
            assert await sync_to_async(state)() == "live"
            # The host leaves; a co-host still runs the room.
            await clients["host"].stop()
            await asyncio.sleep(ABANDONED_S + 2)
            assert await sync_to_async(state)() == "live"
            # Nobody runs it any more.
            await clients["cohost"].stop()
            left = time.monotonic()
            listener = clients["listener"]
            await listener.wait(lambda: listener.finished, ABANDONED_S + 15, "the room to end by itself")
            return listener.closes[-1][1], listener.closes[-1][0] - left
        finally:
            for client in clients.values():
                await client.stop()
            await sync_to_async(connections.close_all)()

    close_code, ended_after = asyncio.run(scenario())
    assert close_code == 4010  # as when the host ends it
    room.refresh_from_db()
    assert room.state == Room.State.ENDED and room.ended_at is not None
    harness.wait_for(lambda: Recording.objects.get(room=room).status == "ready", 90, "the replay")
    assert Notification.objects.filter(kind="recording_ready", recipient=fan).count() == 1
    print(
        f"faults: an abandoned room ended {ended_after:.1f} s after its last host left (limit {ABANDONED_S} s)"
    )
