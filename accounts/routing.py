from django.urls import path

from rooms.protocol import USER_SOCKET_PATH

from .consumers import UserConsumer

websocket_urlpatterns = [
    path(USER_SOCKET_PATH.lstrip("/"), UserConsumer.as_asgi()),
]
