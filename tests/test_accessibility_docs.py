"""docs/accessibility.md lists the live room's keyboard shortcuts: the same keys as the page installs
(static/js/room.js and its package static/js/room/) and lists in its "Keyboard shortcuts" dialog
(templates/rooms/_live_room.html)."""

import re
from pathlib import Path

BASE = Path(__file__).resolve().parents[1]
DOC = (BASE / "docs" / "accessibility.md").read_text()
JS = BASE / "static" / "js"
ROOM_JS = "\n".join(path.read_text() for path in [JS / "room.js", *sorted((JS / "room").glob("*.js"))])
TEMPLATE = (BASE / "templates" / "rooms" / "_live_room.html").read_text()
# Escape is no shortcut of the room's: every dialog and menu closes on it (static/js/menus.js).
CLOSES = "Esc"


def documented_keys() -> set[str]:
    section = DOC[DOC.index("## Keyboard shortcuts") : DOC.index("## How the axe check works")]
    return set(re.findall(r"^\| `([^`]+)` \|", section, re.M))


def installed_keys() -> set[str]:
    block = ROOM_JS[
        ROOM_JS.index("    installShortcuts({") : ROOM_JS.index(
            "    });", ROOM_JS.index("    installShortcuts({")
        )
    ]
    return {key.strip('"').upper() for key in re.findall(r'^      ("\?"|\w+): ', block, re.M)}


def listed_keys() -> set[str]:
    keys = re.findall(r"<kbd>(.*?)</kbd>", TEMPLATE)
    return {CLOSES if "translate" in key else key for key in keys}


def test_the_documented_shortcuts_are_the_installed_ones():
    assert documented_keys() - {CLOSES} == installed_keys() == {"M", "H", "R", "?"}


def test_the_page_lists_the_documented_shortcuts():
    assert listed_keys() == documented_keys()
