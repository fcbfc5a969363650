from django.apps import AppConfig

from spaces_project import realtime

from .live.bus import get_bus


class RoomsConfig(AppConfig):
    name = "rooms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Rooms' events go out on the room bus, whoever sends them (spaces_project/realtime.py).
        realtime.set_room_bus(get_bus)
