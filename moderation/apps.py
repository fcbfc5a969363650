from django.apps import AppConfig


class ModerationConfig(AppConfig):
    name = "moderation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # moderation's part of a person's data archive (accounts/export.py). Imported here: Django
        # imports this module before the models exist, and this module uses them.
        from . import export  # noqa: PLC0415 (the models must be loaded first)

        export.register_sections()
