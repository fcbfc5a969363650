"""Periodic work for a server without Redis (`make run`): Celery beat's schedule, run in-process.

With Redis, `celery beat` sends the tasks of ``CELERY_BEAT_SCHEDULE`` to the workers. Without it
there is no broker and no beat, and tasks run where they are called (``CELERY_TASK_ALWAYS_EAGER``);
so the web process runs the same schedule in a daemon thread: same tasks, same intervals. The
tasks find what is due under row locks and rely on unique constraints, so this thread running beside
a real beat (a misconfiguration) still notifies nobody twice.

It runs in the web process, not beside it, because without Redis the channel layer is in memory:
only this process can reach the sockets of the people it notifies.
"""

import importlib
import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)

_started: "EmbeddedBeat | None" = None
_lock = threading.Lock()


def _seconds(schedule) -> float:
    if isinstance(schedule, timedelta):
        return schedule.total_seconds()
    if isinstance(schedule, int | float):
        return float(schedule)
    raise ValueError(f"the embedded beat runs interval schedules only, not {schedule!r}")


class EmbeddedBeat(threading.Thread):
    """Run each task of `schedule` (a CELERY_BEAT_SCHEDULE) every its interval, in this thread."""

    def __init__(self, schedule: dict, *, first_delay: float = 1.0) -> None:
        super().__init__(name="embedded-beat", daemon=True)
        self.entries = [
            (name, entry["task"], _seconds(entry["schedule"])) for name, entry in schedule.items()
        ]
        self.first_delay = first_delay
        self.stopping = threading.Event()
        self.ticks = 0

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        due = {name: time.monotonic() + self.first_delay for name, _, _ in self.entries}
        try:
            while not self.stopping.is_set():
                now = time.monotonic()
                for name, task_name, every in self.entries:
                    if now >= due[name]:
                        due[name] = now + every
                        self.run_task(task_name)
                self.ticks += 1
                self.stopping.wait(max(0.05, min(due.values()) - time.monotonic()))
        finally:
            connection.close()

    def run_task(self, task_name: str) -> None:
        close_old_connections()
        try:
            module, _, attribute = task_name.rpartition(".")
            getattr(importlib.import_module(module), attribute)()
        except Exception:
            logger.exception("periodic task %s failed", task_name)
        finally:
            close_old_connections()


def start_embedded_beat() -> EmbeddedBeat | None:
    """Start the schedule in this process once, if settings.EMBEDDED_BEAT asks for it."""
    global _started
    if not settings.EMBEDDED_BEAT:
        return None
    with _lock:
        if _started is None or not _started.is_alive():
            _started = EmbeddedBeat(settings.CELERY_BEAT_SCHEDULE)
            _started.start()
            logger.info("embedded beat: %s", ", ".join(task for _, task, _ in _started.entries))
        return _started
