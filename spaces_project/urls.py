from pathlib import Path

from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from accounts import urls as accounts_urls
from recordings.views import analytics, profiles, room_pages
from rooms import ticket_views
from rooms import urls as rooms_urls
from rooms import views as room_views
from spaces_project import pwa
from spaces_project.metrics.exposition import metrics

admin.site.site_header = "Spaces moderation"
admin.site.site_title = "Spaces admin"
# Admin's own sign-in form has no throttling, and handles are public: staff sign in through allauth
# (by email, rate limited per address and per account) and come back to the admin.
admin.site.login = secure_admin_login(admin.site.login)

# A person's pages (/@<handle>/…), in the accounts namespace whichever app draws them: the profile
# shows their rooms and replays (recordings, the highest app it reads), the calendar their rooms.
people = (
    [
        path("@<str:handle>/", profiles.profile, name="profile"),
        *accounts_urls.urlpatterns,
        path("@<str:handle>/calendar.ics", room_views.host_calendar, name="calendar"),
        # The host's report across their rooms (replay plays too: recordings).
        path("@<str:handle>/analytics/", analytics.host_analytics, name="analytics"),
    ],
    accounts_urls.app_name,
)

# The rooms namespace: rooms' own pages, and those of a room that show its replay too (recordings,
# the highest app they read): its page and the search, which finds what was said in replays.
room_routes = (
    [
        path("search/", room_pages.search, name="search"),
        path("<int:pk>/", room_pages.room_detail, name="detail"),
        # A room's report shows its replay and clip plays too (recordings, docs/analytics.md).
        path("<int:pk>/analytics/", analytics.room_analytics, name="analytics"),
        path("<int:pk>/analytics.csv", analytics.room_analytics_csv, name="analytics_csv"),
        *rooms_urls.urlpatterns,
    ],
    rooms_urls.app_name,
)

urlpatterns = [
    # Home shows the replays row beside the live and upcoming rooms: recordings' page too.
    path("", room_pages.home, name="home"),
    # The installable app: its manifest, and the service worker at the root so that its scope is "/".
    path("manifest.webmanifest", pwa.manifest, name="manifest"),
    path("sw.js", pwa.service_worker, name="service_worker"),
    path("offline/", pwa.offline, name="offline"),
    # The scripts' strings in the page's language (docs/i18n.md): gettext, ngettext and interpolate for
    # static/js/, a script of our own origin that every page loads before its modules.
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript_catalog"),
    path("admin/", admin.site.urls),
    # Prometheus's scrape: for METRICS_TOKEN's bearer or METRICS_ALLOWED_NETWORKS only (docs/metrics.md).
    path("metrics", metrics, name="metrics"),
    path("accounts/", include("allauth.urls")),
    path("", include(people)),
    path("rooms/", include(room_routes)),
    path("tickets/", include("rooms.ticket_urls")),
    # Stripe's webhook for ticket payments (README, "Configuration").
    path("payments/stripe/webhook/", ticket_views.stripe_webhook, name="stripe_webhook"),
    path("recordings/", include("recordings.urls")),
    path("clips/", include("recordings.clip_urls")),
    path("", include("recordings.podcast_urls")),
    path("reports/", include("moderation.urls")),
    # Live HLS for the mass audience; nginx answers these paths itself in production (rooms/hls_views.py).
    # (With HLS_URL_PREFIX on another host, a CDN, the files are still here at /hls/ for its origin.)
    path(
        settings.HLS_URL_PREFIX.lstrip("/") if settings.HLS_URL_PREFIX.startswith("/") else "hls/",
        include("rooms.hls_urls"),
    ),
]

if settings.DEBUG:
    # Only avatars are public files (as in deploy/'s nginx site); the rest of MEDIA_ROOT goes out
    # through views that check who may have it.
    urlpatterns += static(
        f"{settings.MEDIA_URL}avatars/", document_root=Path(settings.MEDIA_ROOT) / "avatars"
    )
