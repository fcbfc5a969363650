"""The host's page keeps the audience right while it churns, in a real browser against daphne.

While people arrive or leave in a burst, `room.listeners` carries the count only and the list
follows once the audience is still (rooms/live/keeper.py): the page shows each count as it comes and
the whole list, no one missing and no one extra, once the burst is over.
"""

import asyncio
import json
import threading

import pytest
from django.conf import settings
from playwright.sync_api import expect

from deploy import harness
from tests.factories import RoomFactory, UserFactory

from .conftest import session_key_for

pytestmark = [pytest.mark.browser, pytest.mark.live_audio]

ARRIVING = 20


class Audience:
    """Signed-in listeners' sockets, each reconnecting and beating as the room page does
    (deploy/harness/room_client.py's RoomClient), on an event loop in a thread of its own."""

    def __init__(self, server_url: str, room_id: int) -> None:
        self.origin = server_url
        self.url = server_url.replace("http://", "ws://") + f"/ws/rooms/{room_id}/"
        self.clients: dict[int, harness.RoomClient] = {}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def _run(self, coroutine, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def arrive(self, people: list, *, apart: float) -> None:
        """One person's socket every `apart` seconds; returns when all of them have their snapshot."""
        cookies = [f"{settings.SESSION_COOKIE_NAME}={session_key_for(person)}" for person in people]

        async def arrive() -> None:
            for person, cookie in zip(people, cookies, strict=True):
                client = harness.RoomClient(self.url, origin=self.origin, cookie=cookie, name=str(person.pk))
                self.clients[person.pk] = client
                client.start()
                await asyncio.sleep(apart)
            for person in people:
                await self.clients[person.pk].wait(
                    lambda c=self.clients[person.pk]: c.snapshots, 30, "a snapshot"
                )

        self._run(arrive())

    def leave(self, people: list, *, apart: float) -> None:
        async def leave() -> None:
            for person in people:
                await self.clients.pop(person.pk).stop()
                await asyncio.sleep(apart)

        self._run(leave())

    def close(self) -> None:
        async def close() -> None:
            for client in self.clients.values():
                await client.stop()

        self._run(close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def listeners_events(frames: list[str]) -> list[dict]:
    events = []
    for frame in frames:
        if not isinstance(frame, str):
            continue  # audio
        event = json.loads(frame)
        inner = event["events"] if event["type"] == "room.batch" else [event]
        events += [e for e in inner if e["type"] == "room.listeners"]
    return events


def test_the_hosts_page_shows_the_whole_audience_after_a_burst_of_arrivals_and_departures(
    browser, asgi_live_server
):
    host = UserFactory(display_name="Hana Host")
    room = RoomFactory(host=host, title="A crowd arrives")
    people = [UserFactory(display_name=f"Crowd member {n}") for n in range(ARRIVING)]
    context = browser.new_context()
    asgi_live_server.sign_in(context, host)
    page = context.new_page()
    frames: list = []
    errors: list = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))
    page.goto(f"{asgi_live_server.url}/rooms/{room.pk}/")
    expect(page.get_by_test_id(f"stage-member-{host.pk}")).to_contain_text("Host")
    shown = page.locator("[data-roster=listeners] > li")
    audience = Audience(asgi_live_server.url, room.pk)
    try:
        audience.arrive(people, apart=0.1)
        expect(page.get_by_test_id("listener-count")).to_have_text(str(ARRIVING))
        expect(shown).to_have_count(ARRIVING)
        for person in people:
            expect(page.get_by_test_id(f"listener-{person.pk}")).to_contain_text(person.display_name)
        # The page did get counts alone during the burst (and took them without an error, below),
        # and still ended with everyone.
        during = listeners_events(frames)
        assert any("listeners" not in e for e in during), [e["listener_count"] for e in during]

        leaving, staying = people[:12], people[12:]
        audience.leave(leaving, apart=0.05)
        expect(page.get_by_test_id("listener-count")).to_have_text(str(len(staying)))
        expect(shown).to_have_count(len(staying))
        for person in leaving:
            expect(page.get_by_test_id(f"listener-{person.pk}")).to_have_count(0)
        for person in staying:
            expect(page.get_by_test_id(f"listener-{person.pk}")).to_be_visible()
        assert errors == []
    finally:
        audience.close()
        context.close()
