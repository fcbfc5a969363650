"""Nothing of the recording is lost when the mixer holding a room dies (rooms/live/capture.py's
StoredCapture, rooms/live/runner.py): the mixer that takes the room over as its warm standby mixed
the same room, and writes the packets it kept after the point where the stored capture ends, so the
replay has each moment of the room once, with no hole at the failover.

The store is MEDIA_ROOT here (the same media functions as the bucket; tests/storage/ runs them
against S3). Each frame of the room is told by its payload: frame ``n`` of the room's time is mixed
at T0 + 20 n ms by the dead holder and, a few milliseconds off its phase, by the standby.
"""

import asyncio
import time

import pytest

from recordings.finalize import read_capture
from rooms.audio import wire
from rooms.audio.mixer import RoomMixer
from rooms.live.capture import StoredCapture, capture_prefix, stored_segment_numbers
from rooms.live.runner import BACK_FILL_PACKETS, RoomAudioRunner
from spaces_project import media
from tests.live.test_backstage import Sink, _feed

ROOM = 41
T0 = 1_700_000_000_000.0
HOST = 11


@pytest.fixture(autouse=True)
def stored_in_media_root(settings):
    settings.MEDIA_STORAGE = "local"


def frame(n: int) -> bytes:
    """The payload of the room's frame ``n`` (whichever mixer mixed it)."""
    return b"\xfc" + n.to_bytes(4, "big")


def mixed(n: int, *, phase_ms: float = 0.0, sequence_from: int = 0) -> tuple:
    """Frame ``n`` as a mixer hands it over: (sequence, mixed_ms, packet, voices)."""
    return (sequence_from + n, T0 + n * wire.FRAME_MS + phase_ms, frame(n), frozenset({HOST}))


def open_stored(*, started_ms: float) -> StoredCapture:
    return StoredCapture(ROOM, started_ms=started_ms, segment_s=60, upload_s=2)


def dead_holder(frames: int, *, stored: int, segment_s: float = 60) -> None:
    """A holder that mixed ``frames`` frames, uploaded the first ``stored``, then was killed."""
    capture = StoredCapture(ROOM, started_ms=T0, segment_s=segment_s, upload_s=3600)
    for n in range(stored):
        capture.write(*mixed(n))
    capture.flush()  # its last upload (the first flush uploads at once)
    for n in range(stored, frames):
        capture.write(*mixed(n))  # mixed, never uploaded: kill -9


def frames_in_replay() -> list[int]:
    capture = read_capture(media.local_path(capture_prefix(ROOM)))
    return [int.from_bytes(packet[1:], "big") for packet in capture.packets]


@pytest.mark.parametrize("phase_ms", [-7.0, 0.0, 9.0])
def test_the_standby_writes_what_the_dead_holder_had_not_stored_once_and_with_no_hole(phase_ms):
    dead_holder(300, stored=200)  # it stored 4 s of its 6 s
    # The standby kept its last 10 s (frames 0..299, its own sequence numbers and phase), took the
    # room over, and mixes on: frames 300..349.
    takeover = open_stored(started_ms=T0 + 300 * wire.FRAME_MS)
    takeover.back_fill([mixed(n, phase_ms=phase_ms, sequence_from=5000) for n in range(300)])
    for n in range(300, 320):
        takeover.write(*mixed(n, phase_ms=phase_ms, sequence_from=5000))
    takeover.flush()  # reads where the stored capture ends, then uploads
    for n in range(320, 350):
        takeover.write(*mixed(n, phase_ms=phase_ms, sequence_from=5000))
    takeover.close()

    assert stored_segment_numbers(ROOM) == [1, 2]
    assert frames_in_replay() == list(range(350)), "a frame missing or written twice"
    assert takeover.stored_end_ms == T0 + 200 * wire.FRAME_MS
    assert takeover.back_filled == 100 and takeover.duration_ms == 150 * wire.FRAME_MS
    capture = read_capture(media.local_path(capture_prefix(ROOM)))
    second = capture.segments[1]
    assert second.started_ms == T0 + 200 * wire.FRAME_MS + phase_ms  # the segment begins with the back-fill
    assert second.sequence_gaps == 0 and second.eos


def test_a_holder_killed_just_after_opening_its_next_segment_is_followed_from_the_one_before():
    # Segments of 2 s: at 2.4 s the holder ended segment 1 (stored with its end) and opened segment
    # 2, whose header alone reached the store (or less than what segment 1 said); then it died.
    capture = StoredCapture(ROOM, started_ms=T0, segment_s=2, upload_s=3600)
    for n in range(120):
        capture.write(*mixed(n))
    capture.flush()  # segment 1 is 2.4 s long: it is stored and segment 2 opened (header only)
    for n in range(120, 150):
        capture.write(*mixed(n))
    assert stored_segment_numbers(ROOM) == [1, 2]

    takeover = open_stored(started_ms=T0 + 150 * wire.FRAME_MS)
    takeover.back_fill([mixed(n, phase_ms=3.0) for n in range(150)])
    takeover.close()
    assert frames_in_replay() == list(range(150))
    assert takeover.back_filled == 30


def test_with_nothing_stored_the_whole_back_fill_is_the_recording():
    # The room's first mixer died before its first upload: its standby has all of it.
    takeover = open_stored(started_ms=T0 + 80 * wire.FRAME_MS)
    takeover.back_fill([mixed(n) for n in range(80)])
    for n in range(80, 100):
        takeover.write(*mixed(n))
    takeover.close()
    assert stored_segment_numbers(ROOM) == [1]
    assert frames_in_replay() == list(range(100))
    assert read_capture(media.local_path(capture_prefix(ROOM))).segments[0].started_ms == T0


def test_a_back_fill_comes_before_any_write():
    capture = open_stored(started_ms=T0)
    capture.write(*mixed(0))
    with pytest.raises(RuntimeError):
        capture.back_fill([mixed(1)])
    capture.close()


async def test_a_promoted_standby_records_from_before_its_promotion_with_no_gap():
    """The runner's side: a standby keeps its recent program packets (bounded) and, promoted, hands
    them to the capture before the packets it mixes next; with nothing stored they all stay."""
    opened: list[StoredCapture] = []

    async def load_stage():
        return {HOST}, {HOST}

    async def open_capture():
        # What rooms/live/capture.open_capture gives in S3 mode, after a database look-up's delay.
        await asyncio.sleep(0.1)
        opened.append(StoredCapture(ROOM, started_ms=time.time() * 1000, segment_s=60, upload_s=2))
        return opened[-1]

    sink = Sink()
    runner = RoomAudioRunner(
        ROOM,
        load_stage=load_stage,
        send_bundle=sink.bundle,
        send_levels=sink.send_levels,
        mixer=RoomMixer(bundle_frames=10),
        open_capture=open_capture,
        standby=True,
    )
    running = asyncio.create_task(runner.run())
    talking = asyncio.create_task(_feed(runner, HOST, 440, 2.5, first_seq=100))
    await asyncio.sleep(1.5)
    assert opened == [] and sink.bundles == []
    mixed_so_far = runner.mixer.stats["ticks"]
    assert 0 < len(runner._recent) <= BACK_FILL_PACKETS
    promoted_ms = time.time() * 1000
    runner.promote()
    await talking
    runner.stop()
    await running

    capture = opened[0]
    assert capture.back_filled >= mixed_so_far - 5, "the standby's packets did not go first"
    stored = read_capture(media.local_path(capture_prefix(ROOM)))
    assert [segment.sequence_gaps for segment in stored.segments] == [0], "a packet lost at the promotion"
    assert stored.segments[0].started_ms < promoted_ms - 1200
    assert len(stored.packets) == capture.captured == capture.back_filled + capture.packets
