"""The live room page in real browsers, against daphne: what each person sees change without reloads."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from rooms import services
from rooms.models import Participant, PinnedLink
from tests.factories import RoomFactory, UserFactory

from .instruments import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.live_audio]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESKTOP = {"width": 1200, "height": 900}
PHONE = {"width": 360, "height": 740}


@pytest.fixture
def open_room(browser, asgi_live_server):
    """Open a room page as `user` (None: a visitor not signed in) in a browser context of its own."""
    contexts = []

    def open_as(user, room, viewport=DESKTOP):
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        if user is not None:
            asgi_live_server.sign_in(context, user)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{asgi_live_server.url}/rooms/{room.pk}/")
        return page

    yield open_as
    for context in contexts:
        context.close()


def test_hand_raised_approved_reaction_seen_and_room_ended(open_room):
    host = UserFactory(display_name="Hana Host")
    leo = UserFactory(display_name="Leo Listener")
    room = RoomFactory(host=host, title="Tea and tech")
    host_page = open_room(host, room)
    expect(host_page.get_by_test_id(f"stage-member-{host.pk}")).to_contain_text("Host")
    listener_page = open_room(leo, room)

    expect(host_page.get_by_test_id("listener-count")).to_have_text("1")
    expect(host_page.get_by_test_id(f"listener-{leo.pk}")).to_contain_text("Leo Listener")
    expect(listener_page.get_by_test_id("mic-toggle")).to_have_count(0)

    listener_page.get_by_test_id("raise-hand").click()
    expect(listener_page.get_by_test_id("lower-hand")).to_be_visible()
    request = host_page.get_by_test_id(f"hand-request-{leo.pk}")
    expect(request).to_contain_text("Leo Listener")
    # Raised hands are for the hosts: the listener's own page has no approve button.
    expect(listener_page.get_by_test_id("approve")).to_have_count(0)
    request.get_by_test_id("approve").click()

    mic = listener_page.get_by_test_id("mic-toggle")
    expect(mic).to_have_text("Unmute")
    expect(listener_page.get_by_test_id("raise-hand")).to_have_count(0)
    speaker_on_host_page = host_page.get_by_test_id(f"stage-member-{leo.pk}")
    expect(speaker_on_host_page).to_contain_text("Speaker")
    expect(speaker_on_host_page).to_contain_text("mic off")
    expect(host_page.get_by_test_id(f"hand-request-{leo.pk}")).to_have_count(0)
    expect(host_page.get_by_test_id("listener-count")).to_have_text("0")

    mic.click()
    expect(mic).to_have_text("Mute")
    expect(speaker_on_host_page).to_contain_text("mic on")

    listener_page.get_by_test_id("reaction-5").click()
    expect(speaker_on_host_page.get_by_test_id("reaction-bubble")).to_have_attribute("data-emoji", "👏")
    host_page.get_by_test_id("reaction-7").click()
    expect(
        listener_page.get_by_test_id(f"stage-member-{host.pk}").get_by_test_id("reaction-bubble")
    ).to_have_attribute("data-emoji", "👍")

    expect(listener_page.locator(".room-head .room-when")).to_contain_text("Live since")
    host_page.get_by_test_id("end-room").click()
    host_page.get_by_test_id("confirm-ok").click()
    expect(listener_page.get_by_test_id("room-ended")).to_contain_text("This room has ended")
    # Beside the "Ended" pill: when it ran and for how long, not "Live since".
    ran = re.compile(r"^Ran .+ – .+ · (less than a minute|\d+ min)$")
    expect(listener_page.locator(".room-head .room-when")).to_have_text(ran)
    expect(listener_page.locator(".room-head .pill")).to_have_text("Ended")
    expect(listener_page.get_by_test_id("mic-toggle")).to_have_count(0)
    expect(listener_page.locator(".room-head .pill-live")).to_have_count(0)
    expect(host_page.get_by_test_id("room-ended")).to_be_visible()
    expect(host_page.get_by_test_id("end-room")).to_have_count(0)
    room.refresh_from_db()
    assert room.state == "ended"


def test_declined_hand_and_removal_are_told_and_do_not_reconnect(open_room):
    host = UserFactory(display_name="Hana Host")
    mia = UserFactory(display_name="Mia Listener")
    room = RoomFactory(host=host)
    host_page = open_room(host, room)
    listener_page = open_room(mia, room)

    listener_page.get_by_test_id("raise-hand").click()
    host_page.get_by_test_id(f"hand-request-{mia.pk}").get_by_test_id("decline").click()
    expect(listener_page.get_by_test_id("request-declined")).to_contain_text("declined")
    expect(listener_page.get_by_test_id("raise-hand")).to_be_visible()

    listener = host_page.get_by_test_id(f"listener-{mia.pk}")
    listener.get_by_test_id("member-menu").click()
    listener.get_by_test_id("remove").click()
    expect(host_page.get_by_role("dialog")).to_contain_text("Remove Mia Listener?")
    host_page.get_by_test_id("confirm-ok").click()

    expect(listener_page.get_by_test_id("room-left")).to_contain_text("You were removed from this room.")
    expect(host_page.get_by_test_id(f"listener-{mia.pk}")).to_have_count(0)
    expect(host_page.get_by_test_id("listener-count")).to_have_text("0")
    # A removal is final: the page does not try again.
    listener_page.wait_for_timeout(1500)
    expect(listener_page.get_by_test_id("reconnecting")).to_be_hidden()
    assert Participant.objects.get(room=room, user=mia).is_removed


def test_invitation_in_a_recorded_room_warns_before_the_stage(open_room):
    host = UserFactory(display_name="Hana Host")
    ivy = UserFactory(display_name="Ivy Invitee")
    room = RoomFactory(host=host, is_recorded=True)
    host_page = open_room(host, room)
    listener_page = open_room(ivy, room)

    listener = host_page.get_by_test_id(f"listener-{ivy.pk}")
    listener.get_by_test_id("member-menu").click()
    listener.get_by_test_id("invite").click()
    invitation = listener_page.get_by_test_id("invite-toast")
    expect(invitation).to_contain_text("Hana Host invited you to speak")
    expect(invitation).to_contain_text("This room is being recorded")
    invitation.get_by_test_id("invite-accept").click()
    expect(listener_page.get_by_test_id("mic-toggle")).to_be_visible()
    expect(invitation).to_have_count(0)
    expect(host_page.get_by_test_id(f"stage-member-{ivy.pk}")).to_contain_text("Speaker")


def test_pinned_link_reaches_everyone_and_error_frames_show(open_room):
    host = UserFactory(display_name="Hana Host")
    leo = UserFactory()
    room = RoomFactory(host=host)
    host_page = open_room(host, room)
    listener_page = open_room(leo, room)
    expect(listener_page.locator("[data-links]")).to_be_hidden()

    host_page.get_by_test_id("pin-open").click()
    host_page.get_by_label("Link title").fill("Show notes")
    host_page.get_by_label("Address").fill("https://example.com/notes")
    host_page.get_by_test_id("pin-link").click()
    link = listener_page.get_by_role("link", name="Show notes")
    expect(link).to_have_attribute("href", "https://example.com/notes")
    visitor_page = open_room(None, room)
    expect(visitor_page.get_by_role("link", name="Show notes")).to_be_visible()
    expect(visitor_page.get_by_role("link", name="Sign in to react or speak")).to_be_visible()
    expect(visitor_page.get_by_test_id("reaction-0")).to_be_hidden()
    expect(host_page.get_by_test_id("listener-count")).to_have_text("2")
    assert PinnedLink.objects.filter(room=room, title="Show notes").exists()

    host_page.get_by_role("button", name="Unpin Show notes").click()
    expect(link).to_have_count(0)

    # The reaction limit is a burst of 5: of 8 reactions sent at once, the sixth is refused with a toast.
    listener_page.get_by_test_id("reaction-0").evaluate(
        "button => { for (let i = 0; i < 8; i++) button.click(); }"
    )
    expect(listener_page.get_by_test_id("toast").filter(has_text="Slow down").first).to_be_visible()


def test_phone_width_has_no_sideways_scroll(open_room):
    host = UserFactory(display_name="Hana Host")
    room = RoomFactory(host=host, title="A room with a rather long title for a small phone")
    page = open_room(host, room, viewport=PHONE)
    listener_page = open_room(UserFactory(display_name="Pat Phone"), room, viewport=PHONE)
    expect(listener_page.get_by_test_id("raise-hand")).to_be_visible()
    expect(page.get_by_test_id("end-room")).to_be_visible()
    expect(page.get_by_test_id("listener-count")).to_have_text("1")
    for each in (page, listener_page):
        assert each.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        expect(each.get_by_test_id("reaction-9")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    for each, name in ((page, "host"), (listener_page, "listener")):
        each.locator("#stage-title").evaluate("title => title.scrollIntoView()")
        each.screenshot(path=ARTIFACTS / f"live-room-phone-{name}.png")

    listener_page.get_by_test_id("leave-menu").click()
    listener_page.get_by_test_id("leave-quietly").click()
    expect(listener_page.get_by_test_id("room-left")).to_contain_text("You left the room")
    expect(page.get_by_test_id("listener-count")).to_have_text("0")


def test_page_reconnects_and_rereads_the_room_after_the_server_restarts(open_room, asgi_live_server):
    host = UserFactory(display_name="Hana Host")
    leo = UserFactory(display_name="Leo Listener")
    room = RoomFactory(host=host)
    page = open_room(leo, room)
    expect(page.get_by_test_id("raise-hand")).to_be_visible()

    asgi_live_server.stop()
    expect(page.get_by_test_id("reconnecting")).to_be_visible()
    # Changed while the page was away: only the snapshot sent after reconnecting can show it.
    PinnedLink.objects.create(room=room, title="Agenda", url="https://example.com/agenda", pinned_by=host)
    Participant.objects.filter(room=room, user=leo).update(role=Participant.Role.SPEAKER)
    asgi_live_server.start()

    expect(page.get_by_test_id("reconnecting")).to_be_hidden()
    expect(page.get_by_role("link", name="Agenda")).to_be_visible()
    expect(page.get_by_test_id("mic-toggle")).to_be_visible()
    expect(page.get_by_test_id(f"stage-member-{leo.pk}")).to_contain_text("Speaker")


def test_desktop_room_with_stage_and_audience(open_room):
    """The host's view of a busy room; the screenshot is the one in the README (docs/live-room.png)."""
    host = UserFactory(display_name="Hana Okafor", handle="hana")
    diego = UserFactory(display_name="Diego Ramos", handle="diego")
    mia = UserFactory(display_name="Mia Chen", handle="mia")
    sam = UserFactory(display_name="Sam Patel", handle="sam")
    room = services.room_create(
        host=host,
        title="Self-hosting a podcast studio",
        description="Mics, rooms and open formats: how we record a weekly show on our own server.",
        topics=["Podcasting", "Open source", "Audio"],
        is_recorded=True,
    )
    Participant.objects.create(room=room, user=diego, role=Participant.Role.SPEAKER, is_muted=False)
    PinnedLink.objects.create(
        room=room, title="Show notes and gear list", url="https://example.com/notes", pinned_by=host
    )
    host_page = open_room(host, room, viewport={"width": 1280, "height": 1300})
    diego_page = open_room(diego, room)
    mia_page = open_room(mia, room)
    sam_page = open_room(sam, room)

    expect(host_page.get_by_test_id("listener-count")).to_have_text("2")
    expect(host_page.get_by_test_id(f"stage-member-{diego.pk}")).to_contain_text("mic on")
    sam_page.get_by_test_id("raise-hand").click()
    host_page.get_by_test_id("confirm-ok").wait_for(state="hidden")
    sam_page.get_by_test_id("confirm-ok").click()  # a recorded room warns before the hand goes up
    expect(host_page.get_by_test_id(f"hand-request-{sam.pk}")).to_be_visible()
    expect(mia_page.get_by_test_id(f"hand-request-{sam.pk}")).to_have_count(0)
    diego_page.get_by_test_id("reaction-5").click()
    mia_page.get_by_test_id("reaction-3").click()
    expect(
        host_page.get_by_test_id(f"stage-member-{diego.pk}").get_by_test_id("reaction-bubble")
    ).to_have_attribute("data-emoji", "👏")
    # The whole page in one view, so that the sticky control bar sits where the page ends.
    height = host_page.evaluate("document.documentElement.scrollHeight")
    host_page.set_viewport_size({"width": 1280, "height": height})
    host_page.wait_for_timeout(300)
    ARTIFACTS.mkdir(exist_ok=True)
    host_page.screenshot(path=ARTIFACTS / "live-room-desktop.png")


def test_speaker_who_leaves_quietly_leaves_the_stage_for_everyone(open_room):
    host = UserFactory(display_name="Hana Host")
    sid = UserFactory(display_name="Sid Speaker")
    room = RoomFactory(host=host)
    Participant.objects.create(room=room, user=sid, role=Participant.Role.SPEAKER)
    host_page = open_room(host, room)
    speaker_page = open_room(sid, room)
    expect(host_page.get_by_test_id(f"stage-member-{sid.pk}")).to_be_visible()

    speaker_page.get_by_test_id("leave-menu").click()
    speaker_page.get_by_test_id("leave-quietly").click()
    expect(speaker_page.get_by_test_id("room-left")).to_contain_text("You left the room")
    expect(host_page.get_by_test_id(f"stage-member-{sid.pk}")).to_have_count(0)


# What a person sees drawn with an emoji font (nothing: reactions are images, static/emoji/), and
# every interface icon that has no accessible name or does not draw.
ICON_AUDIT = r"""
() => {
  const emoji = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement.closest("script, style")) continue;
    if (/\p{Extended_Pictographic}/u.test(node.textContent)) emoji.push(node.textContent.trim());
  }
  for (const el of document.querySelectorAll("body *")) {
    for (const pseudo of ["::before", "::after"]) {
      const content = getComputedStyle(el, pseudo).content;
      if (/\p{Extended_Pictographic}/u.test(content)) emoji.push(content);
    }
  }
  const unnamed = [];
  const blank = [];
  for (const svg of document.querySelectorAll("svg.icon")) {
    const box = svg.getBoundingClientRect();
    if (box.width === 0) continue; // not shown
    // An icon alone is an image with a name; one beside words is hidden, and the words are there.
    const holder = svg.parentElement.closest("a, button, summary, p, li");
    const named = svg.getAttribute("role") === "img"
      ? Boolean(svg.getAttribute("aria-label") && svg.querySelector("title"))
      : svg.getAttribute("aria-hidden") === "true" &&
        Boolean((holder?.getAttribute("aria-label") || holder?.textContent || "").trim());
    if (!named) unnamed.push(svg.outerHTML.slice(0, 80));
    const use = svg.querySelector("use");
    if (!use || use.getBBox().width === 0) blank.push(svg.outerHTML.slice(0, 80));
  }
  return { emoji, unnamed, blank };
}
"""


def test_interface_icons_are_drawn_as_named_svg_and_no_emoji_needs_a_font(open_room):
    host = UserFactory(display_name="Hana Host")
    leo = UserFactory(display_name="Leo Listener")
    room = RoomFactory(host=host, title="Icons everywhere")
    PinnedLink.objects.create(room=room, title="Agenda", url="https://example.com/agenda", pinned_by=host)
    host_page = open_room(host, room)
    listener_page = open_room(leo, room)

    raise_hand = listener_page.get_by_role("button", name="Raise your hand to ask to speak")
    expect(raise_hand.locator("svg.icon-hand")).to_have_count(1)
    raise_hand.click()
    expect(
        listener_page.get_by_role("button", name="Lower your hand").locator("svg.icon-hand")
    ).to_have_count(1)
    listener_on_host_page = host_page.get_by_test_id(f"listener-{leo.pk}")
    expect(listener_on_host_page.get_by_role("img", name="Hand raised")).to_be_visible()
    expect(host_page.get_by_role("link", name="Notifications").locator("svg.icon-bell")).to_be_visible()
    expect(host_page.get_by_test_id("pin-open").locator("svg.icon-pin")).to_be_visible()
    expect(host_page.get_by_test_id("pin-open")).to_have_text("Pin a link")
    expect(
        host_page.get_by_test_id(f"stage-member-{host.pk}").locator(".mic-badge svg.icon-micOff")
    ).to_be_visible()
    expect(listener_page.locator(".pinned-link", has_text="Agenda").locator("svg.icon-pin")).to_be_visible()
    # The reactions are images shipped with the site (Twemoji), drawn, with their names.
    clap = listener_page.get_by_role("button", name="React: Clap")
    expect(clap.locator("img")).to_have_attribute("src", re.compile(r"/static/emoji/1f44f\.svg$"))
    wait_until(listener_page, "document.querySelector('[data-testid=reaction-5] img').naturalWidth > 0")

    for page in (host_page, listener_page):
        audit = page.evaluate(ICON_AUDIT)
        assert audit == {"emoji": [], "unnamed": [], "blank": []}


def test_the_host_goes_live_muted_and_is_told_until_they_unmute(browser, asgi_live_server):
    host = UserFactory(display_name="Hana Host")
    context = browser.new_context(viewport=DESKTOP)
    try:
        asgi_live_server.sign_in(context, host)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{asgi_live_server.url}/rooms/new/")
        page.locator('input[name="title"]').fill("Morning news")
        page.locator("form button[type=submit]", has_text="Create room").click()
        hint = page.get_by_test_id("muted-hint")
        expect(hint).to_have_text("You're live and muted. Unmute to talk.")
        expect(hint).to_be_visible()
        mic = page.get_by_test_id("mic-toggle")
        expect(mic).to_have_text("Unmute")

        mic.click()
        expect(mic).to_have_text("Mute")
        expect(hint).to_have_count(0)
        mic.click()
        expect(mic).to_have_text("Unmute")
        expect(page.get_by_test_id("muted-hint")).to_have_count(0)  # only until the first unmute
        page.reload()
        expect(page.get_by_test_id("mic-toggle")).to_have_text("Unmute")
        page.wait_for_timeout(500)
        expect(page.get_by_test_id("muted-hint")).to_have_count(0)

        # A listener is not told anything of the kind.
        listener_context = browser.new_context(viewport=DESKTOP)
        asgi_live_server.sign_in(listener_context, UserFactory())
        listener_page = listener_context.new_page()
        listener_page.goto(page.url)
        expect(listener_page.get_by_test_id("raise-hand")).to_be_visible()
        expect(listener_page.get_by_test_id("muted-hint")).to_have_count(0)
        listener_context.close()
    finally:
        context.close()
