"""/metrics across a machine's processes (prometheus-client's multiprocess mode): two real daphne web
processes and a real Celery worker share one metrics directory; either web process reports all of
them (a room mixer's ticks too), and a web process killed with SIGKILL stops being reported as holding sockets. Where Debian's
Prometheus is installed (.ci/run installs it), a real Prometheus scrapes a web process with the token
and evaluates every expression of deploy/'s dashboard and alert rules against what it scraped."""

import json
import shutil
import sys
import urllib.parse
import urllib.request

import pytest
import yaml
from celery import Celery
from websockets.sync.client import connect

from deploy import harness
from tests.deploy.test_metrics_deploy import ALERTS, dashboard_expressions
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
    processes.start(
        "mixer",
        [sys.executable, "manage.py", "run_mixer", "--name", "mixer-1"],
        env=env,
        ready=lambda p: "running" in p.output(),
        timeout=60,
    )
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
    producer = Celery(broker=redis_server.url(), set_as_current=False)  # the run's tasks keep their broker
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


def test_a_task_that_fails_in_a_real_worker_is_counted_as_a_failure(machine, redis_server):
    first, _ = machine["ports"]
    failures = ("spaces_tasks_total", {"task": TASK, "outcome": "failure"})
    before = value(scrape(first), failures[0], **failures[1])
    producer = Celery(broker=redis_server.url(), set_as_current=False)  # the run's tasks keep their broker
    try:
        producer.send_task(TASK, kwargs={"no_such_argument": 1})  # a TypeError in the worker
    finally:
        producer.close()
    harness.wait_for(
        lambda: value(scrape(first), failures[0], **failures[1]) == before + 1, 60, "the failure in /metrics"
    )


def test_a_mixer_process_ticking_a_live_room_shows_in_the_web_processes(machine):
    first, second = machine["ports"]
    before = scrape(first)
    ticks, lags = "spaces_mixer_tick_seconds_count", "spaces_mixer_lag_seconds_count"
    RoomFactory()  # live: the mixer takes its lease and mixes it every 20 ms
    harness.wait_for(
        lambda: value(scrape(second), ticks) >= value(before, ticks) + 50, 30, "a second of ticks"
    )
    assert value(scrape(first), lags) >= value(before, lags) + 50


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian's prometheus is not installed")
def test_a_real_prometheus_scrapes_a_web_process_and_evaluates_the_dashboard_and_the_alerts(
    machine, processes, stack_dir
):
    port = machine["ports"][1]
    directory = stack_dir / "prometheus"
    directory.mkdir()
    (directory / "token").write_text(TOKEN)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {
                "job_name": "spaces",
                "authorization": {"credentials_file": str(directory / "token")},
                "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
            }
        ],
    }
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
    web = harness.free_port()

    def ready(_) -> bool:  # listening comes before ready: the API answers 503 until its storage is open
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{web}/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    processes.start(
        "prometheus",
        [
            shutil.which("prometheus"),
            f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{web}",
        ],
        env=harness.base_env(),
        ready=ready,
        timeout=60,
    )

    def api(path: str, **query: str) -> dict:
        url = f"http://127.0.0.1:{web}{path}?{urllib.parse.urlencode(query)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)

    def scraped() -> bool:
        targets = api("/api/v1/targets")["data"]["activeTargets"]
        return bool(targets) and targets[0]["health"] == "up"

    harness.wait_for(scraped, 60, "Prometheus's first good scrape")
    assert api("/api/v1/query", query="spaces_http_responses_total")["data"]["result"]
    for expression in dashboard_expressions():
        answer = api("/api/v1/query", query=expression)
        assert answer["status"] == "success", (expression, answer)

    def rules() -> list[dict]:
        return [rule for group in api("/api/v1/rules")["data"]["groups"] for rule in group["rules"]]

    # Each rule evaluated without an error (whether one is pending depends on the machine's load).
    harness.wait_for(
        lambda: len(rules()) == 8 and all(r["health"] == "ok" for r in rules()), 30, "rules evaluated"
    )
    processes.stop("prometheus")


def test_sockets_are_reported_per_process_and_a_killed_process_is_forgotten(machine, processes):
    first, second = machine["ports"]
    room = RoomFactory()
    web1 = processes["web1"].pid
    listening = value(scrape(second), "spaces_listeners", route="websocket")
    with connect(f"ws://127.0.0.1:{first}/ws/rooms/{room.pk}/", origin=f"http://127.0.0.1:{first}") as socket:
        socket.recv(timeout=30)  # the snapshot: the listener is in
        harness.wait_for(
            lambda: value(scrape(second), "spaces_websockets_open", pid=str(web1), kind="room") == 1,
            10,
            "web1's socket",
        )
        assert value(scrape(second), "spaces_listeners", route="websocket") == listening + 1
        processes.kill("web1")
        text = scrape(second)
    assert [
        s for s in samples(text) if s.name == "spaces_websockets_open" and s.labels["pid"] == str(web1)
    ] == []
    assert value(text, "spaces_listeners", route="websocket") == listening
    # Only web processes hold sockets: the mixer and the worker have no such series at all.
    holders = {s.labels["pid"] for s in samples(text) if s.name == "spaces_websockets_open"}
    assert holders <= {str(processes["web2"].pid)}
    # Its counters stay: the totals of the machine never go back.
    assert value(text, "spaces_http_responses_total") > 0
