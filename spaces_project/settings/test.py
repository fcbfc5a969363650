"""Test settings: the real PostgreSQL and Redis when DATABASE_URL / REDIS_URL point at them."""

import os
from pathlib import Path

from spaces_project.vapid import new_pair

from .base import *  # noqa: F403

SECRET_KEY = "test-only-key"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# A worker process that a test starts writes its emails to files the test can count (through a
# slower backend, TEST_EMAIL_BACKEND, when the test needs time to kill it between two emails).
if os.environ.get("TEST_EMAIL_FILE_PATH"):
    EMAIL_BACKEND = os.environ.get("TEST_EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
    EMAIL_FILE_PATH = os.environ["TEST_EMAIL_FILE_PATH"]
# A test that starts other processes (a Celery worker) gives them its own MEDIA_ROOT.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "test-artifacts" / "media"))  # noqa: F405
# The media storages stay as base.py chose them (MEDIA_STORAGE).
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
STATIC_ROOT = BASE_DIR / "test-artifacts" / "static"  # noqa: F405
# Live HLS files (rooms/live/hls.py); mixer processes a test starts get the same directory.
HLS_ROOT = Path(os.environ.get("HLS_ROOT", BASE_DIR / "test-artifacts" / "hls"))  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Tasks run in-process unless a test starts a real worker: it gives that worker
# CELERY_TASK_ALWAYS_EAGER=0. The broker's transport options are production's (base.py): the tests
# that kill a worker measure how long its task really waits (tests/faults/test_worker_faults.py).
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)  # noqa: F405
# A test capture that is not closed is given up on quickly.
RECORDINGS_CAPTURE_QUIET_S = float(os.environ.get("RECORDINGS_CAPTURE_QUIET_S", "1"))
CELERY_TASK_EAGER_PROPAGATES = True
# The web processes that browser tests start run no periodic work unless a test asks for it.
EMBEDDED_BEAT = env_bool("EMBEDDED_BEAT", False)  # noqa: F405
SITE_URL = "http://testserver"
# Browser tests watch the header's live row change without waiting half a minute.
LIVE_BAR_REFRESH_S = float(os.environ.get("LIVE_BAR_REFRESH_S", "2"))
# Web Push to the tests' own push service on 127.0.0.1 (tests/accounts/test_push*.py), signed with a
# pair made for this run.
VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY = new_pair()
PUSH_ALLOW_INSECURE_LOCALHOST = True
PUSH_TIMEOUT_S = 2.0
