"""The archive of one person's data: the sections it is made of, and what it leaves out and why.

The archive is a zip of JSON files (and the audio of recordings and clips), one section after the
other; the task that builds it (accounts.services.data_export_build) reports progress after each.
accounts writes the sections about the person's account here; each app above it writes the sections
of its own data in its ``export.py`` (rooms, recordings, moderation) and adds them with ``register``
from its ``AppConfig.ready``, so the sections follow the order of the apps.

Each section declares what it holds: every way a row is tied to the person ("rooms.Ticket.buyer",
or through something of theirs: "recordings.Recording.room__host"), the file it is in, and the lines
of the archive's README.txt that describe its files. `NOT_EXPORTED` gives the reason for every other
relation; each app states its own. tests/accounts/test_export.py walks the app registry, so a model
that ties a row to a person fails it until it is in one list or the other.
"""

import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext, gettext_noop

from .models import Block, Follow, Notification, NotificationPreference, User
from .selectors import notification_preferences


@dataclass(frozen=True)
class Section:
    # The step's name shown while the archive is built: an English msgid (gettext_noop) kept in
    # DataExport.step and translated where it is shown (accounts/views.py, the settings page).
    label: str
    write: Callable[[zipfile.ZipFile, User], None]
    # Each way a row is tied to the person that this section exports, as "app_label.Model.lookup"
    # (the lookup from that model to the user), and the file of the archive that holds those rows.
    holds: Mapping[str, str]
    # What the README of the archive says of each file (or directory) this section writes.
    readme: Mapping[str, str]


# The sections in the order the archive is written, every relation exported (and the file that
# holds its rows), and every other relation to a person with the reason it is left out. Filled by
# `register`: accounts' own below, then each app's as it starts.
SECTIONS: list[Section] = []
EXPORTED: dict[str, str] = {}
NOT_EXPORTED: dict[str, str] = {}


def register(*sections: Section, not_exported: Mapping[str, str] | None = None) -> None:
    """Add `sections` after those already in the archive, and the relations to a person the caller's
    app leaves out, each with its reason. Call from ``AppConfig.ready``; calling again changes
    nothing."""
    for section in sections:
        if section not in SECTIONS:
            SECTIONS.append(section)
            EXPORTED.update(section.holds)
    NOT_EXPORTED.update(not_exported or {})


def readme() -> str:
    """README.txt of the archive: what each file holds, in the active language (the task builds it
    inside the person's language). The sections' labels and descriptions are marked with
    gettext_noop where they are declared and translated here, when they are read."""
    lines = [f"{name:<25} {gettext(what)}" for section in SECTIONS for name, what in section.readme.items()]
    return gettext("This archive holds the data Spaces keeps about you.") + "\n\n" + "\n".join(lines) + "\n"


def iso(value) -> str | None:
    return value.isoformat() if value else None


def write_json(archive: zipfile.ZipFile, name: str, data) -> None:
    archive.writestr(name, json.dumps(data, indent=2, ensure_ascii=False, cls=DjangoJSONEncoder))


def write_profile(archive: zipfile.ZipFile, user: User) -> None:
    write_json(
        archive,
        "profile.json",
        {
            "handle": user.handle,
            "email": user.email,
            "display_name": user.display_name,
            "bio": user.bio,
            "date_joined": iso(user.date_joined),
            "last_login": iso(user.last_login),
            "is_suspended": user.is_suspended,
            "email_addresses": [
                {"email": address.email, "verified": address.verified, "primary": address.primary}
                for address in EmailAddress.objects.filter(user=user).order_by("pk")
            ],
        },
    )
    if user.avatar_256:
        try:
            with user.avatar_256.open("rb") as image:
                archive.writestr("avatar.jpg", image.read())
        except FileNotFoundError:
            pass


def write_social_graph(archive: zipfile.ZipFile, user: User) -> None:
    following = Follow.objects.filter(follower=user).select_related("followee")
    followers = Follow.objects.filter(followee=user).select_related("follower")
    write_json(
        archive,
        "follows.json",
        {
            "following": [{"handle": f.followee.handle, "since": iso(f.created_at)} for f in following],
            "followers": [{"handle": f.follower.handle, "since": iso(f.created_at)} for f in followers],
        },
    )
    blocks = Block.objects.filter(blocker=user).select_related("blocked")
    write_json(
        archive, "blocks.json", [{"handle": b.blocked.handle, "since": iso(b.created_at)} for b in blocks]
    )


def write_notifications(archive: zipfile.ZipFile, user: User) -> None:
    write_json(
        archive,
        "notifications.json",
        [
            {
                "kind": n.kind,
                "text": n.text,
                "url": n.url,
                "at": iso(n.created_at),
                "read_at": iso(n.read_at),
            }
            for n in Notification.objects.filter(recipient=user)
        ],
    )
    chosen = set(NotificationPreference.objects.filter(user=user).values_list("kind", flat=True))
    write_json(
        archive,
        "notification_settings.json",
        [
            {
                "kind": kind,
                "label": label,
                "in_app": choice.in_app,
                "email": choice.email,
                "chosen": kind in chosen,
            }
            for kind, label, choice in notification_preferences(user=user)
        ],
    )


register(
    Section(
        gettext_noop("Your profile"),
        write_profile,
        {"account.EmailAddress.user": "profile.json"},
        {"profile.json": gettext_noop("your profile and email addresses (and avatar.jpg, if you had one)")},
    ),
    Section(
        gettext_noop("Follows and blocks"),
        write_social_graph,
        {
            "accounts.Follow.follower": "follows.json",
            "accounts.Follow.followee": "follows.json",
            "accounts.Block.blocker": "blocks.json",
        },
        {
            "follows.json": gettext_noop("who you follow and who follows you"),
            "blocks.json": gettext_noop("who you blocked"),
        },
    ),
    Section(
        gettext_noop("Notifications"),
        write_notifications,
        {
            "accounts.Notification.recipient": "notifications.json",
            "accounts.NotificationPreference.user": "notification_settings.json",
        },
        {
            "notifications.json": gettext_noop("your notifications"),
            "notification_settings.json": gettext_noop("how you get each kind of notification"),
        },
    ),
    not_exported={
        "admin.LogEntry.user": "The admin site's log of what a staff member changed there: staff work, not the person's data.",
        "account.EmailConfirmation.email_address__user": "One-time keys that confirmed an address; the addresses are in profile.json.",
        "accounts.Block.blocked": "Who blocked the person stays the blocker's own business.",
        "accounts.Notification.actor": "Other people's notifications of what the person did; the person's own are exported.",
        "accounts.Notification.room__host": "Other people's notifications about the person's rooms.",
        "accounts.DataExport.user": "The archives themselves; the latest one's state is on the settings page.",
        "accounts.PushSubscription.user": "A browser's push address and keys: secrets of that device that work only"
        " with this server; the notification settings page shows and removes them.",
        "accounts.PushDelivery.notification__recipient": "Which device each notification was pushed to: a"
        " delivery log of the notifications in notifications.json.",
    },
)
