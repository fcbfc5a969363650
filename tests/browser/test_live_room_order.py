"""The live room as people find it (issue 28, items 2 and 3): the stage first, its first row on the first
screen of a phone (390 x 844) and of a desktop (1280 x 900) with captions on, covered neither by the
captions nor by the control bar; the parts in order; and a Q&A count that says what the list shows."""

import pytest
from playwright.sync_api import expect

from spaces_project import protocol, realtime
from tests.browser.scenes import busy_qa_room, open_room
from tests.factories import UserFactory

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SAID = (
    "Welcome everyone, and thanks for joining this live question and answer session about audio rooms.",
    "One small server holds a couple of thousand listeners in a single room; we measured it last week.",
    "Replays keep the captions as a transcript, and you can search what was said in them afterwards.",
)


def box(page, selector: str) -> dict:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is not shown"
    return found


def test_the_stage_comes_first_uncovered_by_captions_and_the_bar_and_questions_count_what_is_listed(
    browser, asgi_live_server
):
    if not asgi_live_server.env.get("REDIS_URL"):
        pytest.skip("the caption lines this test sends reach the server's pages through Redis")
    host = UserFactory(display_name="Alice Martin")
    chen, dana = UserFactory(display_name="Chen Wei"), UserFactory(display_name="Dana Levi")
    room, answering = busy_qa_room(host=host, asker=dana, other_asker=chen)

    pages = {
        name: open_room(browser, asgi_live_server, who, room, viewport)
        for name, who, viewport in (
            ("host", host, DESKTOP),
            ("desktop", chen, DESKTOP),
            ("phone", dana, PHONE),
        )
    }
    for line, text in enumerate(SAID):
        realtime.send(
            protocol.CaptionLine(
                user_id=host.pk, name=host.name, line=f"l{line}", final=True, text=text, skipped=False
            ),
            room_id=room.pk,
        )

    for name, page in pages.items():
        expect(page.get_by_test_id("caption-line")).to_have_count(3)
        viewport = page.viewport_size
        assert page.evaluate("window.scrollY") == 0
        member = box(page, f"[data-testid=stage-member-{host.pk}]")
        captions = box(page, "[data-testid=captions-panel]")
        bar = box(page, "[data-controls]")
        # The first row of the stage is on the first screen, above the captions and the bar.
        assert member["y"] + member["height"] <= min(captions["y"], bar["y"], viewport["height"]), name
        assert captions["y"] + captions["height"] <= bar["y"] + 1, f"{name}: the bar covers the captions"
        # The captions' notice is whole, inside its panel.
        note = box(page, ".captions-note")
        assert note["y"] >= captions["y"] and note["y"] + note["height"] <= captions["y"] + captions["height"]
        assert page.locator(".captions-note").evaluate("el => el.scrollWidth <= el.clientWidth")
        # The order: stage, "Now answering", listeners, questions, then the host's forms.
        order = ["[data-testid=answering]", "[data-testid=listener-count]", "[data-testid=qa]"]
        if name == "host":
            order += ["[data-testid=tickets-box], .host-controls, .invite, .share"]
        tops = [box(page, ".stage-card")["y"]] + [box(page, selector)["y"] for selector in order]
        assert tops == sorted(tops), f"{name}: {list(zip(['stage', *order], tops, strict=True))}"
        # One count, and it is what the list shows: the question being answered and the open one.
        expect(page.get_by_test_id("question-count")).to_have_text("2")
        expect(page.get_by_test_id("question-list").locator(":scope > li")).to_have_count(2)
        expect(page.get_by_text("No questions yet.")).to_be_hidden()
        expect(page.get_by_test_id("answering")).to_contain_text("How many listeners fit")

    phone = pages["phone"]
    # On a phone the captions are the newest two lines.
    lines = phone.locator("[data-testid=captions]")
    height, line_height = lines.evaluate(
        "el => [el.clientHeight, parseFloat(getComputedStyle(el).lineHeight)]"
    )
    assert height <= 2 * line_height + 1
    # The page keeps room below its end for the dock: its last part scrolls clear of it.
    phone.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    phone.wait_for_function("() => window.scrollY > 0")
    assert box(phone, ".share")["y"] + box(phone, ".share")["height"] <= box(phone, "[data-live-dock]")["y"]

    pages["host"].get_by_test_id(f"question-{answering.pk}").get_by_test_id("question-done").click()
    for page in pages.values():
        expect(page.get_by_test_id("question-count")).to_have_text("1")
        expect(page.get_by_test_id("question-list").locator(":scope > li")).to_have_count(1)
        expect(page.get_by_test_id("answering")).to_be_hidden()
