from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy

from spaces_project import protocol

# The analytics' models (rooms/analytics/models.py) are rooms' models too.
from .analytics.models import ListenerMinute, ListenerSession, RoomFigures, RoomTally  # noqa: F401

MAX_TITLE_LENGTH = 70
MAX_DESCRIPTION_LENGTH = 1000
MAX_TOPICS = 3
MAX_COHOSTS = 2
MAX_SPEAKERS = 10
MAX_SCHEDULE_DAYS = 30
MAX_UPCOMING_PER_HOST = 10
# The host of a scheduled room is told this long before it starts.
HOST_NOTICE_AHEAD = timedelta(minutes=30)
# A host's followers hear that they went live at most once in this long.
LIVE_NOTICE_GAP = timedelta(minutes=10)
# Ticketed rooms (rooms/services/tickets.py): the price in the currency's minor unit (cents), and the seats.
MIN_TICKET_PRICE = 100
MAX_TICKET_PRICE = 99_900
MIN_TICKET_CAPACITY = 1
MAX_TICKET_CAPACITY = 10_000
# The backstage of a scheduled room opens this long before its time (docs/qa-and-backstage.md).
BACKSTAGE_OPENS_BEFORE = timedelta(minutes=15)
# The Q&A queue: a question's length, and how many one person may ask in one room in an hour.
MAX_QUESTION_LENGTH = protocol.MAX_QUESTION_CHARS
QUESTIONS_PER_HOUR = protocol.QUESTIONS_PER_HOUR
# Names the buyer of a ticket whose account was deleted, wherever the host sees the sale.
DELETED_BUYER = "Deleted account"


class Tag(models.Model):
    name = models.CharField(max_length=40, unique=True)
    slug = models.SlugField(max_length=40, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Room(models.Model):
    class State(models.TextChoices):
        SCHEDULED = "scheduled", gettext_lazy("Scheduled")
        LIVE = "live", gettext_lazy("Live")
        ENDED = "ended", gettext_lazy("Ended")
        CANCELLED = "cancelled", gettext_lazy("Cancelled")

    class SpeakerPolicy(models.TextChoices):
        EVERYONE = "everyone", gettext_lazy("Everyone")
        FOLLOWED = "followed", gettext_lazy("People the host follows")
        INVITED = "invited", gettext_lazy("Only people the host invites")

    title = models.CharField(max_length=MAX_TITLE_LENGTH)
    description = models.TextField(max_length=MAX_DESCRIPTION_LENGTH, blank=True)
    host = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="hosted_rooms")
    topics = models.ManyToManyField(Tag, through="RoomTopic", related_name="rooms", blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.SCHEDULED)
    speaker_policy = models.CharField(
        "who may speak", max_length=16, choices=SpeakerPolicy.choices, default=SpeakerPolicy.EVERYONE
    )
    is_recorded = models.BooleanField(gettext_lazy("record this room"), default=False)
    allow_anonymous = models.BooleanField(
        gettext_lazy("visitors who are not signed in may listen"), default=True
    )
    # Live captions from the server's speech recognizer; the host (or a co-host) turns them on or off.
    captions_enabled = models.BooleanField(gettext_lazy("live captions"), default=False)
    # The Q&A queue beside the raised hands; the host turns it off or on (rooms/services/questions.py).
    qa_enabled = models.BooleanField("Q&A queue", default=True)
    # When the host opened the backstage of this scheduled room (None: closed). Only the stage
    # meets there: nothing is recorded and no listener hears it. Cleared when the room goes live.
    backstage_opened_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Every listener hears the room over HLS (docs/hls.md), not only those past
    # AUDIO_WEBSOCKET_LISTENERS: for a host who expects a crowd from the first minute.
    large_audience = models.BooleanField(gettext_lazy("large audience"), default=False)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # Since when a live room has had no host or co-host connected (None: someone is there). Set and
    # cleared by a periodic task; a room unattended for ROOM_ABANDONED_MINUTES ends by itself.
    unattended_since = models.DateTimeField(null=True, blank=True)
    # When the people waiting for this room were told it went live (reminders, followers). A live
    # room still without it was never announced (the broker was down): a periodic task sees to it.
    live_announced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The iCalendar SEQUENCE: raised when the room is rescheduled or cancelled, so calendars that
    # imported it take the new version.
    calendar_sequence = models.PositiveIntegerField(default=0, editable=False)
    # The start time the host was told about 30 minutes ahead (or needed no notice for).
    host_notice_for = models.DateTimeField(null=True, blank=True, editable=False)
    # A ticketed room (rooms/services/tickets.py): its price in settings.CURRENCY's minor unit and its seats;
    # both None for a free room.
    ticket_price = models.PositiveIntegerField(null=True, blank=True, editable=False)
    ticket_capacity = models.PositiveIntegerField(null=True, blank=True, editable=False)
    # Seats taken by paid tickets and by pending ones still holding theirs. Changed only by
    # rooms/services/tickets.py, with conditional UPDATEs; the check constraint below is the last word.
    tickets_taken = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ticket_price__isnull=True, ticket_capacity__isnull=True)
                | models.Q(
                    ticket_price__gte=MIN_TICKET_PRICE,
                    ticket_price__lte=MAX_TICKET_PRICE,
                    ticket_capacity__gte=MIN_TICKET_CAPACITY,
                    ticket_capacity__lte=MAX_TICKET_CAPACITY,
                ),
                name="room_ticket_terms_in_range",
            ),
            models.CheckConstraint(
                condition=models.Q(ticket_capacity__isnull=True, tickets_taken=0)
                | models.Q(tickets_taken__lte=models.F("ticket_capacity")),
                name="room_tickets_within_capacity",
            ),
            models.CheckConstraint(
                condition=models.Q(state="scheduled", scheduled_for__isnull=False, started_at__isnull=True)
                | models.Q(state="live", started_at__isnull=False, ended_at__isnull=True)
                | models.Q(state="ended", started_at__isnull=False, ended_at__isnull=False)
                | models.Q(state="cancelled", started_at__isnull=True),
                name="room_state_times_consistent",
            ),
            models.CheckConstraint(condition=~models.Q(title=""), name="room_title_not_empty"),
        ]
        indexes = [
            models.Index(fields=["state", "-started_at"]),
            models.Index(fields=["state", "scheduled_for"]),
            models.Index(fields=["host", "state"]),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_live(self) -> bool:
        return self.state == self.State.LIVE

    @property
    def is_over(self) -> bool:
        return self.state in (self.State.ENDED, self.State.CANCELLED)

    @property
    def in_backstage(self) -> bool:
        return self.state == self.State.SCHEDULED and self.backstage_opened_at is not None

    @property
    def status(self) -> str:
        """Where the room is in its life as its pages show it (spaces_project.protocol.ROOM_STATUSES):
        its state, or "backstage" for a scheduled room whose backstage is open."""
        return "backstage" if self.in_backstage else self.state

    @property
    def is_ticketed(self) -> bool:
        return self.ticket_price is not None

    @property
    def tickets_left(self) -> int:
        return max(0, (self.ticket_capacity or 0) - self.tickets_taken)


class RoomTopic(models.Model):
    """A room's topic in one of its three slots; the slot bounds the count in the database."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="room_topics")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="room_topics")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["room", "tag"], name="roomtopic_unique_tag"),
            models.UniqueConstraint(fields=["room", "position"], name="roomtopic_unique_slot"),
            models.CheckConstraint(
                condition=models.Q(position__gte=1, position__lte=MAX_TOPICS),
                name="roomtopic_at_most_three",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.room} #{self.tag}"


class Participant(models.Model):
    """A signed-in person's place in a room. Anonymous listeners live only in presence."""

    class Role(models.TextChoices):
        HOST = protocol.ROLE_HOST, gettext_lazy("Host")
        COHOST = protocol.ROLE_COHOST, gettext_lazy("Co-host")
        SPEAKER = protocol.ROLE_SPEAKER, gettext_lazy("Speaker")
        LISTENER = protocol.ROLE_LISTENER, gettext_lazy("Listener")

    # Defined once, in the protocol the browsers and the mixer follow too.
    STAGE_ROLES = protocol.STAGE_ROLES
    MODERATOR_ROLES = protocol.MODERATOR_ROLES

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.LISTENER)
    hand_raised_at = models.DateTimeField(null=True, blank=True)
    invited_to_speak_at = models.DateTimeField(null=True, blank=True)
    is_muted = models.BooleanField(default=True)
    is_removed = models.BooleanField(default=False)
    joined_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="participant_unique"),
            models.UniqueConstraint(
                fields=["room"], condition=models.Q(role="host"), name="participant_one_host"
            ),
            models.CheckConstraint(
                condition=~models.Q(role="host", is_removed=True), name="participant_host_not_removed"
            ),
        ]
        indexes = [models.Index(fields=["room", "role"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.room} as {self.role}"

    @property
    def on_stage(self) -> bool:
        return protocol.is_on_stage(self.role)

    @property
    def hand_raised(self) -> bool:
        return self.hand_raised_at is not None


MAX_PINNED_LINKS = 3


class PinnedLink(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="pinned_links")
    title = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    pinned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.title


class Reminder(models.Model):
    """Someone asked to be told when a scheduled room starts."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="reminders")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminders")
    created_at = models.DateTimeField(auto_now_add=True)
    # Set once the person was told the room starts; cleared when the room is rescheduled.
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="reminder_unique")]
        indexes = [
            models.Index(
                fields=["room"], condition=models.Q(notified_at__isnull=True), name="reminder_pending"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} reminded of {self.room}"


class RoomInvitation(models.Model):
    """The host or a co-host invited someone to a scheduled or live room (once per person and room)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="invitations")
    invitee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="room_invitations"
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # Invited to a live room with a free place on stage: also asked to speak.
    to_speak = models.BooleanField(default=False)
    # When the speak invitation was put to them in the room (once).
    speak_offered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "invitee"], name="invitation_unique"),
            models.CheckConstraint(
                condition=~models.Q(invitee=models.F("invited_by")), name="invitation_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invitee} invited to {self.room}"


class Ticket(models.Model):
    """A seat in a ticketed room, bought by one person (rooms/services/tickets.py has every rule).

    pending: checkout started, the seat is held until `hold_until`; paid: the holder may join and
    replay the room; refunded: the money went back (the room was cancelled, the host blocked the
    holder); expired: the hold lapsed before payment and the seat went back on sale. An expired or
    refunded ticket is kept: a late payment for it is recognised (and refunded if the seat is gone).
    """

    class Status(models.TextChoices):
        PENDING = "pending", gettext_lazy("Pending payment")
        PAID = "paid", gettext_lazy("Paid")
        REFUNDED = "refunded", gettext_lazy("Refunded")
        EXPIRED = "expired", gettext_lazy("Expired")

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="tickets")
    # None once the buyer deleted their account: a sale stays in the host's accounts (sold, revenue,
    # the buyers' CSV) without the person (rooms/services/tickets.py, tickets_account_deleting).
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="tickets"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    amount = models.PositiveIntegerField()  # in the currency's minor unit, as charged
    currency = models.CharField(max_length=3)
    provider = models.CharField(max_length=20)
    # The provider's checkout (a Stripe Checkout Session id): fulfilment is keyed on it.
    checkout_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    checkout_url = models.URLField(max_length=1000, blank=True)
    payment_id = models.CharField(max_length=255, blank=True)
    refund_id = models.CharField(max_length=255, blank=True)
    hold_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    # Set when a refund is decided (a task then asks the provider); cleared never.
    refund_requested_at = models.DateTimeField(null=True, blank=True)
    # Why: "cancelled" (the room), "blocked" (by the host), "late" (paid after the hold lapsed).
    refund_reason = models.CharField(max_length=20, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One ticket per person and room: buying twice finds the first one.
            models.UniqueConstraint(
                fields=["room", "buyer"],
                condition=models.Q(status__in=["pending", "paid"]),
                name="ticket_one_per_buyer",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="pending") | models.Q(hold_until__isnull=False),
                name="ticket_pending_has_hold",
            ),
        ]
        indexes = [
            models.Index(fields=["room", "status"]),
            models.Index(
                fields=["hold_until"], condition=models.Q(status="pending"), name="ticket_pending_hold"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.buyer_label} for {self.room} ({self.status})"

    @property
    def buyer_label(self) -> str:
        """How the host's pages name the buyer: their handle, or that the account is gone."""
        return f"@{self.buyer.handle}" if self.buyer_id else DELETED_BUYER

    @property
    def is_valid(self) -> bool:
        """Lets its holder in: paid and no refund decided."""
        return self.status == self.Status.PAID and self.refund_requested_at is None


class PaymentEvent(models.Model):
    """A provider's webhook event, recorded once: a replayed delivery finds its row and does nothing."""

    provider = models.CharField(max_length=20)
    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    checkout_id = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="payment_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.type} {self.event_id}"


class Question(models.Model):
    """A listener's question in a room's Q&A queue (rooms/services/questions.py has every rule).

    open: in the queue; answering: the host or a co-host is answering it now (one per room);
    answered: it was answered (``answered_at`` says when it started); dismissed: set aside by the
    host or a co-host; withdrawn: taken back by its asker; removed: taken down by the host, a co-host
    or a site moderator (it leaves the room's record too).
    """

    class State(models.TextChoices):
        OPEN = "open", gettext_lazy("Open")
        ANSWERING = "answering", gettext_lazy("Being answered")
        ANSWERED = "answered", gettext_lazy("Answered")
        DISMISSED = "dismissed", gettext_lazy("Dismissed")
        WITHDRAWN = "withdrawn", gettext_lazy("Withdrawn")
        REMOVED = "removed", gettext_lazy("Removed")

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="questions")
    asker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="questions")
    text = models.CharField(max_length=MAX_QUESTION_LENGTH)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    # Kept in step with the QuestionVote rows by rooms/services/questions.py, with conditional UPDATEs.
    vote_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # When the host or a co-host started answering it: the replay seeks there.
    answered_at = models.DateTimeField(null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-vote_count", "created_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(text=""), name="question_text_not_empty"),
            models.UniqueConstraint(
                fields=["room"], condition=models.Q(state="answering"), name="question_one_answering"
            ),
            models.CheckConstraint(
                condition=~models.Q(state__in=["answering", "answered"])
                | models.Q(answered_at__isnull=False),
                name="question_answered_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["room", "state"]),
            models.Index(fields=["room", "asker", "created_at"]),
        ]

    def __str__(self) -> str:
        return self.text[:60]


class QuestionVote(models.Model):
    """One person's upvote of a question: one per person and question, in the database."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="question_votes"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["question", "user"], name="question_vote_once")]

    def __str__(self) -> str:
        return f"{self.user} +1 {self.question}"
