"""A Celery worker (``celery -A tests.recordings.slow_worker worker``) whose finalizing stops for half a
minute after writing the first of its two files, so that a test can kill it in the middle of the job.
The application code has no hook for this: the test makes its own worker slow."""

import time

from recordings import finalize
from spaces_project.celery import app

__all__ = ["app"]

PAUSE_S = 30
_write_original = finalize._write_original


def _write_original_then_pause(*args, **kwargs) -> None:
    _write_original(*args, **kwargs)
    time.sleep(PAUSE_S)


finalize._write_original = _write_original_then_pause
