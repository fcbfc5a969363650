"""Redis fails over under a live room: kill -9 of the primary, the Sentinels promote its replica.

deploy/'s site runs on this machine (nginx, two web processes, two `run_mixer` processes, a Celery
worker and beat), every process configured with REDIS_SENTINELS (three Sentinels, a primary and its
replica on loopback: tests/faults/sentinel.py). A host talks to 100 listeners; just before the kill a
listener raises a hand and a recorded room is ended (its finalize task queued). After the kill every
socket stays open or is open again within 5 s, every listener hears the host again within 5 s, and
nothing committed is lost: the raised hand (and one raised during the failover) reaches the host, the
recording is finalized once, and people who tried to join during the failover are in the room. A
second recorded room, ended after the promotion, is finalized too (its task goes through the new
master to the same worker). Ten of the listeners' pages also hold their per-person socket (/ws/me/,
through the channel layer): those stay open too, and get their state again.
"""

import asyncio
import json
import random
import sys
import time

import pytest
from websockets.asyncio.client import connect

from deploy import harness
from recordings.models import Recording
from recordings.services import capture_directory
from rooms.models import Participant
from tests.factories import RoomFactory, UserFactory
from tests.recordings.helpers import capture_tone

from .conftest import (
    render_deploy,
    require_real_services,
    server_env,
    session_cookie,
    start_beat,
    start_web_unit,
    start_worker,
)
from .sentinel import SentinelSet
from .test_silences import silence_ms
from .tone import talk

pytestmark = pytest.mark.django_db(transaction=True)
LISTENERS = 100
LIMIT_S = 5.0


@pytest.fixture(scope="module")
def stack(processes, media_root, stack_dir, django_db_setup):
    require_real_services()
    sentinels = SentinelSet(processes, stack_dir / "sentinel")
    sentinels.start()
    deploy = render_deploy(stack_dir / "deploy", media_root=media_root)
    redis_settings = sentinels.env()
    env = server_env(
        redis_settings.pop("REDIS_URL"),
        media_root,
        **redis_settings,
        RECORDINGS_STUCK_AFTER_S=2,
        RECORDINGS_REDISPATCH_EVERY_S=1,
    )
    # The mixers start while the web processes do (each waits only for itself).
    for name in ("mixer-1", "mixer-2"):
        processes.start(name, [sys.executable, "manage.py", "run_mixer", "--name", name], env=env)
    for instance in (1, 2):
        start_web_unit(processes, deploy, instance, env)
    harness.start_nginx(
        processes, stack_dir / "nginx", deploy["files"]["nginx/spaces.conf"], ready_port=deploy["https_port"]
    )
    for name in ("mixer-1", "mixer-2"):
        processes.wait_ready(name, lambda p: "running" in p.output(), timeout=60)
    start_worker(processes, env)
    start_beat(processes, env, stack_dir)
    deploy["sentinels"] = sentinels
    return deploy


def room_client(stack, room_id: int, cookie: str, name: str, **kwargs) -> harness.RoomClient:
    origin = stack["origin"]
    return harness.RoomClient(
        origin.replace("https://", "wss://") + f"/ws/rooms/{room_id}/",
        origin=origin,
        cookie=cookie,
        ssl_context=harness.Browser(origin).ssl_context,
        name=name,
        **kwargs,
    )


class PersonSocket:
    """A signed-in page's per-person socket (/ws/me/, delivered through the channel layer), reconnecting
    as static/js/notifications.js does: 1 s doubling, +-30 %. Notes every open, close and snapshot."""

    def __init__(self, stack, cookie: str) -> None:
        self.url = stack["origin"].replace("https://", "wss://") + "/ws/me/"
        self.origin, self.cookie = stack["origin"], cookie
        self.tls = harness.Browser(stack["origin"]).ssl_context
        self.opened: list[float] = []
        self.closes: list[tuple[float, int | None]] = []
        self.snapshots: list[float] = []
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _run(self) -> None:
        attempt = 0
        while True:
            code = None
            try:
                async with connect(
                    self.url,
                    origin=self.origin,
                    additional_headers={"Cookie": self.cookie},
                    ssl=self.tls,
                    ping_interval=None,
                    open_timeout=10,
                    proxy=None,
                ) as ws:
                    self.opened.append(time.monotonic())
                    async for raw in ws:
                        if json.loads(raw).get("type") == "user.snapshot":
                            self.snapshots.append(time.monotonic())
                            attempt = 0
                    code = ws.close_code
            except asyncio.CancelledError:
                raise
            except Exception as error:
                code = getattr(getattr(error, "rcvd", None), "code", None)
            self.closes.append((time.monotonic(), code))
            await asyncio.sleep(min(30.0, 2**attempt) * (1 + 0.3 * (2 * random.random() - 1)))
            attempt += 1

    def state_again(self, killed: float) -> float:
        """From the kill to the page's next snapshot (infinite when none came)."""
        return next((at - killed for at in self.snapshots if at > killed), float("inf"))


def back_within(client: harness.RoomClient, killed: float) -> float:
    """0 when the socket never closed after the kill; else how long after the kill it was open again
    (infinite when it never was)."""
    closed = [at for at, _ in client.closes if at >= killed]
    if not closed:
        return 0.0
    reopened = [at for at in client.opened if at > closed[-1]]
    return reopened[0] - killed if reopened else float("inf")


def test_a_failover_under_100_listeners_keeps_the_room_and_loses_nothing_committed(stack, processes, media):
    sentinels: SentinelSet = stack["sentinels"]
    room = RoomFactory(title="Failover")
    Participant.objects.filter(room=room, user=room.host).update(is_muted=False)
    people = [UserFactory() for _ in range(LISTENERS)]
    cookies = [session_cookie(person) for person in people]
    host_cookie = session_cookie(room.host)
    during_cookies = [session_cookie(UserFactory()) for _ in range(3)]
    # A recorded room, ended just before the kill: its finalize task is queued as Redis goes.
    recorded_host = UserFactory()
    recorded = RoomFactory(host=recorded_host, title="Recorded", is_recorded=True)
    capture_tone(capture_directory(recorded.pk), speaker_id=recorded_host.pk, seconds=3)
    # Another, ended once the replica is promoted: queued through the new master, to the same worker.
    recorded_after = RoomFactory(host=recorded_host, title="Recorded after", is_recorded=True)
    capture_tone(capture_directory(recorded_after.pk), speaker_id=recorded_host.pk, seconds=3)
    recorded_browser = harness.Browser(stack["origin"])
    name, _, value = session_cookie(recorded_host).partition("=")
    recorded_browser.set_cookie(name, value)

    async def scenario():
        host = room_client(stack, room.pk, host_cookie, "host")
        listeners = [
            room_client(stack, room.pk, c, f"listener{n}", keep_audio=True) for n, c in enumerate(cookies)
        ]
        during: list[harness.RoomClient] = []
        pages = [PersonSocket(stack, c) for c in cookies[:10]]
        stop = asyncio.Event()
        talking = None
        try:
            host.start()
            await host.wait(lambda: host.snapshots, 30, "the host's snapshot")
            talking = asyncio.get_running_loop().create_task(talk(host, stop))
            for client in listeners:
                client.start()
                await asyncio.sleep(0.02)
            for client in listeners:
                await client.wait(lambda c=client: c.snapshots, 60, "a listener's snapshot")
            for page in pages:
                page.start()
            await asyncio.sleep(2)
            assert all(page.snapshots for page in pages), "a page's per-person socket never opened"
            deaf = [c.name for c in listeners if not c.audio]
            assert not deaf, f"listeners heard nothing before the kill: {deaf}"

            # Committed just before the kill: a raised hand (the host has seen it) and a room's end.
            await listeners[0].send("hand.raise")
            await host.wait(
                lambda: any(
                    e["type"] == "room.participant_updated"
                    and e["participant"]["user_id"] == people[0].pk
                    and e["participant"]["hand_raised"]
                    for _, e in host.events
                ),
                10,
                "the raised hand",
            )
            ended = await asyncio.to_thread(
                recorded_browser.post_form,
                f"/rooms/{recorded.pk}/end/",
                {},
                form_path=f"/rooms/{recorded.pk}/",
            )
            assert ended.status == 302, ended.text[:1000]

            old, killed = sentinels.kill_master()
            # During the failover: another hand goes up, and three people try to join.
            await asyncio.sleep(0.3)
            if listeners[1].ws is not None:
                await listeners[1].send("hand.raise")
            during = [room_client(stack, room.pk, c, f"during{n}") for n, c in enumerate(during_cookies)]
            for client in during:
                client.start()
            promoted = await asyncio.to_thread(sentinels.wait_failover, old)
            await asyncio.sleep(max(0.0, killed + 8 - time.monotonic()))
            ended = await asyncio.to_thread(
                recorded_browser.post_form,
                f"/rooms/{recorded_after.pk}/end/",
                {},
                form_path=f"/rooms/{recorded_after.pk}/",
            )
            assert ended.status == 302, ended.text[:1000]
            for client in during:
                await client.wait(lambda c=client: c.snapshots, 20, "a join made during the failover")
            # The host's page re-reads the room (as after every resync): both hands are there.
            raised = {people[0].pk, people[1].pk}

            def hands_up():
                # ...and the roster has everyone: the 100 listeners and the three who joined meanwhile.
                snapshot = host.last_snapshot or {}
                return (
                    raised <= set(snapshot.get("hands", [])) and snapshot["listener_count"] == LISTENERS + 3
                )

            deadline = time.monotonic() + 20
            while not hands_up():
                assert time.monotonic() < deadline, (
                    f"raised hands {host.last_snapshot.get('hands')}, listeners "
                    f"{host.last_snapshot['listener_count']}"
                )
                await host.send("snapshot.request")
                await asyncio.sleep(1)
            resynced = [
                (c.snapshot_after(promoted) or (float("inf"),))[0] - killed for c in (host, *listeners)
            ]
            return (
                killed,
                promoted - killed,
                [back_within(c, killed) for c in (host, *listeners)],
                [silence_ms(c, killed, until=killed + 8) for c in listeners],
                resynced,
                [[code for at, code in page.closes if at >= killed] for page in pages],
                [page.state_again(killed) for page in pages],
            )
        finally:
            for page in pages:
                await page.stop()
            stop.set()
            if talking is not None:
                await talking
            for client in (host, *listeners, *during):
                await client.stop()

    killed, failover_s, back, gaps, resynced, pages_closed, pages_again = asyncio.run(scenario())
    # The pages' per-person sockets (the channel layer) stay open too, and get their state again once
    # the layer reads from the new master (spaces_project/channel_layer.py).
    assert not any(pages_closed), f"per-person sockets closed: {pages_closed}"
    assert max(pages_again) <= 10, f"per-person sockets without their state again: {pages_again}"
    assert sentinels.master_server() is sentinels.replica
    assert max(back) <= LIMIT_S, f"sockets not back within {LIMIT_S} s: {sorted(back)[-5:]}"
    assert None not in gaps, f"listeners never heard the host again: {gaps.count(None)}"
    assert max(gaps) <= LIMIT_S * 1000, f"silence after the failover: {sorted(gaps)[-5:]} ms"
    # The recording's finalize task, queued just before the kill, ran (once); so did the one queued
    # after the promotion.
    for ended_room in (recorded, recorded_after):
        harness.wait_for(
            lambda r=ended_room: Recording.objects.get(room=r).status == "ready", 90, "the replay"
        )
        assert (
            processes["worker"].count(f"recording {Recording.objects.get(room=ended_room).pk} finalized:")
            == 1
        )
    print(
        f"faults: Redis failover under {LISTENERS} listeners: promoted {failover_s:.1f} s after kill -9; "
        f"{sum(1 for b in back if b)} sockets reconnected (slowest {max(back):.1f} s); silence p50 "
        f"{sorted(gaps)[len(gaps) // 2]:.0f} ms, max {max(gaps):.0f} ms; every page re-read the room "
        f"{max(resynced):.1f} s after the kill, the per-person sockets had their state again "
        f"{max(pages_again):.1f} s after it"
    )
