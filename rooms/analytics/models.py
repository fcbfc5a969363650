"""Hosts' analytics: raw listening sessions (kept ANALYTICS_RAW_DAYS), per-minute rollups and a
room's figures (kept with the room). Re-exported by rooms.models, so they belong to the rooms app."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy


class Route(models.TextChoices):
    WEBSOCKET = "websocket", gettext_lazy("Websocket")
    HLS = "hls", gettext_lazy("HLS")


class Source(models.TextChoices):
    """Where a listener came from: the `src` of the project's own links, else the referrer."""

    HOME = "home", gettext_lazy("Home")
    TOPIC = "topic", gettext_lazy("Topic")
    SEARCH = "search", gettext_lazy("Search")
    PROFILE = "profile", gettext_lazy("Profile")
    NOTIFICATION = "notification", gettext_lazy("Notification")
    PUSH = "push", gettext_lazy("Push notification")
    INVITE = "invite", gettext_lazy("Invitation")
    SHARE = "share", gettext_lazy("Shared link")
    CLIP = "clip", gettext_lazy("Clip")
    EMBED = "embed", gettext_lazy("Embed")
    OTHER_SITE = "other_site", gettext_lazy("Another site")
    DIRECT = "direct", gettext_lazy("Direct")


class ListenerSession(models.Model):
    """One connection to a live room: from its join to its leave (None: not heard of yet).

    `key` is the connection's own random id, so a join or leave delivered twice, or a leave before
    its join, merges into the same row (services.analytics_flush). An anonymous session carries no
    address and no lasting id: it is counted, never followed across rooms.
    """

    room = models.ForeignKey("rooms.Room", on_delete=models.CASCADE, related_name="listener_sessions")
    key = models.CharField(max_length=40, unique=True)
    # The person, for a signed-in session (their listening history goes with their account).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # On stage when they connected (the host, co-hosts, speakers): not part of the audience.
    on_stage = models.BooleanField(default=False)
    route = models.CharField(max_length=10, choices=Route.choices, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, blank=True)
    joined_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["room", "joined_at"]),
            models.Index(fields=["user", "joined_at"]),
            models.Index(fields=["joined_at"]),
        ]

    def __str__(self) -> str:
        return f"session {self.key} in room {self.room_id}"


class RoomTally(models.Model):
    """Counted things of a room in one minute, as one process counted them between two pushes:
    reactions, raised hands, and a speaker's talk time (milliseconds). `event` is unique, so a batch
    delivered twice is counted once."""

    class Kind(models.TextChoices):
        REACTION = "reaction", gettext_lazy("Reaction")
        HAND = "hand", gettext_lazy("Raised hand")
        TALK_MS = "talk_ms", gettext_lazy("Talk time (ms)")

    room = models.ForeignKey("rooms.Room", on_delete=models.CASCADE, related_name="tallies")
    event = models.CharField(max_length=60, unique=True)
    minute = models.DateTimeField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The speaker, for talk time.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    count = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["room", "kind", "minute"])]

    def __str__(self) -> str:
        return f"{self.count} {self.kind} in room {self.room_id} at {self.minute:%H:%M}"


class ListenerMinute(models.Model):
    """One minute of a room, rolled up from its sessions and tallies (recomputed, never added to)."""

    room = models.ForeignKey("rooms.Room", on_delete=models.CASCADE, related_name="listener_minutes")
    minute = models.DateTimeField()
    # The most listeners at once during the minute, and how many arrived and left in it.
    listeners = models.PositiveIntegerField(default=0)
    joins = models.PositiveIntegerField(default=0)
    leaves = models.PositiveIntegerField(default=0)
    reactions = models.PositiveIntegerField(default=0)
    hands = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["minute"]
        constraints = [models.UniqueConstraint(fields=["room", "minute"], name="listener_minute_once")]

    def __str__(self) -> str:
        return f"room {self.room_id} at {self.minute:%H:%M}: {self.listeners}"


class RoomFigures(models.Model):
    """A room's figures, computed from its sessions when it ends (and again if late events come):
    what its report shows once the raw sessions are purged."""

    room = models.OneToOneField("rooms.Room", on_delete=models.CASCADE, related_name="figures")
    figures = models.JSONField(default=dict)
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"figures of room {self.room_id}"
