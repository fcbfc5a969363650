"""Build room events and send them after the transaction commits (see rooms/protocol.py)."""

from django.db import transaction

from .bus import envelope, get_bus
from .models import Participant, PinnedLink


def publish_on_commit(room_id: int, event: dict, *, to: int | None = None, close: int | None = None) -> None:
    """Publish `event` to the room once the current transaction commits (at once outside one)."""
    message = envelope(event, to=to, close=close)
    # robust: when Redis is away the publish fails, and Django would skip every hook after a failing
    # one (the one that starts finalizing a recording, a task dispatch). The change is committed;
    # sockets that missed the event re-read the room when the bus is back (room.resync).
    transaction.on_commit(lambda: get_bus().publish(room_id, message), robust=True)


def person_payload(user) -> dict:
    return {
        "user_id": user.pk,
        "handle": user.handle,
        "name": user.name,
        "avatar": user.avatar_128.url if user.avatar_128 else "",
    }


def participant_payload(participant: Participant) -> dict:
    return {
        **person_payload(participant.user),
        "role": participant.role,
        "muted": participant.is_muted,
        "hand_raised": participant.hand_raised,
        "invited": participant.invited_to_speak_at is not None,
    }


def participant_updated(participant: Participant) -> None:
    publish_on_commit(
        participant.room_id,
        {"type": "room.participant_updated", "participant": participant_payload(participant)},
    )


def links_payload(room_id: int) -> list[dict]:
    return [
        {"id": link.pk, "title": link.title, "url": link.url}
        for link in PinnedLink.objects.filter(room_id=room_id)
    ]
