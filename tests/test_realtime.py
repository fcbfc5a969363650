"""spaces_project/realtime.py: the one way an event leaves a service, for a room or a person.

The room bus is replaced by a recorder here; the socket tests (tests/live) deliver through the real one.
"""

import ast
from pathlib import Path

import pytest
from django.db import transaction

from rooms.live import bus
from spaces_project import protocol, realtime

pytestmark = pytest.mark.django_db


class RecordingBus:
    def __init__(self, fail: bool = False) -> None:
        self.published: list[tuple[int, protocol.Delivery]] = []
        self.fail = fail

    def publish(self, room_id: int, message: str) -> None:
        if self.fail:
            raise ConnectionError("Redis blinked")
        self.published.append((room_id, protocol.open_envelope(message)))

    async def publish_async(self, room_id: int, message: str) -> None:
        self.publish(room_id, message)


@pytest.fixture
def room_bus(monkeypatch):
    recorder = RecordingBus()
    monkeypatch.setattr(bus, "_bus", recorder)  # what rooms registered (get_bus) now returns
    return recorder


def test_a_room_event_goes_out_only_once_the_transaction_commits(
    room_bus, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        realtime.send_on_commit(protocol.Ended(room_id=7), room_id=7, close=protocol.CLOSE_ENDED)
        assert room_bus.published == []
    assert room_bus.published == [(7, protocol.Delivery({"type": "room.ended", "room_id": 7}, None, 4010))]


def test_a_rolled_back_change_sends_nothing(room_bus, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as hooks:
        with pytest.raises(RuntimeError), transaction.atomic():
            realtime.send_on_commit(protocol.Reaction(user_id=1, emoji="👏"), room_id=7)
            raise RuntimeError("the service refused after all")
        realtime.send_on_commit(protocol.Reaction(user_id=2, emoji="👋"), room_id=7)
    assert len(hooks) == 1 and [d.event["user_id"] for _, d in room_bus.published] == [2]


def test_a_failing_delivery_does_not_skip_the_hooks_after_it(monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(bus, "_bus", RecordingBus(fail=True))
    after = []
    with django_capture_on_commit_callbacks(execute=True):
        realtime.send_on_commit(protocol.Resync(), room_id=7)
        transaction.on_commit(lambda: after.append("finalize the recording"))
    assert after == ["finalize the recording"]


def test_an_event_for_one_person_in_a_room_names_them(room_bus, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        realtime.send_on_commit(protocol.RequestDeclined(to_user_id=5), room_id=7, to=5)
    assert room_bus.published[0][1].to == 5


async def test_async_code_sends_on_the_loop(room_bus):
    await realtime.send_async(protocol.levels_event({3: 0.5}), room_id=9)
    assert room_bus.published == [(9, protocol.Delivery({"type": "room.levels", "levels": [[3, 0.5]]}))]


@pytest.mark.parametrize(
    "event, target, error",
    [
        ({"type": "room.ended", "room_id": 7}, {"room_id": 7}, TypeError),  # not a declared event
        (protocol.UserUnread(unread_count=0), {"room_id": 7}, TypeError),  # not a room event: on the bus
        (protocol.Ended(room_id=7), {"user_id": 3}, TypeError),  # a room event on a person's channel
        (protocol.Ended(room_id=7), {}, ValueError),  # to nobody
        (protocol.Ended(room_id=7), {"room_id": 7, "user_id": 3}, ValueError),  # to both
        (protocol.UserUnread(unread_count=0), {"user_id": 3, "to": 3}, ValueError),
        (None, {"user_id": 3}, ValueError),  # nothing at all
        (None, {"user_id": 3, "close": protocol.CLOSE_ENDED}, ValueError),  # not a person's close code
    ],
)
def test_what_the_protocol_does_not_allow_is_refused_in_the_service(
    room_bus, event, target, error, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as hooks, pytest.raises(error):
        realtime.send_on_commit(event, **target)
    assert hooks == []


def test_no_module_but_realtime_hands_an_event_over():
    """A publish of its own would skip the wait for the commit and the check of the target: every
    event leaves through spaces_project/realtime.py (audio frames and bundles are not events)."""
    root = Path(__file__).resolve().parents[1]
    allowed = {root / "spaces_project" / "realtime.py"}
    declarations = root / "spaces_project" / "protocol"
    found = []
    for app in ("accounts", "rooms", "recordings", "moderation", "spaces_project"):
        for path in sorted((root / app).rglob("*.py")):
            if path in allowed or path.is_relative_to(declarations):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in {"envelope", "user_envelope", "user_close_envelope", "group_send"}
                ):
                    found.append(f"{path.relative_to(root)}:{node.lineno}")
    assert found == [], f"send events with realtime.send_on_commit, send or send_async: {found}"
