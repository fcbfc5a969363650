"""What the project's Celery tasks share: redelivery when a worker dies, a limit on deliveries that
never finish, and `dispatch`, the one way services queue a task."""

import logging
from collections.abc import Sequence

from celery import Task, current_app
from celery.contrib.django.task import DjangoTask
from celery.exceptions import Ignore
from django.conf import settings
from django.db import transaction

from .redis_clients import sync_client

logger = logging.getLogger(__name__)

DELIVERY_KEY_TTL_S = 24 * 3600


class _DeliveryCounter:
    """Counts the deliveries of one task message (its id and retry number) in the broker's Redis."""

    _client = None

    @classmethod
    def incr(cls, key: str) -> int:
        if cls._client is None:
            cls._client = sync_client(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        with cls._client.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, DELIVERY_KEY_TTL_S)
            count, _ = pipe.execute()
        return int(count)


class IdempotentTask(DjangoTask):
    """A task that is safe to run twice, so it is acknowledged only once it has run.

    A worker killed in the middle (``kill -9``, out of memory) leaves the message to be delivered
    again (``acks_late`` with ``reject_on_worker_lost``). A message whose every delivery kills the
    worker would then be delivered for ever: after ``TASK_MAX_DELIVERIES`` deliveries of the same
    message that never finished, the task gives up and calls ``give_up`` to mark its object failed.
    """

    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True

    def give_up(self, args: Sequence, reason: str) -> None:
        """Mark the task's object failed. Subclasses that own an object override this."""

    def before_start(self, task_id, args, kwargs) -> None:
        request = self.request
        if request.is_eager or not settings.REDIS_URL:
            return
        # One count per message: a retry is a new message (its number goes up), a redelivery is not.
        key = f"spaces:task-deliveries:{task_id}:{request.retries or 0}"
        try:
            deliveries = _DeliveryCounter.incr(key)
        except Exception:  # the broker is this Redis: without it there is no delivery to count
            return
        if deliveries > settings.TASK_MAX_DELIVERIES:
            reason = (
                f"{self.name.rsplit('.', 1)[-1]} was given up after {deliveries - 1} deliveries that "
                "never finished (its worker died each time)"
            )
            logger.error("task %s[%s]: %s", self.name, task_id, reason)
            self.give_up(args, reason)
            # Acknowledged without running; a chain stops here.
            raise Ignore()


def registered_task(name: str) -> Task:
    """The task registered as `name`, for a service that queues it (`dispatch`) or chains it.

    A task module imports the services it runs, so services name their tasks rather than import
    them: no import cycle between an app's services and its tasks. The name is looked up now, so a
    name no task module registers fails at the call.
    """
    if name not in current_app.tasks:
        # A worker imports every app's task module as it starts; a web process only those something
        # imported. Import them all, as the worker does (once: then every name is known).
        current_app.loader.import_default_modules()
    return current_app.tasks[name]


def dispatch(name: str, *args, after_commit: bool = True) -> None:
    """Queue the task registered as `name` with `args`, once the current transaction commits (at
    once outside one, or with `after_commit=False`).

    The name is looked up now (`registered_task`), so a name no task module registers fails at the
    call, not silently after the commit. The hook is robust: a broker that is away must not cancel
    the hooks after it (they are logged instead).
    """
    task = registered_task(name)
    if after_commit:
        transaction.on_commit(lambda: task.delay(*args), robust=True)
    else:
        task.delay(*args)
