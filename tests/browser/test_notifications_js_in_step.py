"""static/js/notifications.js repeats the per-person channel's constants of spaces_project/protocol."""

import re
from pathlib import Path

from spaces_project import protocol

NOTIFICATIONS_JS = (Path(__file__).resolve().parents[2] / "static" / "js" / "notifications.js").read_text(
    encoding="utf-8"
)


def test_socket_path_and_close_code_match_the_server():
    assert re.search(r'^const USER_SOCKET_PATH = "([^"]+)";', NOTIFICATIONS_JS, re.M).group(1) == (
        protocol.USER_SOCKET_PATH
    )
    code = re.search(r"^const CLOSE_SIGN_IN_REQUIRED = (\d+);", NOTIFICATIONS_JS, re.M).group(1)
    assert int(code) == protocol.CLOSE_SIGN_IN_REQUIRED


def test_every_event_of_the_channel_is_handled():
    handled = set(re.findall(r'case "([a-z_.]+)":', NOTIFICATIONS_JS))
    assert handled == set(protocol.USER_EVENTS)
