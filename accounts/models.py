from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy

from spaces_project.media import public_storage

from .timezones import DEFAULT_TIME_ZONE
from .validators import handle_validators, validate_display_name, validate_time_zone

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
        help_text=gettext_lazy("Shown as @handle. Letters, digits and underscores."),
    )
    email = models.EmailField(gettext_lazy("email address"), unique=True)
    display_name = models.CharField(max_length=50, blank=True, validators=[validate_display_name])
    bio = models.CharField(max_length=280, blank=True)
    # Avatars are public by design: in the "public" storage (MEDIA_ROOT served at MEDIA_URL, or the
    # bucket with plain URLs a CDN caches; spaces_project/media.py).
    avatar_64 = models.ImageField(upload_to="avatars/", storage=public_storage, blank=True)
    avatar_128 = models.ImageField(upload_to="avatars/", storage=public_storage, blank=True)
    avatar_256 = models.ImageField(upload_to="avatars/", storage=public_storage, blank=True)
    is_suspended = models.BooleanField(default=False)
    suspended_at = models.DateTimeField(null=True, blank=True)
    # Told to the person when sign-in is refused; an empty end date means until a moderator lifts it.
    suspension_reason = models.CharField(max_length=300, blank=True)
    suspended_until = models.DateTimeField(null=True, blank=True)
    # Raised to sign the person out everywhere: it is part of every session's auth hash.
    session_generation = models.PositiveIntegerField(default=0)
    # When this person's followers were last told they went live (at most once per 10 minutes).
    live_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Where notices and emails write times for this person (accounts/timezones.py): guessed from the
    # browser at sign-up, changed on the account page; UTC until then.
    time_zone = models.CharField(max_length=64, default=DEFAULT_TIME_ZONE, validators=[validate_time_zone])
    # The language of this person's pages, emails and notices, one of settings.LANGUAGES; empty: their
    # browser's (Accept-Language). Applied at every request while they are signed in (docs/i18n.md).
    language = models.CharField(max_length=16, blank=True, default="")

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
        return self.name_from(self.display_name, self.handle)

    @staticmethod
    def name_from(display_name: str, handle: str) -> str:
        """The name shown for someone, from the two fields (for reads of plain rows)."""
        return display_name or handle

    def _get_session_auth_hash(self, secret=None):
        # Django checks this hash on every request: a session made before the password changed,
        # or before the person signed out everywhere, no longer matches and is signed out.
        if not self.session_generation:
            return super()._get_session_auth_hash(secret=secret)
        key_salt = "accounts.User.get_session_auth_hash"
        value = f"{self.password}:{self.session_generation}"
        return salted_hmac(key_salt, value, secret=secret, algorithm="sha256").hexdigest()


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
        REMINDER = "reminder", gettext_lazy("Reminders")
        HOST_LIVE = "host_live", gettext_lazy("People you follow going live")
        ROOM_INVITE = "room_invite", gettext_lazy("Invitations to rooms")
        SPEAK_INVITE = "speak_invite", gettext_lazy("Invitations to speak")
        RECORDING_READY = "recording_ready", gettext_lazy("Recordings published")
        NEW_FOLLOWER = "new_follower", gettext_lazy("New followers")
        TICKET = "ticket", gettext_lazy("Your tickets: refunds and changed times")
        TICKET_SALE = "ticket_sale", gettext_lazy("Tickets sold and refunded for your rooms")

    recipient = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    actor = models.ForeignKey(User, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    room = models.ForeignKey("rooms.Room", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    text = models.CharField(max_length=200)
    url = models.CharField(max_length=300, blank=True)
    # What the notification is about, e.g. "reminder:12:0": a person is told about one thing once,
    # whoever sends it and however often (NULL: no such rule).
    dedupe_key = models.CharField(max_length=100, null=True, blank=True)
    # Shown in the list and counted as unread; a notification the person only wants by email is not.
    in_app = models.BooleanField(default=True)
    email_wanted = models.BooleanField(default=False)
    emailed_at = models.DateTimeField(null=True, blank=True)
    # Pushed to the recipient's devices that want this kind (accounts/services/push.py).
    push_wanted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["recipient", "read_at"]),
            # The emails still to send (a periodic task looks for those whose task was lost).
            models.Index(
                fields=["created_at"],
                condition=models.Q(email_wanted=True, emailed_at__isnull=True),
                name="notification_email_pending",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["recipient", "dedupe_key"], name="notification_once_per_key"),
            models.CheckConstraint(
                condition=models.Q(in_app=True) | models.Q(email_wanted=True) | models.Q(push_wanted=True),
                name="notification_shown_or_emailed",
            ),
        ]

    def __str__(self) -> str:
        return self.text


class DataExport(models.Model):
    """One archive of a person's data, built by a Celery task; its link works until `expires_at`."""

    class Status(models.TextChoices):
        PENDING = "pending", gettext_lazy("Waiting")
        BUILDING = "building", gettext_lazy("Building")
        READY = "ready", gettext_lazy("Ready")
        FAILED = "failed", gettext_lazy("Failed")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="data_exports")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    step = models.CharField(max_length=100, blank=True)
    file_name = models.CharField(max_length=200, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="dataexport_progress_percent"),
            # One archive in the making per person at a time.
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(status__in=["pending", "building"]),
                name="dataexport_one_in_progress",
            ),
        ]

    def __str__(self) -> str:
        return f"Data export #{self.pk} of {self.user}"


class NotificationPreference(models.Model):
    """One person's choice for one kind of notification; without a row the kind's defaults apply."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notification_preferences")
    kind = models.CharField(max_length=32, choices=Notification.Kind.choices)
    in_app = models.BooleanField()
    email = models.BooleanField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notification_preference_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.kind}: in app {self.in_app}, email {self.email}"


# The kinds a phone is told about with a push, each switched on or off per device (PRODUCT, "On a
# phone": a followed host goes live, a reminder's room starts, an invitation, a ticket's room starts).
PUSH_KINDS = (
    Notification.Kind.HOST_LIVE,
    Notification.Kind.REMINDER,
    Notification.Kind.ROOM_INVITE,
    Notification.Kind.SPEAK_INVITE,
    Notification.Kind.TICKET,
)


class PushSubscription(models.Model):
    """One browser on one device that takes Web Push for its person (the page's
    `PushSubscription.toJSON()`): where to send, and the keys to encrypt for it (RFC 8291)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="push_subscriptions")
    endpoint = models.CharField(max_length=2048, unique=True)
    p256dh = models.CharField(max_length=100)  # the device's P-256 public key, base64url
    auth = models.CharField(max_length=40)  # its 16-byte authentication secret, base64url
    # The kinds of PUSH_KINDS this device is told about (a new device: all of them).
    kinds = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Push to a device of {self.user}"


class PushDelivery(models.Model):
    """One notification pushed to one device: made once per pair (the notification's own once-key
    made the notification once per person), marked when the push service took it or it was given up."""

    subscription = models.ForeignKey(PushSubscription, on_delete=models.CASCADE, related_name="deliveries")
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the push service accepted it, or when it was given up (too late, refused): done either way.
    done_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=40, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscription", "notification"], name="push_delivery_once"),
        ]

    def __str__(self) -> str:
        return f"Push of notification {self.notification_id} to subscription {self.subscription_id}"
