"""Production settings: everything secret or site-specific comes from the environment."""

import os
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from django.http.request import validate_host

from spaces_project.vapid import public_key_of

from .base import *  # noqa: F403

DEBUG = False
if not SECRET_KEY or len(SECRET_KEY) < 50:  # noqa: F405
    raise ImproperlyConfigured("Set SECRET_KEY to a random string of at least 50 characters.")
if "*" in ALLOWED_HOSTS:  # noqa: F405
    # With "*" every websocket Origin passes AllowedHostsOriginValidator.
    raise ImproperlyConfigured("ALLOWED_HOSTS must name the site's hosts, never '*'.")

# Every absolute link the site gives out (Open Graph tags, podcast feeds, calendars and their UIDs,
# emails, Stripe's return URLs) is built on SITE_URL: left at its default it would send people to
# 127.0.0.1:8000. It is the site's public address, served over HTTPS, on a host of ALLOWED_HOSTS.
_site = urlsplit(os.environ.get("SITE_URL", ""))
if _site.scheme != "https" or not _site.hostname or _site.path not in ("", "/") or _site.query:
    raise ImproperlyConfigured(
        "Set SITE_URL to the site's public https:// address, e.g. SITE_URL=https://spaces.example.org: "
        "feeds, calendars, emails, Open Graph tags and payment redirects are built on it."
    )
if not validate_host(_site.hostname, ALLOWED_HOSTS):  # noqa: F405
    raise ImproperlyConfigured(f"SITE_URL's host {_site.hostname!r} is not in ALLOWED_HOSTS.")

# The development payment provider sells tickets without taking any money: never in production.
PAYMENTS_DEVELOPMENT_ALLOWED = False
if PAYMENT_PROVIDER != "stripe":  # noqa: F405
    raise ImproperlyConfigured(
        f"PAYMENT_PROVIDER={PAYMENT_PROVIDER!r} cannot run in production: the development provider "  # noqa: F405
        "sells tickets for free. Set PAYMENT_PROVIDER=stripe with STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET."
    )
if not STRIPE_SECRET_KEY or not STRIPE_WEBHOOK_SECRET:  # noqa: F405
    raise ImproperlyConfigured("Set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET for PAYMENT_PROVIDER=stripe.")

# Web Push signs every push with the site's VAPID pair: with push on, both keys must be set and match.
PUSH_ALLOW_INSECURE_LOCALHOST = False
if PUSH_ENABLED:  # noqa: F405
    try:
        _vapid_ok = public_key_of(VAPID_PRIVATE_KEY) == VAPID_PUBLIC_KEY  # noqa: F405
    except ValueError:
        _vapid_ok = False
    if not _vapid_ok:
        raise ImproperlyConfigured(
            "Set VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY (a matching pair: `manage.py vapid_keys` makes one) "
            "for Web Push, or PUSH_ENABLED=0 to run without it."
        )
    if not VAPID_SUBJECT.startswith(("mailto:", "https://")):  # noqa: F405
        raise ImproperlyConfigured("VAPID_SUBJECT must be a mailto: or https:// address (RFC 8292).")

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

# The media storages stay as base.py chose them (MEDIA_STORAGE).
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}  # noqa: F405
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
