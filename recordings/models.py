from django.db import models


class Recording(models.Model):
    """The recording of one room; finalized and published by Celery after the room ends.

    Its files live under MEDIA_ROOT/recordings/<room id>/ with fixed names (see services.RecordingFiles),
    so every run of the finalizing tasks writes the same files.
    """

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
    # Progress of the finalizing chain (finalize -> artwork -> publish); each step sets its time once.
    processing_started_at = models.DateTimeField(null=True, blank=True)
    # When the chain was last handed to the broker; a recording processing long after it is stuck.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    finalize_attempts = models.PositiveSmallIntegerField(default=0)
    finalized_at = models.DateTimeField(null=True, blank=True)
    artwork_at = models.DateTimeField(null=True, blank=True)
    size_bytes = models.PositiveBigIntegerField("replay size in bytes", default=0)
    segment_count = models.PositiveSmallIntegerField(default=0)
    # What finalizing noticed in the capture (a torn last page after a mixer crash, missing frames).
    capture_notes = models.TextField(blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    # Waveform peaks 0..1 for the player, and who spoke when: [[user id, start ms, end ms], ...].
    peaks = models.JSONField(default=list, blank=True)
    turns = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "-published_at"])]

    def __str__(self) -> str:
        return f"Recording of {self.room}"
