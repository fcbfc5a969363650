"""Ticketed rooms in a real browser, with the development provider: buy a ticket, join the live
room and hear it; a non-holder is refused with the ticket's terms in view; the replay is refused
to a non-holder. The audio fixtures (fake microphones, the page's "ears") are test_live_audio's."""

import pytest
from playwright.sync_api import expect

from rooms import services, tickets
from rooms.models import Ticket
from tests.factories import ReplayFactory, RoomFactory, UserFactory

# The fixtures `microphones` and `open_room` come along with the helpers.
from .test_live_audio import HOST_HZ, ears, microphones, open_room, unmute, wait_heard  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.live_audio]


def test_a_buyer_gets_a_ticket_joins_and_hears_the_room_and_others_are_refused(
    open_room,  # noqa: F811 (the fixture imported above)
    asgi_live_server,
):
    host = UserFactory(display_name="Hana Host")
    buyer = UserFactory(display_name="Bea Buyer")
    stranger = UserFactory(display_name="Stan Stranger")
    room = RoomFactory(host=host, scheduled=True, title="Paid talk")
    tickets.ticket_sales_set(room_id=room.pk, actor=host, price="4.50", capacity=20)

    # Before the start: the room page offers a ticket, with its price and the seats left.
    buyer_page = open_room(buyer, room, mic=None)
    box = buyer_page.get_by_test_id("tickets-box")
    expect(box.get_by_test_id("ticket-price")).to_have_text("$4.50")
    expect(box.get_by_test_id("seats-left")).to_have_text("20 of 20 seats left")
    box.get_by_test_id("get-ticket").click()
    expect(buyer_page.get_by_test_id("ticket-status")).to_have_text("Paid")
    expect(buyer_page.get_by_test_id("ticket-ics")).to_have_attribute(
        "href", f"/rooms/{room.pk}/calendar.ics"
    )
    assert Ticket.objects.get(room=room, buyer=buyer).status == Ticket.Status.PAID

    # A non-holder sees the same offer before the start.
    stranger_page = open_room(stranger, room, mic=None)
    expect(stranger_page.get_by_test_id("get-ticket")).to_be_visible()
    expect(stranger_page.get_by_test_id("seats-left")).to_have_text("19 of 20 seats left")

    services.room_start(room=room, actor=host)
    host_page = open_room(host, room, mic=HOST_HZ)
    unmute(host_page)
    buyer_page.get_by_test_id("ticket-room-link").click()
    wait_heard(buyer_page, HOST_HZ)

    # The live room refuses the non-holder: the refusal, the ticket's terms, and no audio.
    stranger_page.reload()
    expect(stranger_page.get_by_test_id("ticket-refusal")).to_have_text("This room is for ticket holders.")
    expect(stranger_page.get_by_test_id("ticket-price")).to_have_text("$4.50")
    expect(stranger_page.get_by_test_id("sales-closed")).to_be_visible()
    stranger_page.wait_for_timeout(1500)
    assert "440" not in ears(stranger_page)["first"]

    # After the room: the replay is the holders' only.
    services.room_end(room=room, actor=host)
    replay = ReplayFactory(room=room)
    stranger_page.goto(f"{asgi_live_server.url}/recordings/{replay.pk}/")
    expect(stranger_page.get_by_test_id("replay-refusal")).to_have_text(
        "This replay is for the room's ticket holders."
    )
    buyer_page.goto(f"{asgi_live_server.url}/recordings/{replay.pk}/")
    expect(buyer_page.locator("#replay-title")).to_have_text("Paid talk")
