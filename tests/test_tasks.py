"""What every Celery task of the project promises: a time limit, and redelivery only when safe."""

import pytest

from spaces_project.celery import app
from spaces_project.tasks import IdempotentTask

PROJECT_APPS = ("accounts.", "rooms.", "recordings.", "moderation.", "spaces_project.")


def project_tasks():
    app.loader.import_default_modules()
    return sorted(
        (task for name, task in app.tasks.items() if name.startswith(PROJECT_APPS)), key=lambda t: t.name
    )


def test_the_project_has_tasks_to_check():
    names = {task.name for task in project_tasks()}
    assert {
        "accounts.tasks.send_notification_emails",
        "recordings.tasks.finalize_recording",
        "rooms.tasks.end_abandoned_rooms",
        "recordings.tasks.redispatch_stuck_recordings",
    } <= names


@pytest.mark.parametrize("task", project_tasks(), ids=lambda task: task.name)
def test_every_task_has_a_soft_and_a_hard_time_limit(task):
    hard = task.time_limit or app.conf.task_time_limit
    soft = task.soft_time_limit or app.conf.task_soft_time_limit
    assert hard and soft and soft < hard, (task.name, soft, hard)


@pytest.mark.parametrize("task", project_tasks(), ids=lambda task: task.name)
def test_a_task_redelivered_after_its_worker_died_is_one_that_may_run_twice(task):
    if task.acks_late or task.reject_on_worker_lost:
        assert isinstance(task, IdempotentTask), task.name
        assert task.acks_late and task.reject_on_worker_lost


def test_every_periodic_task_exists():
    registered = {task.name for task in project_tasks()}
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in registered
