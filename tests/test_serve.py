"""`manage.py serve` (make run) starts one Celery worker: it must take every queue a task is routed to."""

from django.conf import settings

from rooms.management.commands.serve import worker_queues


def test_the_local_worker_takes_the_default_queue_and_every_routed_one():
    queues = worker_queues()
    assert queues[0] == "celery"
    for route in settings.CELERY_TASK_ROUTES.values():
        assert route["queue"] in queues
    assert "push" in queues
