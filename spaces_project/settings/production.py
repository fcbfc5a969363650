"""Production settings: everything secret or site-specific comes from the environment."""

import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403

DEBUG = False
if not SECRET_KEY or len(SECRET_KEY) < 50:  # noqa: F405
    raise ImproperlyConfigured("Set SECRET_KEY to a random string of at least 50 characters.")
if "*" in ALLOWED_HOSTS:  # noqa: F405
    # With "*" every websocket Origin passes AllowedHostsOriginValidator.
    raise ImproperlyConfigured("ALLOWED_HOSTS must name the site's hosts, never '*'.")

# The development payment provider sells tickets without taking any money: never in production.
PAYMENTS_DEVELOPMENT_ALLOWED = False
if PAYMENT_PROVIDER != "stripe":  # noqa: F405
    raise ImproperlyConfigured(
        f"PAYMENT_PROVIDER={PAYMENT_PROVIDER!r} cannot run in production: the development provider "  # noqa: F405
        "sells tickets for free. Set PAYMENT_PROVIDER=stripe with STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET."
    )
if not STRIPE_SECRET_KEY or not STRIPE_WEBHOOK_SECRET:  # noqa: F405
    raise ImproperlyConfigured("Set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET for PAYMENT_PROVIDER=stripe.")

ACCOUNT_EMAIL_VERIFICATION = os.environ.get("ACCOUNT_EMAIL_VERIFICATION", "mandatory")
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https"

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)  # noqa: F405
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
