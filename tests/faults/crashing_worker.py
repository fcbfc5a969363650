"""A Celery app whose finalizing step kills its own worker process (SIGKILL) on every delivery, as
a segfaulting codec or the kernel's out-of-memory killer would: `celery -A tests.faults.crashing_worker`."""

import os
import signal

from recordings import finalize
from spaces_project.celery import app


def _crash(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)


finalize.finalize_capture = _crash

__all__ = ["app"]
