"""`manage.py serve` (make run) starts one Celery worker: it must take every queue a task is routed to;
all its processes write their metrics to one directory, emptied when it starts."""

import os
import shutil

from django.conf import settings

from rooms.management.commands.serve import metrics_directory, worker_queues


def test_the_local_worker_takes_the_default_queue_and_every_routed_one():
    queues = worker_queues()
    assert queues[0] == "celery"
    for route in settings.CELERY_TASK_ROUTES.values():
        assert route["queue"] in queues
    assert "push" in queues


def test_the_metrics_directory_of_a_run_is_emptied_when_it_starts(tmp_path, monkeypatch):
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_4242.db").write_bytes(b"an earlier run's figures")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    assert metrics_directory("8000") == str(directory)
    assert list(directory.iterdir()) == []


def test_without_a_given_directory_each_port_has_its_own(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    first, second = metrics_directory("8000"), metrics_directory("8001")
    assert first != second and os.path.isdir(first) and os.path.isdir(second)
    shutil.rmtree(first)
    shutil.rmtree(second)
