"""A live worker keeps the task messages it holds from being handed out again.

kombu's Redis transport keeps every message a worker took and has not acknowledged in a sorted set,
scored with the time the worker took it; any worker's restore sweep puts a message back on its queue
once that score is `visibility_timeout` old. The timeout is how long a task of a killed worker
waits, so it is short here (settings/base.py); but then every message a live worker still holds that
long (a task still running, a retry's countdown, a message prefetched behind a long task) would be
handed to a second worker and run twice at once. So each worker sets the score of every message it
holds to now, every TASK_LEASE_RENEW_EVERY_S: the timeout counts from the last renewal, not from
the delivery, and only a worker that stopped renewing (killed, or its loop stuck) loses its messages.

The renewal runs on the worker's event loop, as the restore sweep does. A prefork pool runs tasks in
child processes and leaves that loop free; `--pool solo` runs each task on the loop itself, so it
renews only between tasks and suits only tasks shorter than the timeout (the fault tests use it for
short tasks; the deploy's unit runs prefork).
"""

import logging
import time

from celery import bootsteps
from django.conf import settings

logger = logging.getLogger(__name__)


def renew(channel) -> int:
    """Score every message `channel` holds unacknowledged with the time now; return how many.

    `ZADD XX` renews only entries still there: a message acknowledged, or restored by a sweep that
    came first, is not put back.
    """
    qos = channel.qos  # what kombu's QoS holds: delivered, less those acknowledged since (dirty)
    tags = [tag for tag in qos._delivered if tag not in qos._dirty]
    if not tags:
        return 0
    now = time.time()
    with channel.conn_or_acquire() as client:
        client.zadd(channel.unacked_index_key, dict.fromkeys(tags, now), xx=True)
    return len(tags)


class RenewBrokerLeases(bootsteps.StartStopStep):
    """Consumer bootstep: renew the held messages' leases every TASK_LEASE_RENEW_EVERY_S, on the event loop."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, c, **kwargs):
        super().__init__(c, **kwargs)
        self.timer_entry = None

    def start(self, c):
        channel = c.task_consumer.channel
        if not getattr(channel, "ack_emulation", False):  # not Redis (memory:// in development)
            return
        self.timer_entry = c.timer.call_repeatedly(
            settings.TASK_LEASE_RENEW_EVERY_S, self._renew, (channel,), priority=10
        )

    def _renew(self, channel) -> None:
        try:
            renew(channel)
        except Exception:  # the broker is away (nothing is restored while it is): try again next time
            logger.warning("could not renew the leases of held task messages", exc_info=True)

    def stop(self, c):
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None

    shutdown = stop
