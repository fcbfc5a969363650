"""The live room as its host sees it, at 1280 x 900 and 390 x 844 (issue 28's note): a stage of the host and
one speaker, a listener, live captions on, a question being answered, one answered before and one open.
The first screen of each size goes to test-artifacts/, and to docs/screenshots/live-room-after-desktop.png
and live-room-after-phone.png when UPDATE_SCREENSHOTS=1 (how the ones in docs/phone.md were made; the
"before" ones came from this test, without its checks of what issue 28 changed, run against the code
before it, at commit a8bfcb2). The host's stage row is held clear of the dock at both sizes here, with
the host's own dock (its "muted" hint too), which tests/browser/test_live_room_order.py does not open
on a phone."""

import os
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

from rooms.models import Participant
from spaces_project import protocol, realtime
from tests.browser.scenes import busy_qa_room, open_room
from tests.factories import UserFactory

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ROOT / "docs" / "screenshots"
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
SAID = (
    "Welcome everyone, thanks for joining this live question and answer session about audio rooms.",
    "One small server holds a couple of thousand listeners in a single room; we measured it last week.",
)


def save(png: bytes, name: str) -> None:
    """Write the screenshot, in 256 colours (a tenth of the bytes, and the page's flat colours keep)."""
    image = Image.open(BytesIO(png)).convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    ARTIFACTS.mkdir(exist_ok=True)
    image.save(ARTIFACTS / f"{name}.png", optimize=True)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(exist_ok=True)
        image.save(SCREENSHOTS / f"{name}.png", optimize=True)


def test_the_hosts_first_screen_of_a_busy_live_room_at_both_sizes(browser, asgi_live_server):
    if not asgi_live_server.env.get("REDIS_URL"):
        pytest.skip("the caption lines this test sends reach the server's pages through Redis")
    host = UserFactory(display_name="Alice Martin", handle="alice")
    speaker = UserFactory(display_name="Chen Wei", handle="chen")
    listener = UserFactory(display_name="Dana Levi", handle="dana")
    room, _ = busy_qa_room(host=host, asker=listener, other_asker=listener, open_asker=speaker)
    Participant.objects.create(room=room, user=speaker, role=Participant.Role.SPEAKER, is_muted=False)

    pages = {
        who: open_room(browser, asgi_live_server, who, room, viewport)
        for who, viewport in ((speaker, SIZES["phone"]), (listener, SIZES["phone"]), (host, SIZES["desktop"]))
    }
    page = pages[host]
    for size in ("desktop", "phone"):
        if size != "desktop":
            # The page as it is first drawn at this size (the caption lines of before are gone with it).
            page.set_viewport_size(SIZES[size])
            page.reload()
            expect(page.locator("[data-controls]")).to_be_visible()
        expect(page.get_by_test_id(f"stage-member-{speaker.pk}")).to_be_visible()
        expect(page.get_by_test_id("listener-count")).to_have_text("1")
        for line, text in enumerate(SAID):
            realtime.send(
                protocol.CaptionLine(
                    user_id=host.pk,
                    name=host.name,
                    line=f"{size}{line}",
                    final=True,
                    text=text,
                    skipped=False,
                ),
                room_id=room.pk,
            )
        expect(page.get_by_test_id("caption-line")).to_have_count(len(SAID))
        expect(page.get_by_test_id("answering")).to_contain_text("How many listeners fit")
        # Every count is what its list shows, and no list says it is empty (issue 28, item 3).
        expect(page.get_by_test_id("question-count")).to_have_text("2")
        expect(page.locator("[data-stage-count]")).to_have_text("2")
        expect(page.locator("[data-roster=stage] > li")).to_have_count(2)
        expect(page.locator("[data-roster=listeners] > li")).to_have_count(1)
        expect(page.locator("[data-roster-empty]")).to_be_hidden()
        expect(page.get_by_text("No questions yet.")).to_be_hidden()
        assert page.evaluate("window.scrollY") == 0
        # The first row of the stage is on the first screen, clear of the captions and the bar.
        member = page.get_by_test_id(f"stage-member-{host.pk}").bounding_box()
        dock = page.get_by_test_id("captions-panel").bounding_box()
        assert member["y"] + member["height"] <= dock["y"], size
        save(page.screenshot(animations="disabled", caret="hide"), f"live-room-after-{size}")
