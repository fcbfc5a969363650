"""Development settings: `make run` on one machine, SQLite and no Redis by default."""

import os

from spaces_project.vapid import development_pair

from .base import *  # noqa: F403

DEBUG = os.environ.get("DEBUG", "1") not in {"0", "false", "False"}
SECRET_KEY = SECRET_KEY or "dev-only-insecure-key-do-not-use-in-production"  # noqa: F405

# Web Push works under `make run` with nothing to set up: a VAPID pair made once and kept beside the
# SQLite database (git-ignored; browsers' subscriptions are tied to its public key).
if PUSH_ENABLED and not (VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY):  # noqa: F405
    VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY = development_pair(BASE_DIR / "vapid-development-keys.json")  # noqa: F405
PUSH_ALLOW_INSECURE_LOCALHOST = True
