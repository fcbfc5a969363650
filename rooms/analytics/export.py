"""The analytics' part of a person's data archive: their own listening sessions (rooms/export.py
registers it). Other people's listening is in no one's archive: hosts see aggregates only."""

import zipfile

from django.utils.translation import gettext_noop

from accounts.export import Section, iso, write_json
from accounts.models import User

from .models import ListenerSession


def write_listening(archive: zipfile.ZipFile, user: User) -> None:
    sessions = ListenerSession.objects.filter(user=user).select_related("room").order_by("joined_at", "pk")
    write_json(
        archive,
        "listening.json",
        [
            {
                "room": session.room.title,
                "room_id": session.room_id,
                "joined_at": iso(session.joined_at),
                "left_at": iso(session.left_at),
                "on_stage": session.on_stage,
                "route": session.route,
                "came_from": session.source,
            }
            for session in sessions
        ],
    )


SECTION = Section(
    gettext_noop("Your listening"),
    write_listening,
    {"rooms.ListenerSession.user": "listening.json"},
    {
        "listening.json": gettext_noop(
            "when you listened to rooms (kept for the analytics' retention period), and from where"
        )
    },
)

NOT_EXPORTED = {
    "rooms.ListenerSession.room__host": "Other people's listening in the person's rooms: the host sees only its aggregates, in the room's report.",
    "rooms.RoomTally.user": "A speaker's talk time, counted per minute: a figure of the room's report, as public as the stage.",
    "rooms.RoomTally.room__host": "Counts of the person's rooms (reactions, hands, talk time): aggregates, shown in the room's report.",
    "rooms.ListenerMinute.room__host": "Per-minute counts of the person's rooms: aggregates, shown in the room's report and its CSV.",
    "rooms.RoomFigures.room__host": "The figures of the person's rooms: aggregates, shown in the room's report.",
}
