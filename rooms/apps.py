from django.apps import AppConfig

from spaces_project import realtime
from spaces_project.metrics.exposition import register_collector

from .live.bus import attached_count, get_bus


class RoomsConfig(AppConfig):
    name = "rooms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Rooms' events go out on the room bus, whoever sends them (spaces_project/realtime.py).
        realtime.set_room_bus(get_bus, attached_count=attached_count)
        # rooms' part when something happens to a person (accounts/hooks.py) and in their data
        # archive (accounts/export.py). Imported here: Django imports this module before the models
        # exist, and these modules use them.
        from . import account_hooks, export, metrics  # noqa: PLC0415 (the models must be loaded first)

        account_hooks.register()
        export.register_sections()
        # Live rooms, counted at each scrape of /metrics.
        register_collector(metrics.collect)
