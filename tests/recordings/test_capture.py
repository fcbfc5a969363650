"""The capture writer: valid Ogg Opus as written live, one segment per mixer, and crash safety."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import pytest
from mutagen.oggopus import OggOpus

from rooms.audio import ogg
from rooms.audio.capture import CaptureWriter, segment_paths
from rooms.audio.codec import DTX_PACKET
from tests.audio.signals import packets, tone

ROOT = Path(__file__).resolve().parents[2]
PRE_SKIP = ogg.DEFAULT_PRE_SKIP


def decoded_samples(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(frame.samples for frame in container.decode(audio=0))


def write(directory: Path, count: int, *, silent_every: int = 0) -> CaptureWriter:
    stream = packets(tone(440, count))
    writer = CaptureWriter(directory, started_ms=1_700_000_000_000.0)
    for i, packet in enumerate(stream):
        silent = silent_every and i % silent_every == 0
        writer.write(
            i, 1_700_000_000_000.0 + 20 * i, b"" if silent else packet, frozenset() if silent else {7}
        )
    writer.close()
    return writer


def test_a_capture_is_ogg_opus_that_players_read_with_the_right_length(tmp_path):
    writer = write(tmp_path, 250)
    assert writer.path.name == "segment-0001.ogg"
    info = OggOpus(str(writer.path)).info
    assert info.length == pytest.approx((250 * 960 - PRE_SKIP) / 48_000, abs=0.001)
    assert decoded_samples(writer.path) == 250 * 960 - PRE_SKIP


def test_pages_carry_granule_positions_flags_and_sequence_numbers(tmp_path):
    writer = write(tmp_path, 180)
    pages = list(ogg.iter_pages(writer.path.read_bytes()))  # raises on a bad CRC
    assert pages[0].flags == ogg.FLAG_BOS and pages[0].body.startswith(b"OpusHead")
    assert pages[1].body.startswith(b"OpusTags") and pages[1].granule == 0
    assert [page.sequence for page in pages] == list(range(len(pages)))
    assert {page.serial for page in pages} == {pages[0].serial}
    packets_so_far = 0
    for page in pages[2:]:
        packets_so_far += sum(1 for lace in page.segments if lace < 255)
        assert page.granule == packets_so_far * 960
    assert packets_so_far == 180
    assert pages[-1].flags & ogg.FLAG_EOS
    # At most a second of audio a page, so seeking stays cheap.
    assert max(len(page.segments) for page in pages[2:]) <= 50


def test_a_silent_frame_is_kept_as_a_dtx_packet_so_the_duration_holds(tmp_path):
    writer = write(tmp_path, 100, silent_every=4)
    stream = ogg.read_opus_stream(writer.path.read_bytes())
    assert len(stream.packets) == 100
    assert stream.packets[0] == DTX_PACKET and stream.packets[1] != DTX_PACKET
    assert decoded_samples(writer.path) == 100 * 960 - PRE_SKIP


def test_a_damaged_page_is_detected_by_its_crc(tmp_path):
    writer = write(tmp_path, 200)
    data = bytearray(writer.path.read_bytes())
    data[-100] ^= 0xFF  # inside the last page
    stream = ogg.read_opus_stream(bytes(data))
    assert "bad CRC" in stream.damage
    assert 100 <= len(stream.packets) < 200  # everything before the damaged page


def test_the_timeline_has_the_start_then_a_line_per_change_of_voices(tmp_path):
    writer = write(tmp_path, 10, silent_every=5)
    lines = [json.loads(line) for line in writer.timeline_path.read_text().splitlines()]
    assert lines[0] == {"segment": 1, "started_ms": 1_700_000_000_000.0, "pre_skip": PRE_SKIP}
    assert [(line["at_ms"], line["voices"]) for line in lines[1:]] == [(20, [7]), (100, []), (120, [7])]


def test_each_writer_opens_the_next_segment(tmp_path):
    first = write(tmp_path, 60)
    second = write(tmp_path, 60)
    assert (first.number, second.number) == (1, 2)
    assert [number for number, _ in segment_paths(tmp_path)] == [1, 2]


CRASHING_MIXER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from rooms.audio.capture import CaptureWriter
    from tests.audio.signals import packets, tone

    stream = packets(tone(440, 100))
    writer = CaptureWriter(Path({directory!r}), started_ms=0.0)
    for i, packet in enumerate(stream[:75]):  # writes flush by themselves after 50 packets
        writer.write(i, 20.0 * i, packet, frozenset({{1}}))
    writer.flush()  # the runner's once-a-second flush
    for i, packet in enumerate(stream[75:], start=75):
        writer.write(i, 20.0 * i, packet, frozenset({{1}}))
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_mixer_killed_mid_write_leaves_a_readable_file_up_to_its_last_flush(tmp_path):
    script = CRASHING_MIXER.format(root=str(ROOT), directory=str(tmp_path))
    process = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True)
    assert process.returncode == -9, process.stderr.decode()
    segment = tmp_path / "segment-0001.ogg"
    # No end-of-stream page, but players read what was flushed: 75 frames, the last 25 are lost.
    assert OggOpus(str(segment)).info.length == pytest.approx((75 * 960 - PRE_SKIP) / 48_000, abs=0.001)
    assert decoded_samples(segment) == 75 * 960 - PRE_SKIP
    stream = ogg.read_opus_stream(segment.read_bytes())
    assert (len(stream.packets), stream.eos, stream.damage) == (75, False, "")
    # The takeover mixer continues the recording in the next segment.
    assert CaptureWriter(tmp_path, started_ms=0.0).number == 2


def test_a_page_torn_by_a_crash_loses_only_that_page(tmp_path):
    writer = write(tmp_path, 150)
    data = writer.path.read_bytes()
    os.truncate(writer.path, len(data) - 30)
    stream = ogg.read_opus_stream(writer.path.read_bytes())
    assert stream.damage.startswith("truncated page")
    assert len(stream.packets) == 100  # the first two one-second pages
