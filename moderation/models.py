from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy

MAX_NOTE_LENGTH = 1000
# Reports a person may file or change in an hour.
REPORTS_PER_HOUR = 10


# Each target type's field; a report sets exactly the one of its type.
TARGET_FIELDS = ("target_room", "target_user", "target_recording", "target_clip", "target_question")


def _exactly_one_target() -> models.Q:
    condition = models.Q()
    for field in TARGET_FIELDS:
        condition |= models.Q(
            target_type=field.removeprefix("target_"),
            **{other + "__isnull": other != field for other in TARGET_FIELDS},
        )
    return condition


class Report(models.Model):
    class TargetType(models.TextChoices):
        ROOM = "room", gettext_lazy("Room")
        USER = "user", gettext_lazy("User")
        RECORDING = "recording", gettext_lazy("Recording")
        CLIP = "clip", gettext_lazy("Clip")
        QUESTION = "question", gettext_lazy("Question")

    class Reason(models.TextChoices):
        SPAM = "spam", gettext_lazy("Spam")
        HARASSMENT = "harassment", gettext_lazy("Harassment")
        HATE = "hate", gettext_lazy("Hateful conduct")
        VIOLENCE = "violence", gettext_lazy("Violence")
        IMPERSONATION = "impersonation", gettext_lazy("Impersonation")
        OTHER = "other", gettext_lazy("Other")

    class Status(models.TextChoices):
        OPEN = "open", gettext_lazy("Open")
        RESOLVED = "resolved", gettext_lazy("Resolved")
        DISMISSED = "dismissed", gettext_lazy("Dismissed")

    # Null once the reporter deleted their account: the report stays for moderators, without them.
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reports_made",
    )
    target_type = models.CharField(max_length=16, choices=TargetType.choices)
    target_room = models.ForeignKey(
        "rooms.Room", on_delete=models.CASCADE, null=True, blank=True, related_name="reports"
    )
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="reports_against",
    )
    target_recording = models.ForeignKey(
        "recordings.Recording", on_delete=models.CASCADE, null=True, blank=True, related_name="reports"
    )
    target_clip = models.ForeignKey(
        "recordings.Clip", on_delete=models.CASCADE, null=True, blank=True, related_name="reports"
    )
    target_question = models.ForeignKey(
        "rooms.Question", on_delete=models.CASCADE, null=True, blank=True, related_name="reports"
    )
    reason = models.CharField(max_length=32, choices=Reason.choices)
    note = models.TextField(max_length=MAX_NOTE_LENGTH, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reports_assigned",
        limit_choices_to={"is_staff": True},
    )
    resolution_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=_exactly_one_target(),
                name="report_exactly_one_target",
            ),
            # One open report per person and target; a closed report does not block a new one.
            *(
                models.UniqueConstraint(
                    fields=["reporter", field],
                    condition=models.Q(status="open"),
                    name=f"report_one_open_per_{field}",
                )
                for field in TARGET_FIELDS
            ),
        ]
        indexes = [models.Index(fields=["status", "-created_at"])]

    def __str__(self) -> str:
        return f"Report #{self.pk} ({self.get_reason_display()}) on {self.target}"

    @property
    def target(self):
        return next((getattr(self, field) for field in TARGET_FIELDS if getattr(self, field + "_id")), None)


class AuditLogEntry(models.Model):
    """One moderator action; written by the moderation services, never edited."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="audit_entries"
    )
    action = models.CharField(max_length=64)
    target_repr = models.CharField(max_length=200)
    report = models.ForeignKey(
        Report, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_entries"
    )
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = gettext_lazy("audit log entry")
        verbose_name_plural = gettext_lazy("audit log")

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.target_repr}"
