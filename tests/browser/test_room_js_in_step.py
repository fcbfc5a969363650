"""static/js/room.js repeats a few constants of rooms/protocol.py; a drift would break the page quietly."""

import json
import re
from pathlib import Path

from rooms import protocol

ROOM_JS = (Path(__file__).resolve().parents[2] / "static" / "js" / "room.js").read_text(encoding="utf-8")


def test_reaction_bar_offers_exactly_the_server_reactions_in_order():
    listed = re.search(r"^const REACTIONS = (\[.*?\]);", ROOM_JS, re.M).group(1)
    assert tuple(json.loads(listed)) == protocol.REACTIONS


def test_close_codes_match_the_server():
    for name in ("SIGN_IN_REQUIRED", "REMOVED", "NOT_FOUND", "SUSPENDED", "NOT_LIVE", "ENDED"):
        value = re.search(rf"^const CLOSE_{name} = (\d+);", ROOM_JS, re.M).group(1)
        assert int(value) == getattr(protocol, f"CLOSE_{name}"), name


def test_every_server_event_is_handled():
    for event in protocol.EVENTS:
        assert f'case "{event}":' in ROOM_JS, event


def test_every_message_the_page_sends_exists():
    sent = set(re.findall(r'this\.send\("([a-z_.]+)"', ROOM_JS))
    assert sent and sent <= set(protocol.MESSAGES), sent - set(protocol.MESSAGES)
