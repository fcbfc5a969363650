from django.urls import path, re_path

from . import hls_views

app_name = "hls"
urlpatterns = [
    re_path(
        r"^s/(?P<expires>[0-9]{1,12})/(?P<md5>[A-Za-z0-9_-]{22})/(?P<listener>[A-Za-z0-9_-]{1,64})/"
        r"(?P<room_id>[0-9]{1,12})/(?P<name>[A-Za-z0-9.-]{1,64})$",
        hls_views.hls_signed,
        name="signed",
    ),
    path("<int:room_id>/<str:name>", hls_views.hls_public, name="public"),
]
