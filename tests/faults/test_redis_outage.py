"""Redis goes away and comes back, under a real web process, Celery worker and beat.

One daphne, one worker (solo) and beat run on this module's own redis-server, which the tests stop
and start; periodic tasks tick every second here, with "stuck" meaning two seconds.
"""

import asyncio
import time
from datetime import timedelta

import pytest

from accounts.models import Notification
from accounts.services import follow_create
from deploy import harness
from recordings.models import Recording
from recordings.services import capture_directory
from rooms import services as room_services
from rooms.models import Room
from tests.factories import UserFactory
from tests.recordings.helpers import capture_tone

from .conftest import server_env, session_cookie, start_beat, start_daphne, start_worker

pytestmark = pytest.mark.django_db(transaction=True)


class Stack:
    def __init__(self, processes, redis, port: int, mail_dir) -> None:
        self.processes = processes
        self.redis = redis
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"
        self.mail_dir = mail_dir

    def ws_url(self, room_id: int) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/rooms/{room_id}/"

    def client(self, room_id: int, cookie: str | None = None, name: str = "") -> harness.RoomClient:
        return harness.RoomClient(self.ws_url(room_id), origin=self.origin, cookie=cookie, name=name)

    def browser(self, user=None) -> harness.Browser:
        browser = harness.Browser(self.origin)
        if user is not None:
            name, _, value = session_cookie(user).partition("=")
            browser.set_cookie(name, value)
        return browser

    def health(self) -> dict:
        answer = harness.Browser(self.origin).get("/healthz")
        return {"status_code": answer.status, **answer.json()}

    def mails_to(self, address: str) -> int:
        return sum(path.read_text().count(f"To: {address}") for path in self.mail_dir.glob("*"))


@pytest.fixture(scope="module")
def stack(processes, redis_server, media_root, stack_dir, django_db_setup):
    mail_dir = stack_dir / "mail"
    mail_dir.mkdir()
    env = server_env(
        redis_server.url(),
        media_root,
        RECORDINGS_STUCK_AFTER_S=2,
        RECORDINGS_REDISPATCH_EVERY_S=1,
        NOTIFICATION_EMAIL_STUCK_AFTER_S=2,
        NOTIFICATION_EMAIL_REDISPATCH_EVERY_S=1,
        ROOM_LIVE_ANNOUNCE_STUCK_AFTER_S=2,
        ROOM_LIVE_ANNOUNCE_REDISPATCH_EVERY_S=1,
        TEST_EMAIL_FILE_PATH=str(mail_dir),
    )
    port = start_daphne(processes, env)
    start_worker(processes, env)
    start_beat(processes, env, stack_dir)
    return Stack(processes, redis_server, port, mail_dir)


@pytest.fixture
def redis_back(stack):
    """Whatever a test does to Redis, it is running again afterwards."""
    yield
    if not stack.redis.ping():
        stack.redis.start()


def test_pages_that_only_read_answer_while_redis_is_down(stack, redis_back):
    host = UserFactory(handle="jazzhost")
    room = room_services.room_create(host=host, title="Late night jazz", topics=["jazz"])
    scheduled = room_services.room_create(
        host=UserFactory(),
        title="Tomorrow's jazz",
        topics=["jazz"],
        start_now=False,
        scheduled_for=room.started_at + timedelta(days=1),
    )
    pages = [
        "/",
        "/rooms/topics/jazz/",
        "/rooms/search/?q=jazz",
        f"/rooms/{room.pk}/",
        f"/rooms/{scheduled.pk}/",
    ]
    pages.append(f"/@{host.handle}/")
    stack.redis.stop()
    assert stack.health()["status_code"] == 503
    started = time.monotonic()
    for browser in (stack.browser(), stack.browser(UserFactory())):
        for path in pages:
            answer = browser.get(path)
            assert answer.status == 200, f"{path} answered {answer.status} while Redis was down"
    assert "Late night jazz" in stack.browser().get("/").text
    elapsed = time.monotonic() - started
    stack.redis.start()
    print(f"faults: {len(pages) * 2} pages answered 200 with Redis down in {elapsed:.1f} s")
    health = stack.health()
    assert health["status_code"] == 200 and health["status"] == "ok", health


def test_ending_a_recorded_room_and_going_live_while_redis_is_down(stack, media, redis_back):
    host, fan = UserFactory(display_name="Ada Host"), UserFactory()
    follow_create(follower=fan, followee=host)
    other_host, other_fan = UserFactory(), UserFactory(email="fan@faults.example")
    follow_create(follower=other_fan, followee=other_host)
    room = room_services.room_create(host=host, title="Recorded while Redis blinks", is_recorded=True)
    capture_tone(capture_directory(room.pk), speaker_id=host.pk, seconds=3)
    recording = Recording.objects.get(room=room)
    host_browser, other_browser = stack.browser(host), stack.browser(other_host)

    async def scenario():
        listener = stack.client(room.pk, name="listener")
        listener.start()
        try:
            await listener.wait(lambda: listener.snapshots, 20, "the listener's snapshot")
            stack.redis.stop()
            started = time.monotonic()
            answer = await asyncio.to_thread(
                host_browser.post_form, f"/rooms/{room.pk}/end/", {}, form_path=f"/rooms/{room.pk}/"
            )
            end_s = time.monotonic() - started
            assert answer.status == 302, answer.text[:2000]
            page = await asyncio.to_thread(host_browser.get, answer.headers["Location"])
            started = time.monotonic()
            went_live = await asyncio.to_thread(
                other_browser.post_form,
                "/rooms/new/",
                {"title": "Live in an outage", "when": "now", "tz": "UTC", "speaker_policy": "everyone"},
            )
            live_s = time.monotonic() - started
            assert went_live.status == 302, went_live.text[:2000]
            await asyncio.sleep(1)  # Redis stays down a while
            stack.redis.start()
            back = time.monotonic()
            await listener.wait(lambda: listener.finished, 10, "the listener's socket to close")
            return page, end_s, live_s, listener.closes[-1], back
        finally:
            await listener.stop()

    page, end_s, live_s, (closed_at, close_code), back = asyncio.run(scenario())
    # The host was told what happened; the room's end was kept and reached the listener once Redis
    # was back (its socket re-read the room and was closed as ended).
    assert page.status == 200 and "The room has ended" in page.text
    room.refresh_from_db()
    assert room.state == Room.State.ENDED
    assert close_code == 4010 and closed_at - back < 5
    # The recording's chain could not be dispatched; beat dispatched it again, and it ran once.
    harness.wait_for(lambda: Recording.objects.get(pk=recording.pk).status == "ready", 90, "the replay")
    time.sleep(3)  # beat keeps ticking: nothing runs twice
    worker = stack.processes["worker"]
    assert worker.count(f"recording {recording.pk} finalized:") == 1
    assert Notification.objects.filter(kind="recording_ready", recipient=fan).count() == 1
    # Going live worked too: its announcement was queued again once Redis was back, and the
    # follower was told (in the app and by email) once.
    new_room = Room.objects.get(host=other_host)
    assert new_room.state == Room.State.LIVE
    harness.wait_for(
        lambda: Notification.objects.filter(
            recipient=other_fan, kind="host_live", emailed_at__isnull=False
        ).exists(),
        60,
        "the follower to be told",
    )
    time.sleep(3)
    assert Notification.objects.filter(recipient=other_fan, kind="host_live").count() == 1
    assert stack.mails_to(other_fan.email) == 1
    print(
        f"faults: end room with Redis down answered in {end_s:.2f} s, going live in {live_s:.2f} s; "
        f"listener closed {closed_at - back:.1f} s after Redis was back"
    )


def test_a_redis_restart_with_50_listeners(stack, redis_back):
    host = UserFactory()
    people = [UserFactory() for _ in range(50)]
    room = room_services.room_create(host=host, title="Fifty listeners and a restart")
    cookies = {person.pk: session_cookie(person) for person in people}
    host_cookie = session_cookie(host)
    during_cookies = [session_cookie(UserFactory()) for _ in range(2)]
    late_cookies = [session_cookie(UserFactory()) for _ in range(8)]

    async def scenario():
        host_client = stack.client(room.pk, host_cookie, "host")
        clients = [stack.client(room.pk, cookies[p.pk], f"listener{p.pk}") for p in people]
        everyone = [host_client, *clients]
        late: list[harness.RoomClient] = []
        during: list[harness.RoomClient] = []
        try:
            for client in everyone:
                client.start()
            for client in everyone:
                await client.wait(lambda c=client: c.snapshots, 30, "a first snapshot")
            health = await asyncio.to_thread(stack.health)
            assert health["room_sockets"] == 51, health

            stack.redis.stop()
            # Two people try to join while Redis is down: their sockets fail, and their consumers
            # must not stay attached (they keep retrying, as a page does).
            during = [stack.client(room.pk, cookie, f"during{n}") for n, cookie in enumerate(during_cookies)]
            for client in during:
                client.start()
            await asyncio.sleep(2)
            stack.redis.start()
            back = time.monotonic()

            # Every client has the room's state again (re-read after the bus came back).
            for client in everyone:
                await client.wait(lambda c=client: c.snapshot_after(back), 10, "a snapshot after the restart")
            slowest = max(client.snapshot_after(back)[0] - back for client in everyone)
            resyncs = sorted(
                round(t - back, 2)
                for c in everyone
                for t, e in c.events
                if t >= back and e["type"] == "room.resync"
            )
            snaps = sorted(round(c.snapshot_after(back)[0] - back, 2) for c in everyone)
            assert slowest <= 5, (
                f"the slowest client took {slowest:.1f} s; resyncs {resyncs}; snapshots {snaps}"
            )
            dropped = [(c.name, c.closes) for c in everyone if c.closes]
            assert not dropped, f"sockets dropped during the restart: {dropped}"

            # Joins right after the restart succeed at the first try.
            late = [stack.client(room.pk, cookie, f"late{n}") for n, cookie in enumerate(late_cookies)]
            for client in late:
                client.start()
            for client in late:
                await client.wait(lambda c=client: c.snapshots, 10, "a snapshot for a join after the restart")
            assert all(not client.closes for client in late), [c.closes for c in late]
            for client in during:
                await client.wait(
                    lambda c=client: c.snapshots, 15, "the joins made during the outage to succeed"
                )

            # The roster is right again: 50 + 2 + 8 listeners, the host on stage.
            def roster_right():
                snapshot = host_client.last_snapshot
                return snapshot["listener_count"] == 60 and [p["user_id"] for p in snapshot["stage"]] == [
                    host.pk
                ]

            deadline = back + 30
            while not roster_right():
                assert time.monotonic() < deadline, f"roster: {host_client.last_snapshot['listener_count']}"
                await host_client.send("snapshot.request")
                await asyncio.sleep(1)
            roster_s = time.monotonic() - back
            health = await asyncio.to_thread(stack.health)
            assert health["room_sockets"] == 61, health
            for client in everyone + late + during:
                await client.stop()
            await asyncio.sleep(1)
            deadline = time.monotonic() + 10
            while (await asyncio.to_thread(stack.health))["room_sockets"]:
                assert time.monotonic() < deadline, "sockets stayed attached after they closed"
                await asyncio.sleep(0.5)
            return slowest, roster_s
        finally:
            for client in everyone + late + during:
                await client.stop()

    slowest, roster_s = asyncio.run(scenario())
    print(
        f"faults: 51 clients had the room again {slowest:.1f} s after Redis was back; roster right after {roster_s:.1f} s"
    )
