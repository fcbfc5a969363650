"""The web process's socket figures in /metrics: open sockets, listeners by how they hear the room
(the stage, websocket audio, HLS), and a listener's frames refused before the mixer."""

import pytest
from channels.db import database_sync_to_async

from spaces_project.metrics.exposition import scrape
from tests.factories import RoomFactory
from tests.metrics_reader import value

from .wsclient import join

pytestmark = pytest.mark.django_db(transaction=True)


def _figures() -> dict[str, float]:
    text = scrape().decode()
    return {
        "sockets": value(text, "spaces_websockets_open", kind="room"),
        "stage": value(text, "spaces_listeners", route="stage"),
        "websocket": value(text, "spaces_listeners", route="websocket"),
        "hls": value(text, "spaces_listeners", route="hls"),
        "not_allowed": value(text, "spaces_audio_uplink_dropped_total", reason="not_allowed"),
    }


async def figures() -> dict[str, float]:
    return await database_sync_to_async(_figures)()  # the scrape reads the live rooms' count


def changed(before: dict, after: dict) -> dict:
    return {name: after[name] - before[name] for name in before if after[name] != before[name]}


async def test_sockets_and_listeners_by_route_come_and_go_with_the_people():
    room = await database_sync_to_async(RoomFactory)()
    before = await figures()
    host = await join(room.pk, room.host)
    listener = await join(room.pk)
    assert changed(before, await figures()) == {"sockets": 2, "stage": 1, "websocket": 1}
    await listener.communicator.send_to(bytes_data=b"\x00" * 40)  # a listener may not speak
    await listener.expect_nothing("room.error", within=0.3)
    assert changed(before, await figures()) == {"sockets": 2, "stage": 1, "websocket": 1, "not_allowed": 1}
    await listener.close()
    await host.close()
    assert changed(before, await figures()) == {"not_allowed": 1}


async def test_a_listener_of_a_large_audience_room_is_counted_on_hls():
    room = await database_sync_to_async(RoomFactory)(large_audience=True)
    before = await figures()
    listener = await join(room.pk)
    assert changed(before, await figures()) == {"sockets": 1, "hls": 1}
    await listener.close()
    assert changed(before, await figures()) == {}
