from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower

from .validators import handle_validators

AVATAR_SIZES = (64, 128, 256)


class SpacesUserManager(UserManager):
    """Users are identified by their handle; the email is what they sign in with."""

    def _create_user_object(self, username, email, password, **extra_fields):
        extra_fields.setdefault("handle", username)
        email = self.normalize_email(email)
        user = self.model(email=email, **extra_fields)
        user.set_password(password)
        return user

    def _create_user(self, username, email, password, **extra_fields):
        user = self._create_user_object(username, email, password, **extra_fields)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username):
        return self.get(**{f"{self.model.USERNAME_FIELD}__iexact": username})


class User(AbstractUser):
    username = None
    first_name = None
    last_name = None
    handle = models.CharField(
        max_length=30,
        unique=True,
        validators=handle_validators,
        help_text="Shown as @handle. Letters, digits and underscores.",
    )
    email = models.EmailField("email address", unique=True)
    display_name = models.CharField(max_length=50, blank=True)
    bio = models.CharField(max_length=280, blank=True)
    avatar_64 = models.ImageField(upload_to="avatars/", blank=True)
    avatar_128 = models.ImageField(upload_to="avatars/", blank=True)
    avatar_256 = models.ImageField(upload_to="avatars/", blank=True)
    is_suspended = models.BooleanField(default=False)
    suspended_at = models.DateTimeField(null=True, blank=True)

    USERNAME_FIELD = "handle"
    REQUIRED_FIELDS = ["email"]

    objects = SpacesUserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("handle"), name="user_handle_ci_unique"),
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return f"@{self.handle}"

    @property
    def name(self) -> str:
        return self.display_name or self.handle


class Follow(models.Model):
    follower = models.ForeignKey(User, on_delete=models.CASCADE, related_name="following_links")
    followee = models.ForeignKey(User, on_delete=models.CASCADE, related_name="follower_links")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="follow_unique"),
            models.CheckConstraint(
                condition=~models.Q(follower=models.F("followee")), name="follow_not_self"
            ),
        ]
        indexes = [models.Index(fields=["followee", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.follower} follows {self.followee}"


class Block(models.Model):
    blocker = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocking_links")
    blocked = models.ForeignKey(User, on_delete=models.CASCADE, related_name="blocked_by_links")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["blocker", "blocked"], name="block_unique"),
            models.CheckConstraint(condition=~models.Q(blocker=models.F("blocked")), name="block_not_self"),
        ]
        indexes = [models.Index(fields=["blocked"])]

    def __str__(self) -> str:
        return f"{self.blocker} blocks {self.blocked}"


class Notification(models.Model):
    class Kind(models.TextChoices):
        NEW_FOLLOWER = "new_follower", "New follower"
        HOST_LIVE = "host_live", "A host you follow is live"
        REMINDER = "reminder", "Reminder"
        ROOM_INVITE = "room_invite", "Invitation to a room"
        SPEAK_INVITE = "speak_invite", "Invitation to speak"
        RECORDING_READY = "recording_ready", "Recording published"

    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    actor = models.ForeignKey(User, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    room = models.ForeignKey("rooms.Room", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    text = models.CharField(max_length=200)
    url = models.CharField(max_length=300, blank=True)

    class EmailStatus(models.TextChoices):
        NONE = "", "Not emailed"
        PENDING = "pending", "Email to send"
        SENT = "sent", "Email sent"
        FAILED = "failed", "Email failed"

    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # Each email is sent once: the sending task marks it sent in the same transaction that locks it,
    # so a task delivered again (its worker was killed) skips what went out already.
    email_status = models.CharField(max_length=8, choices=EmailStatus.choices, default="", blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["recipient", "read_at"]),
            models.Index(
                fields=["created_at"],
                condition=models.Q(email_status="pending"),
                name="notification_email_pending",
            ),
        ]

    def __str__(self) -> str:
        return self.text
