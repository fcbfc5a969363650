"""One of two web processes behind nginx is killed with kill -9: its people are back on the other.

nginx runs deploy/'s site (rendered), the two web processes run spaces-web@.service's command on
unix sockets, all on this module's own Redis.
"""

import asyncio
import subprocess
import time

import pytest

from deploy import harness, render
from rooms.models import Participant
from tests.factories import RoomFactory, UserFactory

from .conftest import session_cookie, start_web_unit, start_web_units_behind_nginx

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def stack(processes, redis_server, media_root, stack_dir, django_db_setup):
    return start_web_units_behind_nginx(processes, redis_server, media_root, stack_dir)


def test_people_on_a_killed_web_process_are_back_on_the_other_within_5_s(stack, processes):
    room = RoomFactory(title="Two web processes")
    cohost, speaker = UserFactory(), UserFactory()
    Participant.objects.create(room=room, user=cohost, role=Participant.Role.COHOST)
    Participant.objects.create(room=room, user=speaker, role=Participant.Role.SPEAKER, is_muted=False)
    listeners = [UserFactory() for _ in range(13)]
    people = [room.host, cohost, speaker, *listeners]
    cookies = [session_cookie(person) for person in people]
    origin = stack["origin"]
    url = origin.replace("https://", "wss://") + f"/ws/rooms/{room.pk}/"
    tls = harness.Browser(origin).ssl_context

    async def scenario():
        clients = [
            harness.RoomClient(url, origin=origin, cookie=cookie, ssl_context=tls, name=f"user{person.pk}")
            for person, cookie in zip(people, cookies, strict=True)
        ]
        try:
            for client in clients:
                client.start()
                await asyncio.sleep(0.02)  # arrivals spread over both processes, as people arrive
            for client in clients:
                await client.wait(lambda c=client: c.snapshots, 30, "a first snapshot")
            roles = {client.name: client.last_snapshot["you"]["role"] for client in clients}
            on_first = (await asyncio.to_thread(harness.unix_health, stack["run_dir"] / "web1.sock"))[
                "room_sockets"
            ]
            assert 0 < on_first < len(clients), f"nginx put {on_first} of {len(clients)} sockets on web1"

            processes.kill("web1")  # kill -9
            killed = time.monotonic()
            dropped = []
            deadline = killed + 10
            while len(dropped) < on_first and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                dropped = [c for c in clients if c.closes]
            assert len(dropped) == on_first, f"{len(dropped)} sockets dropped, {on_first} were on web1"
            for client in dropped:
                await client.wait(
                    lambda c=client: c.snapshot_after(killed), 8, "a snapshot on the other process"
                )
            back = {c.name: c.snapshot_after(killed)[0] - killed for c in dropped}
            for client in dropped:
                assert client.snapshot_after(killed)[1]["you"]["role"] == roles[client.name]
            survivors = await asyncio.to_thread(harness.unix_health, stack["run_dir"] / "web2.sock")
            assert survivors["room_sockets"] == len(clients), survivors
            return back, roles
        finally:
            for client in clients:
                await client.stop()

    back, roles = asyncio.run(scenario())
    slowest = max(back.values())
    assert slowest <= 5, f"the slowest person took {slowest:.1f} s to be back: {back}"
    stage_back = [name for name in back if roles[name] != "listener"]
    print(
        f"faults: kill -9 of one web process: {len(back)} sockets back on the other in at most {slowest:.1f} s "
        f"(stage members among them: {len(stage_back)})"
    )


def test_a_web_process_being_restarted_gets_no_new_sockets_once_its_unit_stops_it(
    stack, processes, redis_server, media_root
):
    """`systemctl restart spaces-web@1` runs the unit's ExecStop before SIGTERM: its socket file goes,
    so nginx sends every new socket to the other process, not to a daphne that is shutting down
    (that one accepted them and dropped them a moment later; bench/reconnect_storm.py)."""
    if not processes.running.get("web1") or not processes.running["web1"].alive():
        start_web_unit(processes, stack, 1, stack["env"])
    room = RoomFactory(title="A restart")
    origin = stack["origin"]
    url = origin.replace("https://", "wss://") + f"/ws/rooms/{room.pk}/"
    tls = harness.Browser(origin).ssl_context
    people = [UserFactory() for _ in range(8)]
    cookies = [session_cookie(person) for person in people]

    unit = render.unit_command(stack["files"]["systemd/spaces-web@.service"], instance="1")
    socket_path = stack["run_dir"] / "web1.sock"
    assert unit["stop_argv"] == ["/bin/rm", "-f", str(socket_path)]
    subprocess.run(unit["stop_argv"], check=True)
    assert processes.running["web1"].alive()  # still draining its own sockets; SIGTERM comes next

    async def scenario():
        clients = [
            harness.RoomClient(url, origin=origin, cookie=cookie, ssl_context=tls, name=str(n))
            for n, cookie in enumerate(cookies)
        ]
        try:
            for client in clients:
                client.start()
            for client in clients:
                await client.wait(lambda c=client: c.snapshots, 30, "a snapshot")
            assert all(not client.closes for client in clients), "a socket was dropped"
            return await asyncio.to_thread(harness.unix_health, stack["run_dir"] / "web2.sock")
        finally:
            for client in clients:
                await client.stop()

    on_second = asyncio.run(scenario())
    assert on_second["room_sockets"] >= len(people), on_second
    processes.stop("web1")
