from rooms.audio.jitter import DUPLICATE, LATE, JitterBuffer, Slot, seq_diff
from rooms.audio.wire import UplinkFrame


def frame(seq: int, captured: float | None = None) -> UplinkFrame:
    seq &= 0xFFFFFFFF
    return UplinkFrame(seq, captured if captured is not None else 1000.0 + 20 * seq, bytes([seq & 0xFF]))


def drain(buffer: JitterBuffer, start_ms: float, ticks: int) -> list:
    out = []
    for k in range(ticks):
        play = buffer.pop(start_ms + 20 * k)
        out.append(play.frame.sequence if play.slot is Slot.FRAME else play.slot.value)
    return out


def test_seq_diff_wraps():
    assert seq_diff(2, 0xFFFFFFFE) == 4
    assert seq_diff(0xFFFFFFFE, 2) == -4
    assert seq_diff(7, 7) == 0


def test_waits_for_the_delay_then_plays_in_sequence_order():
    buffer = JitterBuffer(delay_ms=60)
    for seq, arrival in [(1, 0), (0, 5), (3, 10), (2, 15), (4, 20)]:
        assert buffer.push(frame(seq), arrival) is None
    assert buffer.pop(40).slot is Slot.IDLE  # the first frame arrived at 0: nothing before 60 ms
    assert drain(buffer, 60, 5) == [0, 1, 2, 3, 4]


def test_a_missing_frame_is_reported_lost_with_the_next_packet_for_fec():
    buffer = JitterBuffer(delay_ms=60)
    for seq in [0, 1, 3, 4]:
        buffer.push(frame(seq), seq * 20)
    assert buffer.pop(60).frame.sequence == 0
    assert buffer.pop(80).frame.sequence == 1
    lost = buffer.pop(100)
    assert lost.slot is Slot.LOST
    assert lost.next_packet == frame(3).packet
    assert drain(buffer, 120, 2) == [3, 4]
    assert buffer.stats["lost"] == 1


def test_duplicates_are_dropped_before_and_after_play_out():
    buffer = JitterBuffer(delay_ms=60)
    assert buffer.push(frame(0), 0) is None
    assert buffer.push(frame(1), 20) is None
    assert buffer.push(frame(1), 21) == DUPLICATE
    assert drain(buffer, 60, 1) == [0]
    assert buffer.push(frame(0), 70) == DUPLICATE
    assert drain(buffer, 80, 2) == [1, "lost"]


def test_a_frame_after_its_slot_is_late_and_never_played():
    buffer = JitterBuffer(delay_ms=60)
    for seq in [0, 1, 3]:
        buffer.push(frame(seq), seq * 20)
    assert drain(buffer, 60, 3) == [0, 1, "lost"]
    assert buffer.push(frame(2), 101) == LATE
    assert drain(buffer, 120, 2) == [3, "lost"]


def test_sequence_numbers_wrap_around():
    buffer = JitterBuffer(delay_ms=60)
    first = 0xFFFFFFFD
    order = [first, first + 2, first + 1, first + 3, first + 5, first + 4]
    for k, seq in enumerate(order):
        buffer.push(frame(seq, 1000.0 + k), k)
    played = drain(buffer, 60, 6)
    assert played == [(first + i) & 0xFFFFFFFF for i in range(6)]


def test_a_restarted_sender_is_followed_after_a_sequence_jump():
    buffer = JitterBuffer(delay_ms=60)
    for seq in range(100, 105):
        buffer.push(frame(seq, 5000.0 + seq), (seq - 100) * 20)
    assert drain(buffer, 60, 3) == [100, 101, 102]
    # The browser reconnected: its new encoder starts again at 0 with newer capture times.
    assert buffer.push(frame(0, 9000.0), 130) is None
    assert buffer.push(frame(1, 9020.0), 150) is None
    assert buffer.stats["resync"] == 1
    assert drain(buffer, 190, 2) == [0, 1]


def test_an_old_straggler_does_not_restart_the_stream():
    buffer = JitterBuffer(delay_ms=60)
    for seq in range(100, 104):
        buffer.push(frame(seq), (seq - 100) * 20)
    drain(buffer, 60, 2)
    assert buffer.push(frame(3), 100) == LATE  # far behind but captured long ago
    assert drain(buffer, 100, 2) == [102, 103]


def test_after_a_pause_the_speaker_goes_idle_and_the_next_spurt_starts_fresh():
    buffer = JitterBuffer(delay_ms=60, max_conceal=3)
    for seq in range(3):
        buffer.push(frame(seq), seq * 20)
    assert drain(buffer, 60, 8) == [0, 1, 2, "lost", "lost", "lost", "idle", "idle"]
    assert not buffer.active
    # DTX without packets: the sender skipped 40 frames, then talks again.
    buffer.push(frame(43), 1000)
    assert buffer.pop(1040).slot is Slot.IDLE
    assert buffer.pop(1060).frame.sequence == 43


def test_clear_discards_buffered_frames():
    buffer = JitterBuffer(delay_ms=60)
    for seq in range(4):
        buffer.push(frame(seq), seq * 20)
    buffer.clear()
    assert drain(buffer, 60, 2) == ["idle", "idle"]


def test_a_backlog_beyond_the_maximum_depth_is_trimmed():
    buffer = JitterBuffer(delay_ms=60)
    buffer.push(frame(0), 0)
    assert drain(buffer, 60, 1) == [0]
    for seq in range(1, 20):  # a burst after a network stall
        buffer.push(frame(seq), 70)
    played = drain(buffer, 80, 3)
    assert played == [17, 18, 19]
    assert buffer.stats["trimmed"] == 16
