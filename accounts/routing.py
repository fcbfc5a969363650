from django.urls import path

from spaces_project.protocol import USER_SOCKET_PATH

from .consumers import UserConsumer

websocket_urlpatterns = [
    path(USER_SOCKET_PATH.lstrip("/"), UserConsumer.as_asgi()),
]
