from django.db import models


class Recording(models.Model):
    """The recording of one room; finalized and published by Celery after the room ends."""

    class Status(models.TextChoices):
        CAPTURING = "capturing", "Capturing"
        PROCESSING = "processing", "Processing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        REMOVED = "removed", "Removed"

    room = models.OneToOneField("rooms.Room", on_delete=models.CASCADE, related_name="recording")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CAPTURING)
    duration_ms = models.PositiveIntegerField(default=0)
    play_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "-published_at"])]

    def __str__(self) -> str:
        return f"Recording of {self.room}"
