"""Forms that parse what a host typed; the rules themselves live in rooms.services."""

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .models import MAX_DESCRIPTION_LENGTH, MAX_TITLE_LENGTH, MAX_TOPICS, Room

DATETIME_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


def _zone(name: str):
    """The browser's time zone by IANA name, or UTC when it is missing or unknown."""
    try:
        return ZoneInfo(name) if name else timezone.get_fixed_timezone(0)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.get_fixed_timezone(0)


class DateTimeLocalInput(forms.DateTimeInput):
    """The browser's own date and time picker."""

    input_type = "datetime-local"


class RoomForm(forms.Form):
    """Create or edit a room. Fields a room's state no longer allows are removed by the caller."""

    WHEN_NOW = "now"
    WHEN_SCHEDULE = "schedule"

    title = forms.CharField(
        required=False,
        strip=True,
        widget=forms.TextInput(
            attrs={"maxlength": MAX_TITLE_LENGTH, "required": True, "data-counter": "title-counter"}
        ),
    )
    description = forms.CharField(
        required=False, max_length=MAX_DESCRIPTION_LENGTH, widget=forms.Textarea(attrs={"rows": 3})
    )
    topics = forms.CharField(
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "python, music", "autocomplete": "off"}),
    )
    when = forms.ChoiceField(
        label=gettext_lazy("When"),
        choices=[(WHEN_NOW, gettext_lazy("Start now")), (WHEN_SCHEDULE, gettext_lazy("Schedule for later"))],
        initial=WHEN_NOW,
        widget=forms.RadioSelect,
    )
    scheduled_for = forms.DateTimeField(
        label=gettext_lazy("Starts at"),
        required=False,
        input_formats=[DATETIME_LOCAL_FORMAT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=DateTimeLocalInput(format=DATETIME_LOCAL_FORMAT),
    )
    # Filled with the browser's IANA time zone by a small script; without it times are read as UTC.
    tz = forms.CharField(required=False, widget=forms.HiddenInput, initial="UTC")
    speaker_policy = forms.ChoiceField(
        label=gettext_lazy("Who may speak"),
        choices=[
            (Room.SpeakerPolicy.EVERYONE, gettext_lazy("Everyone")),
            (Room.SpeakerPolicy.FOLLOWED, gettext_lazy("People I follow")),
            (Room.SpeakerPolicy.INVITED, gettext_lazy("Only people I invite")),
        ],
        initial=Room.SpeakerPolicy.EVERYONE,
        widget=forms.RadioSelect,
    )
    is_recorded = forms.BooleanField(
        label=gettext_lazy("Record this room"),
        required=False,
        help_text=gettext_lazy("Recording can only be switched on before the room starts."),
    )
    allow_anonymous = forms.BooleanField(
        label=gettext_lazy("Allow listeners who are not signed in"), required=False, initial=True
    )
    large_audience = forms.BooleanField(
        label=gettext_lazy("Large audience"),
        required=False,
    )
    # A scheduled room can go on sale from the start (rooms/services/tickets.py checks the terms, as
    # for the room page's ticket form). Named as the ticket service names its refusals' fields.
    price = forms.CharField(
        required=False,
        widget=forms.NumberInput(attrs={"min": "1", "max": "999", "step": "0.01", "inputmode": "decimal"}),
    )
    capacity = forms.CharField(
        label=gettext_lazy("Seats"),
        required=False,
        widget=forms.NumberInput(attrs={"min": "1", "max": "10000", "step": "1"}),
    )
    captions_enabled = forms.BooleanField(
        label=gettext_lazy("Live captions"),
        required=False,
        help_text=gettext_lazy(
            "Speech is turned into captions on our server; listeners can hide them. "
            "You can switch them on or off while live."
        ),
    )

    def __init__(self, *args, room: Room | None = None, **kwargs):
        if room is not None:
            kwargs.setdefault("initial", initial_for(room))
        super().__init__(*args, **kwargs)
        # Written here, in the page's language (a class attribute is written once, at import).
        self.fields["title"].label = _("Title (at most %(count)s characters)") % {"count": MAX_TITLE_LENGTH}
        self.fields["topics"].help_text = _(
            "Up to %(count)s, separated by commas, for example: python, music."
        ) % {"count": MAX_TOPICS}
        if "large_audience" in self.fields:
            self.fields["large_audience"].help_text = _(
                "Every listener hears the room through a stream any CDN can serve, a few seconds late; "
                "speakers and the conversation stay live. Rooms switch to it by themselves past "
                "%(count)s listeners."
            ) % {"count": number_format(settings.AUDIO_WEBSOCKET_LISTENERS, force_grouping=True)}
        if "price" in self.fields:
            self.fields["price"].label = _("Ticket price (%(currency)s)") % {"currency": settings.CURRENCY}
        if room is not None:
            del self.fields["when"]
            del self.fields["captions_enabled"]  # switched from the live room
            del self.fields["price"]  # the room page's ticket form changes the terms
            del self.fields["capacity"]
            if room.state != Room.State.SCHEDULED:
                del self.fields["scheduled_for"]
                del self.fields["is_recorded"]
            elif not self.is_bound and room.scheduled_for:
                # The script shows this instant in the browser's zone (and sets `tz` to match).
                self.fields["scheduled_for"].widget.attrs["data-utc"] = room.scheduled_for.isoformat()

    def topic_names(self) -> list[str]:
        return [name for name in self.cleaned_data.get("topics", "").split(",") if name.strip()]

    def starts_now(self) -> bool:
        return self.cleaned_data.get("when", self.WHEN_NOW) == self.WHEN_NOW

    def scheduled_for_aware(self) -> datetime | None:
        value = self.cleaned_data.get("scheduled_for")
        if value is None:
            return None
        if timezone.is_aware(value):
            value = timezone.make_naive(value, timezone.get_fixed_timezone(0))
        return value.replace(tzinfo=_zone(self.cleaned_data.get("tz", "")))


def initial_for(room: Room) -> dict:
    scheduled = room.scheduled_for
    return {
        "title": room.title,
        "description": room.description,
        "topics": ", ".join(rt.tag.name for rt in room.room_topics.select_related("tag")),
        "scheduled_for": scheduled.astimezone(timezone.get_fixed_timezone(0)) if scheduled else None,
        "tz": "UTC",
        "speaker_policy": room.speaker_policy,
        "is_recorded": room.is_recorded,
        "allow_anonymous": room.allow_anonymous,
        "large_audience": room.large_audience,
    }
