"""People's time zones: which names a person may choose, and how a notice or an email writes a
moment for its reader ("Wed 9 Dec, 20:00 CET"). Pages show times in the browser's own zone
(static/js/local-times.js); what is written once and read later, away from the page, uses the
person's setting (`User.time_zone`, guessed from the browser at sign-up, UTC until then)."""

from datetime import datetime, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from django.utils import dateformat

DEFAULT_TIME_ZONE = "UTC"
# In the system's database, but the server's own zone, not a place: never a person's choice.
_NOT_A_PLACE = {"localtime", "Factory"}


@cache
def time_zone_names() -> frozenset[str]:
    """Every IANA name a person may have (Python's zoneinfo.available_timezones(), the server's
    own "localtime" left out)."""
    return frozenset(available_timezones() - _NOT_A_PLACE)


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    """The zones a settings page offers: UTC, then every Area/Place name, sorted. Legacy aliases a
    browser may still report ("US/Eastern") are accepted but not listed."""
    places = sorted(name for name in time_zone_names() if "/" in name and not name.startswith("Etc/"))
    return [(DEFAULT_TIME_ZONE, DEFAULT_TIME_ZONE)] + [(name, name.replace("_", " ")) for name in places]


def is_time_zone(name: str) -> bool:
    return name in time_zone_names()


def zone_named(name: str | None) -> tzinfo:
    """The zone `name`, or UTC when it is empty or unknown (a zone the system no longer has)."""
    return ZoneInfo(name if name and is_time_zone(name) else DEFAULT_TIME_ZONE)


def format_moment(moment: datetime, zone: tzinfo) -> str:
    """`moment` as a reader in `zone` reads it in a notice or an email: "Wed 9 Dec, 20:00 CET"
    (the zone's abbreviation, or its offset where it has none: "+04")."""
    local = moment.astimezone(zone)
    # Django's date format: the day's and month's names in the active language ("mié 9 dic").
    return f"{dateformat.format(local, 'D j M, H:i')} {local:%Z}"
