"""spaces_project/protocol owns the realtime contract: these tests fail when the code drifts from it.

The running side is covered by tests/live: every frame a test socket receives goes through
`check_event` of tests/protocol_checker.py (tests/live/wsclient.py). Here: the checker itself, the
places that build events (only through the constructors), the declarations that nothing sends, and
docs/protocol.md.
"""

import ast
from pathlib import Path

import pytest

from rooms.audio import wire
from rooms.models import Participant
from spaces_project import protocol
from spaces_project.protocol.reference import markdown
from tests.live.wsclient import read_event
from tests.protocol_checker import ContractError, check_event

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "rooms", "recordings", "moderation", "spaces_project")
PROTOCOL = ROOT / "spaces_project" / "protocol"  # the declarations themselves
ROLE_NAMES = set(protocol.ROLES)


def app_sources() -> list[tuple[Path, ast.Module]]:
    sources = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts or path.is_relative_to(PROTOCOL):
                continue
            sources.append((path, ast.parse(path.read_text(encoding="utf-8"), str(path))))
    return sources


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{node.lineno}"


PARTICIPANT = protocol.ParticipantInfo(
    user_id=1,
    handle="ada",
    name="Ada",
    avatar="",
    role="speaker",
    muted=True,
    hand_raised=False,
    invited=False,
)


# -- the checker --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        protocol.ParticipantUpdated(participant=PARTICIPANT),
        protocol.Error(code="x", message="No."),
        protocol.Error(code="x", message="No.", ref="r1"),
        protocol.Levels(levels=[(1, 0.5), (2, 1.0)]),
        protocol.Resync(),
        protocol.Batch(events=[protocol.Reaction(user_id=1, emoji="👏").payload()]),
    ],
)
def test_events_built_by_their_constructors_pass_the_check(event):
    check_event(event.payload())
    check_event(read_event(event.encode()))


@pytest.mark.parametrize(
    "frame, complaint",
    [
        ({"type": "room.teleported", "user_id": 1}, "undeclared event type"),
        ({"type": "room.reaction", "user_id": 1, "emoji": "👏", "size": 3}, "does not define: ['size']"),
        ({"type": "room.reaction", "user_id": 1}, "lacks fields: ['emoji']"),
        ({"type": "room.reaction", "user_id": "1", "emoji": "👏"}, "expected int"),
        (
            {"type": "room.participant_updated", "participant": {**PARTICIPANT, "email": "a@b"}},
            "unknown fields",
        ),
        ({"type": "room.batch", "events": [{"type": "room.nope"}]}, "undeclared event type"),
        ({"type": "error", "code": "x"}, "lacks fields: ['message']"),
    ],
)
def test_a_frame_the_declarations_do_not_allow_fails(frame, complaint):
    with pytest.raises(ContractError, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        check_event(frame)


def test_a_constructor_refuses_a_field_it_does_not_define():
    with pytest.raises(TypeError):
        protocol.Reaction(user_id=1, emoji="👏", size=3)


def test_only_declared_events_go_on_the_bus():
    with pytest.raises(TypeError):
        protocol.envelope({"type": "room.reaction", "user_id": 1, "emoji": "👏"})
    delivery = protocol.open_envelope(protocol.envelope(protocol.Reaction(user_id=1, emoji="👏"), to=7))
    assert delivery == protocol.Delivery({"type": "room.reaction", "user_id": 1, "emoji": "👏"}, to=7)
    assert not delivery.is_broadcast


def test_an_event_name_is_declared_once():
    with pytest.raises(ValueError):

        @protocol.event("room.reaction")
        class AnotherReaction(protocol.ServerEvent):
            user_id: int


# -- the code builds events only through the constructors ------------------------------------------------


def test_no_event_or_envelope_is_built_by_hand_outside_the_protocol():
    found = []
    for path, tree in app_sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                fields = {
                    k.value: v
                    for k, v in zip(node.keys, node.values, strict=True)
                    if isinstance(k, ast.Constant)
                }
                kind = fields.get("type")
                if isinstance(kind, ast.Constant) and str(kind.value).startswith(("http.", "websocket.")):
                    # An ASGI message to the server (rooms/live/seat_gate.py, spaces_project/websocket.py), not an event.
                    continue
                if isinstance(kind, ast.Constant) and "/" in str(kind.value):
                    # A media type (the web app manifest's icons, spaces_project/pwa.py), not an event.
                    continue
                if set(fields) & {"type", "event"}:
                    found.append(where(path, node))
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "dict":
                if {k.arg for k in node.keywords} & {"type", "event"}:
                    found.append(where(path, node))
    assert found == [], f"build events with the constructors of spaces_project/protocol: {found}"


def test_every_declared_event_is_sent_somewhere():
    used = set()
    for _, tree in app_sources():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "protocol"
            ):
                used.add(node.attr)
    used |= {"Levels"}  # built by protocol.levels_event
    declared = {cls.__name__ for cls in protocol.EVENTS.values()}
    assert declared - used == set(), "declared events nothing sends"


def test_roles_are_defined_once():
    assert tuple(Participant.Role.values) == protocol.ROLES
    assert Participant.STAGE_ROLES is protocol.STAGE_ROLES
    found = []
    for path, tree in app_sources():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                names = {e.value for e in node.elts if isinstance(e, ast.Constant)}
                if len(names & ROLE_NAMES) >= 2:
                    found.append(where(path, node))
    assert found == [], f"use protocol.STAGE_ROLES / MODERATOR_ROLES: {found}"


def test_audio_tags_are_made_only_by_the_wire_module():
    found = []
    for path, tree in app_sources():
        # ogg.py packs the Ogg pages of a recording (a file format), no audio tag.
        if path.parts[-2:] in {("audio", "wire.py"), ("audio", "ogg.py")} or "rooms" not in path.parts:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("to_bytes", "from_bytes", "Struct"):
                found.append(where(path, node))
    assert found == [], found
    assert wire.untag(wire.tag(70000, b"frame")) == (70000, b"frame")


def test_the_protocol_imports_no_django():
    modules = sorted(PROTOCOL.glob("*.py"))
    assert len(modules) > 1
    for path in modules:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
        }
        assert not imported & {"django", "channels", "rooms", "accounts"}, path


# -- the reference --------------------------------------------------------------------------------------


def test_docs_protocol_md_is_generated_from_the_declarations():
    document = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    assert document == markdown(), "run: python -m spaces_project.protocol.reference > docs/protocol.md"


# -- the per-person channel -----------------------------------------------------------------------------


def test_user_events_are_checked_against_their_own_declarations():
    snapshot = protocol.UserSnapshot(
        unread_count=2, reminder_counts=[protocol.ReminderCount(room_id=1, count=3)]
    )
    check_event(read_event(snapshot.encode(), protocol.USER_EVENTS), events=protocol.USER_EVENTS)
    with pytest.raises(ContractError, match="undeclared event type"):
        check_event(snapshot.payload())  # not a room event
    with pytest.raises(ContractError, match="lacks fields"):
        check_event({"type": "user.unread"}, events=protocol.USER_EVENTS)


def test_only_declared_user_events_go_to_a_persons_channel():
    with pytest.raises(TypeError):
        protocol.user_envelope(protocol.Reaction(user_id=1, emoji="👏"))
    with pytest.raises(TypeError):
        protocol.user_envelope({"type": "user.unread", "unread_count": 0})
    assert protocol.user_envelope(protocol.UserUnread(unread_count=0)) == {
        "type": protocol.USER_GROUP_MESSAGE,
        "event": {"type": "user.unread", "unread_count": 0},
    }


def test_every_declared_user_event_is_sent_somewhere():
    used = set()
    for _, tree in app_sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "protocol":
                used.add(node.attr)
    declared = {cls.__name__ for cls in protocol.USER_EVENTS.values()}
    assert declared - used == set(), "declared user events nothing sends"
