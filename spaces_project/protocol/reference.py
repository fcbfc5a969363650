"""docs/protocol.md, generated from the declarations of this package:
``python -m spaces_project.protocol.reference > docs/protocol.md`` (tests/rooms/test_protocol.py checks
that the file is current). Only the reference and the contract tests read this module."""

import inspect
import sys
import types
import typing
from typing import Any

from . import (
    CLOSE_REASONS,
    EVENTS,
    FINAL_CLOSE_CODES,
    MESSAGES,
    MODERATOR_ROLES,
    ROLES,
    STAGE_ROLES,
    USER_EVENTS,
    USER_SOCKET_PATH,
    LinkInfo,
    NotificationActor,
    NotificationInfo,
    ParticipantInfo,
    QuestionInfo,
    ReminderCount,
    RoomInfo,
    ServerEvent,
    envelope,
)


def hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of an event or a shape (each module's own names resolve them)."""
    return typing.get_type_hints(cls)


def type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(option) for option in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if origin in (list, tuple):
        args = typing.get_args(hint)
        inner = ", ".join(type_name(a) for a in args) if origin is tuple else type_name(args[0])
        return f"[{inner}]" if origin is tuple else f"list of {inner}"
    if origin is dict or hint is dict:
        return "object"
    return {bool: "bool", int: "int", float: "number", str: "string"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def _field_comments(cls: type) -> dict[str, str]:
    """Trailing ``# comments`` of a class's field lines, read from its source."""
    comments = {}
    for line in inspect.getsource(cls).splitlines():
        name, _, rest = line.strip().partition(":")
        if "  # " in rest and name.isidentifier():
            comments[name] = rest.split("  # ", 1)[1].strip()
    return comments


def _doc(obj: Any) -> str:
    """The object's own docstring (not an inherited one, nor the signature dataclasses write)."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else obj.__doc__
    if not doc or doc.startswith(f"{obj.__name__}("):
        return ""
    return " ".join(inspect.cleandoc(doc).split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _events_markdown(events: dict[str, type[ServerEvent]]) -> list[str]:
    out = []
    for kind, cls in events.items():
        out += [f"### `{kind}`", ""]
        if _doc(cls):
            out += [_doc(cls), ""]
        annotations, comments = hints(cls), _field_comments(cls)
        if cls._FIELDS:
            out += ["| field | type | |", "| --- | --- | --- |"]
            for name in cls._FIELDS:
                note = comments.get(name, "")
                if name in cls._OMIT_IF_NONE:
                    note = f"{note} (left out when there is none)".strip()
                out.append(f"| `{name}` | {type_name(annotations[name])} | {_cell(note)} |")
        else:
            out.append("No fields.")
        out.append("")
    return out


def markdown() -> str:
    """docs/protocol.md: the declarations of this package as a reference."""
    out = [
        "# The room websocket protocol",
        "",
        "<!-- Generated from spaces_project/protocol/ by"
        " `python -m spaces_project.protocol.reference > docs/protocol.md`;"
        " edit the declarations there, not this file. -->",
        "",
    ]
    intro = inspect.getdoc(sys.modules[__package__]) or ""
    for paragraph in intro.split("\n\n"):
        lines = paragraph.splitlines()
        if (
            len(lines) > 1
            and not lines[0].startswith(" ")
            and all(line.startswith("    ") for line in lines[1:])
        ):
            out += [f"## {lines[0]}", "", " ".join(line.strip() for line in lines[1:]), ""]
        else:
            out += [" ".join(line.strip() for line in lines), ""]
    out += ["## Client → server messages", "", "| type | fields | |", "| --- | --- | --- |"]
    for kind, spec in MESSAGES.items():
        fields = ", ".join(f"`{name}` ({type_name(t)})" for name, t in spec.fields.items()) or "—"
        who = "" if spec.needs_user else " Anyone, signed in or not."
        out.append(f"| `{kind}` | {fields} | {_cell(spec.doc)}.{who} |")
    out += ["", "## Server → client events", ""]
    out += _events_markdown(EVENTS)
    out += [f"## Events of the per-person channel (`{USER_SOCKET_PATH}`)", ""]
    out += _events_markdown(USER_EVENTS)
    out += ["## Shapes inside events", ""]
    for shape in (
        ParticipantInfo,
        RoomInfo,
        LinkInfo,
        QuestionInfo,
        NotificationInfo,
        NotificationActor,
        ReminderCount,
    ):
        out += [f"### {shape.__name__}", ""]
        if _doc(shape):
            out += [_doc(shape), ""]
        comments = _field_comments(shape)
        out += ["| field | type | |", "| --- | --- | --- |"]
        for name, hint in hints(shape).items():
            out.append(f"| `{name}` | {type_name(hint)} | {_cell(comments.get(name, ''))} |")
        out.append("")
    out += ["## Close codes", "", "| code | meaning | reconnect? |", "| --- | --- | --- |"]
    for code, reason in CLOSE_REASONS.items():
        out.append(f"| {code} | {reason} | {'no' if code in FINAL_CLOSE_CODES else 'yes'} |")
    out += [
        "",
        "## Roles",
        "",
        f"Roles: {', '.join(f'`{r}`' for r in ROLES)}. On stage, in the order the stage shows them: "
        f"{', '.join(f'`{r}`' for r in STAGE_ROLES)}. Running the stage: "
        f"{', '.join(f'`{r}`' for r in MODERATOR_ROLES)}.",
        "",
        "## Between processes",
        "",
        _doc(envelope),
        "",
        "Audio goes on a second channel per room as bytes: a 4-byte id in front of each frame (the speaker"
        " on the way to the mixer, the receiver on the way back; 0 is the program mix), as"
        " `rooms/audio/wire.py` declares.",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(markdown())
