from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

from rooms import views as room_views

admin.site.site_header = "Spaces moderation"
admin.site.site_title = "Spaces admin"

urlpatterns = [
    path("", room_views.home, name="home"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("rooms/", include("rooms.urls")),
    path("recordings/", include("recordings.urls")),
    path("reports/", include("moderation.urls")),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
