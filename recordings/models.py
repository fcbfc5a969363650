from django.conf import settings
from django.db import models
from django.utils.translation import gettext, gettext_lazy


class Recording(models.Model):
    """The recording of one room; finalized and published by Celery after the room ends.

    Its files live under MEDIA_ROOT/recordings/<room id>/ with fixed names (see services.RecordingFiles),
    so every run of the finalizing tasks writes the same files.
    """

    class Status(models.TextChoices):
        CAPTURING = "capturing", gettext_lazy("Capturing")
        PROCESSING = "processing", gettext_lazy("Processing")
        READY = "ready", gettext_lazy("Ready")
        FAILED = "failed", gettext_lazy("Failed")
        REMOVED = "removed", gettext_lazy("Removed")

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
    transcribed_at = models.DateTimeField(null=True, blank=True)
    size_bytes = models.PositiveBigIntegerField(gettext_lazy("replay size in bytes"), default=0)
    segment_count = models.PositiveSmallIntegerField(default=0)
    # What finalizing noticed in the capture (a torn last page after a mixer crash, missing frames).
    capture_notes = models.TextField(blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    # Waveform peaks 0..1 for the player, and who spoke when: [[user id, start ms, end ms], ...].
    peaks = models.JSONField(default=list, blank=True)
    turns = models.JSONField(default=list, blank=True)
    # Where each capture segment sits: [[wall-clock start ms, replay offset ms, length ms], ...], to place
    # the live captions (timed by the wall clock) in the replay.
    segment_times = models.JSONField(default=list, blank=True)
    # Clips (issue 15): listeners may clip the room while it is live and its replay, unless the host
    # turned clipping off for this room.
    clips_enabled = models.BooleanField(gettext_lazy("listeners may clip this room"), default=True)
    # In the host's podcast feed since then (null: not published; off by default, since a published
    # episode can be downloaded by anyone). Set only by services.recording_set_podcast.
    podcast_published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "-published_at"])]

    def __str__(self) -> str:
        return gettext("Recording of %(room)s") % {"room": self.room}


class Transcript(models.Model):
    """What was said in a recorded room: its live captions, or a recognition of the recording.

    While the room is live, final caption lines are kept here (``live_complete`` stays true only if
    captions were on for the whole room and the recognizer skipped nothing). Finalizing either places
    those lines in the replay's time or, when they are incomplete, recognizes the whole recording.
    """

    class Status(models.TextChoices):
        LIVE = "live", gettext_lazy("Collecting live captions")
        READY = "ready", gettext_lazy("Ready")
        DELETED = "deleted", gettext_lazy("Deleted by the host")
        REMOVED = "removed", gettext_lazy("Removed by a moderator")

    class Source(models.TextChoices):
        LIVE_CAPTIONS = "live", gettext_lazy("Live captions")
        RECOGNIZED = "recognized", gettext_lazy("Recognized after the room")

    recording = models.OneToOneField(Recording, on_delete=models.CASCADE, related_name="transcript")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.LIVE)
    source = models.CharField(max_length=16, choices=Source.choices, blank=True)
    engine = models.CharField(max_length=100, blank=True)
    live_complete = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return gettext("Transcript of %(room)s") % {"room": self.recording.room}

    @property
    def is_gone(self) -> bool:
        return self.status in (self.Status.DELETED, self.Status.REMOVED)


class TranscriptLine(models.Model):
    transcript = models.ForeignKey(Transcript, on_delete=models.CASCADE, related_name="lines")
    speaker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    speaker_name = models.CharField(max_length=100, blank=True)
    # Live lines are timed by the wall clock until finalizing places them in the replay.
    wall_start_ms = models.BigIntegerField(null=True, blank=True)
    start_ms = models.PositiveIntegerField(default=0)
    end_ms = models.PositiveIntegerField(default=0)
    text = models.TextField(max_length=2000)
    edited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["start_ms", "pk"]
        indexes = [models.Index(fields=["transcript", "start_ms"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_ms__gte=models.F("start_ms")), name="line_ends_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.speaker_name}: {self.text[:40]}"


MAX_CLIP_MS = 60_000
MIN_CLIP_MS = 1_000


class Clip(models.Model):
    """Up to 60 s of a recorded room, cut from its Opus packets by a Celery task (recordings/clips.py).

    A clip of a live room is asked for as "the last N seconds": the task takes the stretch from the
    capture as it stands and writes its times here. Its files live under
    MEDIA_ROOT/recordings/clips/<id>/ (services.ClipFiles).
    """

    class Source(models.TextChoices):
        LIVE = "live", gettext_lazy("Live room")
        REPLAY = "replay", gettext_lazy("Replay")

    class Status(models.TextChoices):
        PENDING = "pending", gettext_lazy("Being cut")
        READY = "ready", gettext_lazy("Ready")
        FAILED = "failed", gettext_lazy("Failed")
        DELETED = "deleted", gettext_lazy("Deleted")
        REMOVED = "removed", gettext_lazy("Removed by a moderator")

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="clips")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clips")
    title = models.CharField(max_length=100)
    source = models.CharField(max_length=8, choices=Source.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Where the clip sits in the recording (the replay's time). For a live clip: the length asked for
    # until the task has cut it (start_ms 0, end_ms the length).
    start_ms = models.PositiveIntegerField(default=0)
    end_ms = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    size_bytes = models.PositiveIntegerField(default=0)
    peaks = models.JSONField(default=list, blank=True)
    # Who was heard in the stretch, from the speaker timeline: [[user id, name], ...] by first word.
    speakers = models.JSONField(default=list, blank=True)
    caption_text = models.TextField(blank=True)
    failure_reason = models.CharField(max_length=300, blank=True)
    # Plays counted once per viewer session (and from embeds per client address an hour): the host's report.
    play_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["recording", "status", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_ms__gt=models.F("start_ms"))
                & models.Q(end_ms__lte=models.F("start_ms") + MAX_CLIP_MS),
                name="clip_at_most_60_s",
            )
        ]

    def __str__(self) -> str:
        return gettext("Clip #%(number)s of %(room)s") % {"number": self.pk, "room": self.recording.room}

    @property
    def is_gone(self) -> bool:
        return self.status in (self.Status.DELETED, self.Status.REMOVED)


class ReplayPlay(models.Model):
    """One counted play of a replay and how long it was listened to: for the host's report (the
    median listen). Tied to no one: the player's session knows its own play, nobody else does."""

    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="plays")
    started_at = models.DateTimeField(auto_now_add=True)
    # The longest the player reported having played (capped at the recording's length).
    listened_ms = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["recording", "started_at"])]

    def __str__(self) -> str:
        return f"play of {self.recording_id}: {self.listened_ms} ms"
