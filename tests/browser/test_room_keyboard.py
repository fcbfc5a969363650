"""The live room by keyboard alone, what its live region says, and less motion (issue 26, items 2-4).

Every action here is a key press (`keyboard.press`), never a click: a listener joins, raises a hand,
reacts and leaves; a host approves a hand, mutes a speaker, answers a question and ends the room.
Every control reached shows a focus ring. The room's one polite live region (data-announcer) is
read as a screen reader would hear it: each text it takes, in order.
"""

import pytest
from playwright.sync_api import expect

from spaces_project import protocol, realtime
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
TAB_LIMIT = 80

# Every text the live region takes, kept in window.said (installed before the page's scripts run).
RECORD_ANNOUNCEMENTS = """
window.said = [];
document.addEventListener("DOMContentLoaded", () => {
  const region = document.querySelector("[data-announcer]");
  if (!region) return;
  new MutationObserver(() => region.textContent && window.said.push(region.textContent))
    .observe(region, { childList: true, characterData: true, subtree: true });
});
"""


@pytest.fixture
def open_room(browser, asgi_live_server):
    contexts = []

    def open_as(user, room, *, reduced_motion=None):
        context = browser.new_context(viewport=DESKTOP, reduced_motion=reduced_motion)
        contexts.append(context)
        asgi_live_server.sign_in(context, user)
        page = context.new_page()
        # A busy CI machine opens three pages with sockets at once: more than the usual 10 s.
        page.set_default_timeout(20_000)
        page.add_init_script(RECORD_ANNOUNCEMENTS)
        page.goto(f"{asgi_live_server.url}/rooms/{room.pk}/")
        expect(page.locator("[data-controls]")).to_be_visible()
        expect(page.locator("[data-controls] button").first).to_be_enabled()
        return page

    yield open_as
    for context in contexts:
        context.close()


def focused(page, selector: str) -> bool:
    return page.evaluate("(s) => Boolean(document.activeElement?.matches(s))", selector)


def expect_focus(page, selector: str) -> None:
    """Wait for `selector` to have the focus (a menu's toggle event moves it a moment after the key)."""
    page.wait_for_function("(s) => Boolean(document.activeElement?.matches(s))", arg=selector)
    assert_focus_is_visible(page)


def assert_focus_is_visible(page) -> None:
    ring = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"
    )
    assert ring[0] != "none" and ring[1] >= 2, f"no visible focus on the focused control: {ring}"


def tab_to(page, selector: str, *, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until `selector` has the focus, as someone without a mouse would."""
    for _ in range(TAB_LIMIT):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        if focused(page, selector):
            assert_focus_is_visible(page)
            return
    raise AssertionError(f"{selector} is not reached in {TAB_LIMIT} presses of Tab")


def said(page) -> list[str]:
    return page.evaluate("() => window.said")


def expect_said(page, text: str) -> None:
    page.wait_for_function("(t) => window.said.some((s) => s.includes(t))", arg=text)


def test_a_listener_raises_a_hand_reacts_and_leaves_by_keyboard_alone(open_room):
    host = UserFactory(display_name="Hana Host")
    leo = UserFactory(display_name="Leo Listener")
    room = RoomFactory(host=host, title="Keys only", qa_enabled=True)
    host_page = open_room(host, room)
    page = open_room(leo, room)

    # A shortcut never fires inside a text field, nor with a modifier.
    tab_to(page, "[data-testid=qa-text]")
    page.keyboard.press("h")
    page.keyboard.press("m")
    expect(page.get_by_test_id("qa-text")).to_have_value("hm")
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")  # out of the text field
    page.keyboard.press("Shift+H")
    page.keyboard.press("Control+h")
    expect(page.get_by_test_id("raise-hand")).to_be_visible()

    # "?" lists the shortcuts in a dialog that takes the focus; Escape gives it back.
    tab_to(page, "[data-testid=shortcuts-open]")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("shortcuts")).to_be_visible()
    expect_focus(page, "[data-shortcuts] *")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("shortcuts")).to_be_hidden()
    expect_focus(page, "[data-testid=shortcuts-open]")
    page.keyboard.press("?")
    expect(page.get_by_test_id("shortcuts")).to_contain_text("Raise or lower your hand")
    page.keyboard.press("Escape")

    # H raises the hand, and lowers it; the host hears of it once.
    page.keyboard.press("h")
    expect(page.get_by_test_id("lower-hand")).to_be_visible()
    expect(host_page.get_by_test_id(f"hand-request-{leo.pk}")).to_be_visible()
    expect_said(host_page, "Leo Listener raised their hand.")
    page.keyboard.press("h")
    expect(page.get_by_test_id("raise-hand")).to_be_visible()
    expect(host_page.get_by_test_id(f"hand-request-{leo.pk}")).to_have_count(0)

    # R goes to the reactions; Tab moves between them and Enter sends one.
    page.keyboard.press("r")
    expect_focus(page, "[data-testid=reaction-0]")
    assert_focus_is_visible(page)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(
        host_page.get_by_test_id(f"listener-{leo.pk}").get_by_test_id("reaction-bubble")
    ).to_have_attribute("data-emoji", "😲")

    # Leave: the menu opens on Enter with the focus on its first choice.
    tab_to(page, "[data-testid=leave-menu]", backwards=True)
    page.keyboard.press("Enter")
    expect_focus(page, "[data-testid=leave]")
    page.keyboard.press("Escape")
    expect_focus(page, "[data-testid=leave-menu]")
    page.keyboard.press("Enter")
    expect_focus(page, "[data-testid=leave]")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("room-left")).to_contain_text("You left the room")
    expect(host_page.get_by_test_id("listener-count")).to_have_text("0")


def test_a_host_approves_mutes_answers_and_ends_by_keyboard_and_the_live_region_says_so(
    open_room, asgi_live_server
):
    if not asgi_live_server.env.get("REDIS_URL"):
        pytest.skip("the burst of reactions this test sends reaches the server's pages through Redis")
    host = UserFactory(display_name="Hana Host")
    leo = UserFactory(display_name="Leo Listener")
    mia = UserFactory(display_name="Mia Moss")
    room = RoomFactory(host=host, title="Keys for hosts", qa_enabled=True)
    host_page = open_room(host, room)
    leo_page = open_room(leo, room)
    mia_page = open_room(mia, room)

    # Approve a raised hand: Tab to it, Enter.
    leo_page.keyboard.press("h")
    expect_said(host_page, "Leo Listener raised their hand.")
    tab_to(host_page, f"[data-testid=hand-request-{leo.pk}] [data-testid=approve]")
    host_page.keyboard.press("Enter")
    expect(leo_page.get_by_test_id("mic-toggle")).to_have_text("Unmute")
    expect_said(leo_page, "Your hand was approved")
    expect_said(mia_page, "Leo Listener is on stage.")

    # The new speaker unmutes with M; the host mutes them from their menu, by keyboard.
    leo_page.keyboard.press("m")
    leo_on_stage = host_page.get_by_test_id(f"stage-member-{leo.pk}")
    expect(leo_on_stage).to_contain_text("mic on")
    # "Speaking" in words as well as a ring, for a screen reader (about once a second, not at every level).
    realtime.send(protocol.Levels(levels=[(leo.pk, 0.5)]), room_id=room.pk)
    expect(mia_page.get_by_test_id(f"stage-member-{leo.pk}")).to_contain_text("mic on, speaking")
    realtime.send(protocol.Levels(levels=[]), room_id=room.pk)
    expect(mia_page.get_by_test_id(f"stage-member-{leo.pk}")).not_to_contain_text("speaking")
    tab_to(host_page, f"[data-testid=stage-member-{leo.pk}] [data-testid=member-menu]", backwards=True)
    host_page.keyboard.press("Enter")
    expect_focus(host_page, f"[data-testid=stage-member-{leo.pk}] [data-testid=mute]")
    host_page.keyboard.press("Enter")
    expect(leo_on_stage).to_contain_text("mic off")
    expect_said(leo_page, "A host muted your mic.")

    # A question being answered is said to everyone.
    tab_to(mia_page, "[data-testid=qa-text]")
    mia_page.keyboard.type("Which keys do you use?")
    mia_page.keyboard.press("Tab")
    mia_page.keyboard.press("Enter")
    expect(host_page.get_by_test_id("question-answer")).to_be_visible()
    tab_to(host_page, "[data-testid=question-answer]")
    host_page.keyboard.press("Enter")
    expect(mia_page.get_by_test_id("answering")).to_contain_text("Which keys do you use?")
    expect_said(mia_page, "Now answering Mia Moss's question: Which keys do you use?")

    # Twelve reactions in a burst are one sentence, not twelve.
    for emoji in ["👏"] * 8 + ["💜"] * 4:
        realtime.send(protocol.Reaction(user_id=host.pk, emoji=emoji), room_id=room.pk)
    expect_said(mia_page, "12 reactions: Clap 8, Love 4.")
    assert sum("reaction" in text for text in said(mia_page)) == 1

    # End the room: the dialog takes the focus, Escape gives it back to End room, Tab and Enter confirm.
    tab_to(host_page, "[data-testid=end-room]")
    host_page.keyboard.press("Enter")
    expect(host_page.locator("[data-confirm]")).to_be_visible()
    expect_focus(host_page, "[data-confirm] *")
    host_page.keyboard.press("Escape")
    expect_focus(host_page, "[data-testid=end-room]")
    host_page.keyboard.press("Enter")
    tab_to(host_page, "[data-testid=confirm-ok]")
    host_page.keyboard.press("Enter")
    expect(mia_page.get_by_test_id("room-ended")).to_be_visible()
    expect_said(mia_page, "The host ended the room.")
    expect_said(leo_page, "The host ended the room.")

    # The five events, in the order they happened, on the pages that saw them; never a flood.
    heard = said(mia_page)
    order = ["Leo Listener is on stage.", "Now answering", "12 reactions", "The host ended the room."]
    positions = [next(i for i, text in enumerate(heard) if part in text) for part in order]
    assert positions == sorted(positions), heard
    assert len(heard) <= 8, heard


def test_reduced_motion_stills_the_reactions_and_the_speaking_ring(open_room):
    host = UserFactory(display_name="Hana Host")
    room = RoomFactory(host=host, title="Still")
    moving = open_room(host, room)
    still = open_room(UserFactory(display_name="Sam Still"), room, reduced_motion="reduce")
    for page in (moving, still):
        # A reaction by keyboard, and a speaking ring as the room's levels draw it.
        page.keyboard.press("r")
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("reaction-bubble").first).to_be_attached()
    bubble = "() => getComputedStyle(document.querySelector('[data-testid=reaction-bubble]')).animationName"
    assert moving.evaluate(bubble) == "reaction-float"
    assert still.evaluate(bubble) == "none"

    # The ring's size once its transition (if any) is over.
    ring = f"""async (level) => {{
        const member = document.querySelector('[data-testid=stage-member-{host.pk}]');
        member.classList.add('is-speaking');
        member.classList.remove('is-muted');
        member.style.setProperty('--level', level);
        await new Promise((done) => setTimeout(done, 400));
        const style = getComputedStyle(member.querySelector('.avatar'));
        return [style.boxShadow, style.transitionDuration];
    }}"""
    quiet, loud = moving.evaluate(ring, "0.1"), moving.evaluate(ring, "1")
    assert quiet[0] != loud[0], "the ring grows with the voice"
    quiet, loud = still.evaluate(ring, "0.1"), still.evaluate(ring, "1")
    assert quiet[0] == loud[0], "with less motion the ring stays the same"
    assert loud[1] == "0s"
