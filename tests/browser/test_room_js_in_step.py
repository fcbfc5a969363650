"""static/js/room.js and audio.js repeat constants of spaces_project/protocol and rooms/audio/wire.py; a drift
would break the page quietly, so each repeated constant is checked here against its one definition. Each
is an entry module with its package of modules beside it (static/js/room/, static/js/audio/): what the
page does is read from all of them."""

import json
import re
import struct
from pathlib import Path

from rooms.audio import wire
from spaces_project import protocol

JS = Path(__file__).resolve().parents[2] / "static" / "js"


def package_source(name: str) -> str:
    """The entry module static/js/NAME.js and every module of its package static/js/NAME/, as one text."""
    files = [JS / f"{name}.js", *sorted((JS / name).glob("*.js"))]
    return "\n".join(path.read_text(encoding="utf-8") for path in files)


ROOM_JS = package_source("room")
AUDIO_JS = package_source("audio")


def js_constant(source: str, name: str) -> str:
    match = re.search(rf"^(?:export )?const {name} = (.+?);(?: *//.*)?$", source, re.M | re.S)
    assert match, f"const {name} is missing"
    return match.group(1)


def js_number(source: str, name: str) -> int:
    return int(js_constant(source, name).replace("_", ""), 0)


def js_function(source: str, name: str) -> str:
    start = source.index(f"export function {name}(")
    end = source.index("\n}\n", start)
    return source[start:end]


# -- room.js ------------------------------------------------------------------------------------------


def test_both_pages_are_read_whole():
    # An empty package would make every check below vacuous.
    assert len(list((JS / "room").glob("*.js"))) > 1 and len(list((JS / "audio").glob("*.js"))) > 1


def test_reaction_bar_offers_exactly_the_server_reactions_in_order():
    assert tuple(json.loads(js_constant(ROOM_JS, "REACTIONS"))) == protocol.REACTIONS


def test_close_codes_match_the_server():
    names = re.findall(r"^(?:export )?const CLOSE_([A-Z_]+) = \d+;", ROOM_JS, re.M)
    assert names
    for name in names:
        assert js_number(ROOM_JS, f"CLOSE_{name}") == getattr(protocol, f"CLOSE_{name}"), name


def test_close_reasons_are_the_server_reasons():
    # Each marked for translation (docs/i18n.md): gettext("…") with the server's English as its msgid.
    entries = re.findall(
        r'^\s+\[CLOSE_([A-Z_]+)\]: gettext\("(.*)"\),$', js_constant(ROOM_JS, "CLOSE_REASONS"), re.M
    )
    assert entries
    for name, text in entries:
        assert text == protocol.CLOSE_REASONS[getattr(protocol, f"CLOSE_{name}")], name


def test_the_page_stops_reconnecting_exactly_where_the_server_says_it_cannot_help():
    listed = re.findall(r"CLOSE_([A-Z_]+)", js_constant(ROOM_JS, "FINAL_CLOSE_CODES"))
    assert {getattr(protocol, f"CLOSE_{name}") for name in listed} == protocol.FINAL_CLOSE_CODES


def test_stage_and_moderator_roles_match_the_server():
    assert tuple(json.loads(js_constant(ROOM_JS, "STAGE_ROLES"))) == protocol.STAGE_ROLES
    assert tuple(json.loads(js_constant(ROOM_JS, "MODERATOR_ROLES"))) == protocol.MODERATOR_ROLES


def test_every_server_event_is_handled():
    for event in protocol.EVENTS:
        assert f'case "{event}":' in ROOM_JS, event


def test_the_page_reads_only_fields_each_event_declares():
    switch = ROOM_JS[ROOM_JS.index("  handle(event) {") :]
    switch = switch[: switch.index("      default:")]
    cases = re.split(r'^\s+case "([a-z_.]+)":$', switch, flags=re.M)[1:]
    assert len(cases) == 2 * len(protocol.EVENTS)
    for kind, body in zip(cases[::2], cases[1::2], strict=True):
        read = set(re.findall(r"\bevent\.(\w+)", body))
        declared = set(protocol.EVENTS[kind]._FIELDS)
        assert read <= declared, f"{kind}: room.js reads {sorted(read - declared)}"


def test_the_page_handles_no_event_the_server_does_not_send():
    handled = set(re.findall(r'case "([a-z_.]+)":', ROOM_JS))
    assert handled <= set(protocol.EVENTS), handled - set(protocol.EVENTS)


def test_every_message_the_page_sends_exists():
    sent = set(re.findall(r'this\.send\("([a-z_.]+)"', ROOM_JS))
    assert sent and sent <= set(protocol.MESSAGES), sent - set(protocol.MESSAGES)


# -- audio.js: the binary wire format -----------------------------------------------------------------

DATAVIEW = {"B": "Uint8", "H": "Uint16", "I": "Uint32", "d": "Float64"}


def layout(fmt: str) -> list[tuple[str, int]]:
    """(DataView type, byte offset) of each field of a big-endian struct format."""
    fields, offset = [], 0
    for code in fmt.lstrip(">"):
        fields.append((DATAVIEW[code], offset))
        offset += struct.calcsize(">" + code)
    return fields


def test_audio_constants_match_the_wire_format():
    expected = {
        "SAMPLE_RATE": wire.SAMPLE_RATE,
        "FRAME_SAMPLES": wire.FRAME_SAMPLES,
        "UPLINK": wire.UPLINK,
        "DOWNLINK": wire.DOWNLINK,
        "FLAG_MIX_MINUS": wire.FLAG_MIX_MINUS,
        "UPLINK_HEADER_BYTES": wire.UPLINK_HEADER_BYTES,
        "DOWNLINK_HEADER_BYTES": wire.DOWNLINK_HEADER_BYTES,
        "MAX_OPUS_PACKET": wire.MAX_OPUS_PACKET,
    }
    for name, value in expected.items():
        assert js_number(AUDIO_JS, name) == value, name


def test_uplink_frames_are_written_at_the_wire_offsets():
    body = js_function(AUDIO_JS, "encodeUplink")
    writes = [(kind, int(offset)) for kind, offset in re.findall(r"view\.set(\w+)\((\d+),", body)]
    assert writes == layout(wire._UPLINK_HEADER.format)
    assert "view.setUint8(0, UPLINK)" in body
    assert "frame.set(packet, UPLINK_HEADER_BYTES)" in body


def test_bundles_are_read_at_the_wire_offsets():
    body = js_function(AUDIO_JS, "parseBundle")
    reads = {(kind, int(offset)) for kind, offset in re.findall(r"view\.get(\w+)\((\d+)\)", body)}
    assert reads == set(layout(wire._DOWNLINK_HEADER.format))
    assert "view.getUint8(0) !== DOWNLINK" in body
    assert "& FLAG_MIX_MINUS" in body
    # Each packet: a uint16 length, then the packet.
    assert wire._LENGTH.format == ">H" and "view.getUint16(offset)" in body and "offset += 2" in body


def test_every_message_the_audio_player_sends_exists():
    sent = set(re.findall(r'this\.request\("([a-z_.]+)"', AUDIO_JS))
    assert sent == {"audio.background"} and sent <= set(protocol.MESSAGES)
