from django.urls import path

from spaces_project.protocol import USER_SOCKET_PATH

from .consumers import RoomConsumer
from .user_socket import UserConsumer

websocket_urlpatterns = [
    path("ws/rooms/<int:room_id>/", RoomConsumer.as_asgi()),
    path(USER_SOCKET_PATH.lstrip("/"), UserConsumer.as_asgi()),
]
