from django.apps import AppConfig

from spaces_project.metrics.exposition import register_collector


class RecordingsConfig(AppConfig):
    name = "recordings"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # recordings' part when something happens to a person (accounts/hooks.py), at points of a
        # room's life (rooms/hooks.py) and in a person's data archive (accounts/export.py). Imported
        # here: Django imports this module before the models exist, and these modules use them.
        from . import account_hooks, export, metrics, room_hooks  # noqa: PLC0415 (the models must be loaded first)

        account_hooks.register()
        room_hooks.register()
        export.register_sections()
        # Recordings processing and stuck, counted at each scrape of /metrics.
        register_collector(metrics.collect)
