"""Without Redis (`make run`) the web process runs the periodic work itself: the reminder fires and
reaches the person's open page live, through the in-memory channel layer, from the beat thread."""

import json
import os
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from websockets.sync.client import connect

from accounts.models import Notification
from rooms.models import Reminder, Room
from spaces_project.embedded_beat import EmbeddedBeat, start_embedded_beat
from tests.browser.conftest import AsgiLiveServer, _test_database_url, session_key_for
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def due_reminder() -> tuple[Room, object]:
    fan = UserFactory()
    room = RoomFactory(scheduled=True, title="Tea at five")
    Reminder.objects.create(room=room, user=fan)
    Room.objects.filter(pk=room.pk).update(scheduled_for=timezone.now() - timedelta(seconds=1))
    return room, fan


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_beat_thread_runs_the_schedule(settings):
    room, fan = due_reminder()
    beat = EmbeddedBeat(settings.CELERY_BEAT_SCHEDULE | {}, first_delay=0)
    beat.entries = [(name, task, 0.2) for name, task, _ in beat.entries]
    beat.start()
    try:
        wait_for(lambda: beat.ticks >= 3, 10, "three ticks")
    finally:
        beat.stop()
        beat.join(10)
    assert list(Notification.objects.filter(recipient=fan).values_list("text", flat=True)) == [
        f"Starting now: Tea at five with {room.host.name}"
    ]


def test_no_beat_thread_unless_asked(settings):
    settings.EMBEDDED_BEAT = False
    assert start_embedded_beat() is None


def test_a_server_without_redis_fires_reminders_and_shows_them_live():
    if connection.vendor != "postgresql":
        pytest.skip("the server process needs a database it can share: run with PostgreSQL")

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": "",  # as `make run` on a machine with no Redis
        "EMBEDDED_BEAT": "1",
        "DUE_NOTICES_EVERY_S": "0.5",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    server = AsgiLiveServer(env)
    server.start()
    try:
        fan = UserFactory()
        cookie = f"{settings.SESSION_COOKIE_NAME}={session_key_for(fan)}"
        url = f"ws://{server.host}:{server.port}/ws/me/"
        with connect(url, origin=server.url, additional_headers={"Cookie": cookie}) as page:
            assert json.loads(page.recv(timeout=10))["type"] == "user.snapshot"
            room = RoomFactory(scheduled=True, title="Tea at five")
            Reminder.objects.create(room=room, user=fan)
            Room.objects.filter(pk=room.pk).update(scheduled_for=timezone.now() - timedelta(seconds=1))
            event = json.loads(page.recv(timeout=15))
        assert event["type"] == "user.notification" and event["unread_count"] == 1
        assert event["notification"]["text"] == f"Starting now: Tea at five with {room.host.name}"
        assert event["notification"]["url"] == f"/rooms/{room.pk}/"
    finally:
        server.stop()
    assert Notification.objects.filter(recipient=fan).count() == 1
