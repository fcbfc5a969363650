"""The envelope in which events travel between processes on the room bus (rooms/live/bus.py). No Django
here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .events import EVENTS, ServerEvent


def envelope(event: ServerEvent, *, to: int | None = None, close: int | None = None) -> str:
    """The room bus message for `event`: ``{"event": {...}, "to": user_id | null, "close": code | null}``.

    ``to`` sends it only to that person's sockets; ``close`` closes the receiving sockets with that
    code after the event. Only declared room events travel: anything else (a person's event too)
    is refused here.
    """
    if not isinstance(event, ServerEvent) or event.TYPE not in EVENTS:
        raise TypeError(f"only room events declared with @event go on the room bus, not {event!r}")
    return json.dumps({"event": event.payload(), "to": to, "close": close})


@dataclass(frozen=True, slots=True)
class Delivery:
    """A room bus message as a receiver reads it back. The event is the payload, as received."""

    event: dict[str, Any]
    to: int | None = None
    close: int | None = None

    @property
    def is_broadcast(self) -> bool:
        """For every socket of the room, closing none: such deliveries may be batched."""
        return self.to is None and not self.close


def open_envelope(raw: str | bytes) -> Delivery:
    message = json.loads(raw)
    return Delivery(message["event"], message.get("to"), message.get("close"))
