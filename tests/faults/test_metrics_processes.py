"""/metrics across a machine's processes (prometheus-client's multiprocess mode): two real daphne web
processes and a real Celery worker share one metrics directory; either web process reports all of
them, and a web process killed with SIGKILL stops being reported as holding sockets."""

import urllib.request

import pytest
from celery import Celery
from websockets.sync.client import connect

from deploy import harness
from tests.factories import RoomFactory
from tests.metrics_reader import samples, value

from .conftest import server_env, start_daphne, start_worker

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "a-metrics-token-for-tests-only-0123456789"
TASK = "rooms.tasks.end_abandoned_rooms"


@pytest.fixture(scope="module")
def machine(django_db_setup, processes, redis_server, stack_dir, media_root):
    metrics_dir = stack_dir / "metrics"
    env = server_env(
        redis_server.url(), media_root, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), METRICS_TOKEN=TOKEN
    )
    ports = [start_daphne(processes, env, name=name) for name in ("web1", "web2")]
    start_worker(processes, env, pool="prefork")
    return {"ports": ports, "dir": metrics_dir}


def scrape(port: int) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        return response.read().decode()


def test_a_task_run_by_a_real_worker_shows_in_either_web_process(machine, redis_server):
    first, second = machine["ports"]
    runs = ("spaces_tasks_total", {"task": TASK, "outcome": "success"})
    before = value(scrape(first), runs[0], **runs[1])
    producer = Celery(broker=redis_server.url())
    try:
        producer.send_task(TASK)
    finally:
        producer.close()
    harness.wait_for(
        lambda: value(scrape(second), runs[0], **runs[1]) == before + 1, 60, "the task's run in /metrics"
    )
    for port in (first, second):
        text = scrape(port)
        assert value(text, runs[0], **runs[1]) == before + 1
        assert value(text, "spaces_task_duration_seconds_count", task=TASK) == before + 1


def test_sockets_are_reported_per_process_and_a_killed_process_is_forgotten(machine, processes):
    first, second = machine["ports"]
    room = RoomFactory()
    web1 = processes["web1"].pid
    listening = value(scrape(second), "spaces_listeners", route="websocket")
    with connect(f"ws://127.0.0.1:{first}/ws/rooms/{room.pk}/", origin=f"http://127.0.0.1:{first}") as socket:
        socket.recv(timeout=30)  # the snapshot: the listener is in
        harness.wait_for(
            lambda: value(scrape(second), "spaces_websockets_open", pid=str(web1)) == 1, 10, "web1's socket"
        )
        assert value(scrape(second), "spaces_listeners", route="websocket") == listening + 1
        processes.kill("web1")
        text = scrape(second)
    assert [
        s for s in samples(text) if s.name == "spaces_websockets_open" and s.labels["pid"] == str(web1)
    ] == []
    assert value(text, "spaces_listeners", route="websocket") == listening
    # Its counters stay: the totals of the machine never go back.
    assert value(text, "spaces_http_responses_total") > 0
