"""How server events are declared: a frozen, keyword-only dataclass per event type, registered by its
type name, and encoded once as the JSON text frame the browsers get. No Django here."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, ClassVar

EVENTS: dict[str, type[ServerEvent]] = {}
# The events of the per-person channel (/ws/me/), declared like the room's with ``@user_event``.
USER_EVENTS: dict[str, type[ServerEvent]] = {}


class ServerEvent:
    """An event the server sends. Subclasses are declared with ``@event(type)`` and are frozen,
    keyword-only dataclasses: their fields are the event's fields, no more, no fewer."""

    __slots__ = ()
    TYPE: ClassVar[str]
    _FIELDS: ClassVar[tuple[str, ...]]
    _OMIT_IF_NONE: ClassVar[frozenset[str]]

    def payload(self) -> dict[str, Any]:
        """The event as the JSON object a browser receives."""
        data: dict[str, Any] = {"type": self.TYPE}
        for name in self._FIELDS:
            value = getattr(self, name)
            if value is None and name in self._OMIT_IF_NONE:
                continue
            data[name] = value
        return data

    def encode(self) -> str:
        """The text frame for this event."""
        return encode(self.payload())


def optional(default: Any = None) -> Any:
    """A field the frame leaves out while it is None."""
    return dataclasses.field(default=default, metadata={"omit_if_none": True})


def event(type_: str):
    """Declare a server event: ``@event("room.thing") class Thing(ServerEvent): field: type``."""
    return _declare(EVENTS, type_)


def user_event(type_: str):
    """Declare an event of the per-person channel: ``@user_event("user.thing")``."""
    return _declare(USER_EVENTS, type_)


def _declare(registry: dict[str, type[ServerEvent]], type_: str):
    def declare(cls: type[ServerEvent]) -> type[ServerEvent]:
        if type_ in EVENTS or type_ in USER_EVENTS:
            raise ValueError(f"event {type_!r} is declared twice")
        cls = dataclass(frozen=True, kw_only=True, slots=True)(cls)
        cls.TYPE = type_
        cls._FIELDS = tuple(f.name for f in dataclasses.fields(cls))
        cls._OMIT_IF_NONE = frozenset(
            f.name for f in dataclasses.fields(cls) if f.metadata.get("omit_if_none")
        )
        registry[type_] = cls
        return cls

    return declare


def encode(payload: dict[str, Any]) -> str:
    """JSON as the browsers get it (UTF-8 text, no padding)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
