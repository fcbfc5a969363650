"""rooms/hooks.py says what each app above rooms does at points of a room's life: its list is what is
registered, in the apps' order, and each hook is called where it says."""

import re

import pytest

from recordings.models import Transcript, TranscriptLine
from rooms import hooks, services
from rooms.audio.captioner import Caption
from rooms.live.captions import CaptionSink
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _documented() -> dict[str, list[str]]:
    """Per hook, the functions its entry in the module's docstring names after "Registered:"."""
    entries = re.split(r"\n(?=``\w+\()", hooks.__doc__)
    documented = {}
    for entry in entries:
        name = re.match(r"``(\w+)\(", entry)
        if name and "Registered:" in entry:
            registered = entry.split("Registered:", 1)[1].split("\n\n", 1)[0]
            documented[name.group(1)] = re.findall(r"``(\w+\.[\w.]+)``", registered)
    return documented


def test_the_documented_registrants_are_the_registered_ones_in_the_apps_order():
    assert _documented() == {registry.name: registry.names() for registry in hooks.REGISTRIES}
    # Every hook has someone registered: none is left declared and unused.
    assert all(registry.names() for registry in hooks.REGISTRIES)


@pytest.fixture
def calls(monkeypatch):
    """Record each hook's calls, in order, besides running the registered functions."""
    seen: list[tuple[str, dict]] = []
    for registry in hooks.REGISTRIES:

        def spy(*, _name=registry.name, **kwargs):
            seen.append((_name, kwargs))

        monkeypatch.setattr(registry, "_functions", [*registry._functions, spy])
    return seen


def test_a_rooms_life_calls_its_hooks_with_the_room(calls):
    host = UserFactory()
    room = services.room_create(host=host, title="Hooks", topics=[], is_recorded=True)
    services.room_set_captions(room_id=room.pk, actor=host, enabled=True)
    services.room_set_captions(room_id=room.pk, actor=host, enabled=False)
    services.room_end(room=room, actor=host)
    assert [(name, kwargs["room"].pk) for name, kwargs in calls] == [
        ("on_room_live", room.pk),
        ("on_captions_off", room.pk),
        ("on_room_end", room.pk),
    ]


# The sink runs in a thread of its own and closes stale connections first: no test transaction around it.
@pytest.mark.django_db(transaction=True)
def test_a_recorded_rooms_final_caption_lines_are_kept_and_a_skipped_one_marks_the_gap(calls):
    host = UserFactory(display_name="Ada")
    room = services.room_create(host=host, title="Said", topics=[], is_recorded=True, captions_enabled=True)
    sink = CaptionSink()
    line = dict(room_id=room.pk, user_id=host.pk, start_ms=1_000.0, end_ms=2_500.0)
    sink(Caption(utterance=1, final=False, text="hello", **line))
    sink(Caption(utterance=1, final=True, text="hello there", **line))
    assert list(TranscriptLine.objects.values_list("speaker_name", "text", "end_ms")) == [
        ("Ada", "hello there", 1500)
    ]
    assert Transcript.objects.get(recording__room=room).live_complete
    sink(Caption(utterance=2, final=True, text="", skipped=True, **line))
    assert not Transcript.objects.get(recording__room=room).live_complete
    assert [name for name, _ in calls] == ["on_room_live", "on_caption_line", "on_caption_gap"]
