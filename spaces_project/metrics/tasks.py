"""Celery tasks' durations and outcomes, from Celery's signals in the worker that runs them."""

import time

from celery import signals

from . import TASK_DURATION, TASKS

_started: dict[str, float] = {}


@signals.task_prerun.connect
def _task_started(task_id=None, **_) -> None:
    _started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _task_finished(task_id=None, task=None, state=None, **_) -> None:
    started = _started.pop(task_id, None)
    if task is None:
        return
    if started is not None:
        TASK_DURATION.labels(task=task.name).observe(time.perf_counter() - started)
    # FAILURE is counted by task_failure (it also sees a task whose prerun never came); a retry by
    # task_retry.
    if state == "SUCCESS":
        TASKS.labels(task=task.name, outcome="success").inc()


@signals.task_failure.connect
def _task_failed(sender=None, **_) -> None:
    if sender is not None:
        TASKS.labels(task=sender.name, outcome="failure").inc()


@signals.task_retry.connect
def _task_retried(sender=None, **_) -> None:
    if sender is not None:
        TASKS.labels(task=sender.name, outcome="retry").inc()
