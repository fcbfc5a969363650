import math
import os

import numpy as np
import pytest

from rooms.audio import codec, wire
from rooms.audio.mixer import Limiter, RoomMixer, soft_clip

from .signals import FRAME, T0, amplitude_at, decode, rms, tone, uplinks

A, B, C = 11, 22, 33


class Room:
    """Drive a RoomMixer in real time: frame k of every voice arrives 5 ms after its capture and the
    mixer ticks every 20 ms; keep every receiver's packets in order."""

    def __init__(self, **options):
        self.recorded = []
        self.mixer = RoomMixer(on_program_packet=self._record, **options)
        self.streams: dict[int, list[bytes]] = {}
        self.bundles: dict[int, list[wire.Bundle]] = {}
        self.tick = 0

    def _record(self, sequence, mixed_ms, packet, voices):
        self.recorded.append((sequence, packet, voices))

    def run(self, voices: dict[int, list[bytes]], ticks: int | None = None) -> None:
        # Voice lists are indexed by absolute tick; by default run to the end of the longest.
        ticks = ticks if ticks is not None else max(len(v) for v in voices.values()) - self.tick
        for _ in range(ticks):
            k = self.tick
            now = T0 + 20 * k
            for user_id, frames in voices.items():
                if k < len(frames) and frames[k] is not None:
                    self.mixer.push(user_id, frames[k], now + 5)
            for receiver, data in self.mixer.tick(now + 20):
                bundle = wire.decode_bundle(data)
                self.bundles.setdefault(receiver, []).append(bundle)
                self.streams.setdefault(receiver, []).extend(bundle.packets)
            self.tick += 1

    def audio(self, receiver: int, start: int = 0, end: int | None = None) -> np.ndarray:
        # Decode the whole stream so the decoder keeps its state, then cut the frames asked for.
        pcm = decode(self.streams[receiver])
        return pcm[start * FRAME : (end * FRAME if end is not None else None)]


def open_room(allowed, stage=(), **options) -> Room:
    room = Room(**options)
    room.mixer.set_allowed(allowed)
    room.mixer.set_stage(stage)
    return room


def test_mix_minus_leaves_out_the_receivers_own_voice():
    room = open_room([A, B], stage=[A, B])
    room.run({A: uplinks(tone(440, 60)), B: uplinks(tone(880, 60), first_seq=5000)})

    program = room.audio(0, 10)
    assert amplitude_at(program, 440) > 0.2
    assert amplitude_at(program, 880) > 0.2
    for_a = room.audio(A, 10)
    assert amplitude_at(for_a, 440) < 0.005
    assert amplitude_at(for_a, 880) > 0.2
    for_b = room.audio(B, 10)
    assert amplitude_at(for_b, 880) < 0.005
    assert amplitude_at(for_b, 440) > 0.2
    assert all(bundle.mix_minus for bundle in room.bundles[A])
    assert not any(bundle.mix_minus for bundle in room.bundles[0])


def test_bundles_carry_consecutive_frames_and_the_oldest_capture_time():
    room = open_room([A], bundle_frames=3, start_sequence=0xFFFFFFFE)
    room.run({A: uplinks(tone(440, 30))})
    bundles = room.bundles[0]
    assert [b.sequence for b in bundles[:3]] == [0xFFFFFFFE, 1, 4]
    assert all(len(b.packets) == 3 for b in bundles)
    # A's first frame arrives 5 ms after capture and waits 60 ms: it is mixed at the 4th tick.
    assert bundles[0].oldest_capture_ms == 0.0
    for j in range(1, len(bundles)):
        assert bundles[j].oldest_capture_ms == T0 + 20 * (3 * j - 3)
    assert bundles[1].mixed_ms - bundles[0].mixed_ms == 60


def test_listeners_and_stage_get_bundles_of_their_own_length_covering_every_frame():
    room = open_room([A, B], stage=[A, B], bundle_frames=5, stage_bundle_frames=3)
    room.run({A: uplinks(tone(440, 30)), B: uplinks(tone(880, 30), first_seq=500)})
    assert {len(b.packets) for b in room.bundles[0]} == {5}
    assert {len(b.packets) for b in room.bundles[A]} == {3}
    assert [b.mix_minus for b in room.bundles[A]] == [True] * len(room.bundles[A])
    # No frame is skipped or sent twice in either stream.
    for receiver, step in ((0, 5), (A, 3)):
        sequences = [b.sequence for b in room.bundles[receiver]]
        assert sequences == list(range(sequences[0], sequences[0] + step * len(sequences), step))
    assert len(room.streams[0]) == 30 and len(room.streams[A]) == 30
    late = slice(10, 30)  # after the jitter buffer has filled
    assert amplitude_at(room.audio(A, late.start, late.stop), 880) > 0.05
    assert amplitude_at(room.audio(A, late.start, late.stop), 440) < 0.01


def test_the_program_is_observable_packet_by_packet_for_recording():
    room = open_room([A, B], stage=[B])
    room.run({A: uplinks(tone(440, 30)), B: uplinks(tone(880, 30))})
    assert [packet for _, packet, _ in room.recorded][: len(room.streams[0])] == room.streams[0]
    assert [seq for seq, _, _ in room.recorded] == list(range(len(room.recorded)))
    assert room.recorded[10][2] == frozenset({A, B})  # who spoke, for the recording's timeline


def test_a_single_voice_keeps_its_level():
    room = open_room([A])
    room.run({A: uplinks(tone(440, 40, amplitude=0.25))})
    assert amplitude_at(room.audio(0, 10), 440) == pytest.approx(0.25, rel=0.1)


def test_two_full_scale_voices_never_overflow():
    room = open_room([A, B])
    peaks = []
    voices = {A: uplinks(tone(440, 60, amplitude=0.99)), B: uplinks(tone(440, 60, amplitude=0.99))}
    for k in range(60):
        room.run({u: [None] * k + frames[k : k + 1] for u, frames in voices.items()}, ticks=1)
        peaks.append(float(np.max(np.abs(room.mixer.last_program_pcm))))
    assert max(peaks) <= 1.0
    assert max(peaks[10:]) > 0.8  # limited, not muted
    samples = np.round(room.mixer.last_program_pcm * 32767).astype(np.int64)
    assert samples.max() <= 32767 and samples.min() >= -32768
    # The decoded program is one clean (limited) tone, not a wrapped-around mess.
    heard = room.audio(0, 20)
    assert amplitude_at(heard, 440) > 0.6
    assert rms(heard) < 0.75


def test_the_limiter_bounds_any_input_and_recovers():
    limiter = Limiter()
    loud = np.full(FRAME, 3.0, dtype=np.float32)
    loud[::2] = -3.0
    for _ in range(3):
        assert float(np.max(np.abs(limiter.process(loud)))) <= 1.0
    quiet = tone(440, 1, amplitude=0.5)
    for _ in range(100):
        out = limiter.process(quiet)
    assert np.allclose(out, quiet)
    assert float(np.max(np.abs(soft_clip(np.array([50.0, -50.0, 0.5], dtype=np.float32))))) <= 1.0


def test_levels_follow_who_is_speaking():
    room = open_room([A, B, C])
    silence = np.zeros(40 * FRAME, dtype=np.float32)
    room.run(
        {
            A: uplinks(tone(440, 40, amplitude=0.5)),
            B: uplinks(tone(660, 40, amplitude=0.02)),
            C: uplinks(silence),
        }
    )
    levels = room.mixer.levels()
    assert 0.8 < levels[A] <= 1.0
    assert 0.2 < levels[B] < levels[A]
    assert levels[C] < 0.05


def test_a_silent_room_stops_encoding_and_sends_empty_frames():
    room = open_room([A], stage=[A])
    dtx = [wire.encode_uplink(i, T0 + 20 * i, codec.DTX_PACKET) for i in range(40)]
    room.run({A: dtx})
    encodes = room.mixer.stats["encodes"]
    room.run(
        {
            A: [None] * 40
            + [wire.encode_uplink(40 + i, T0 + 800 + 20 * i, codec.DTX_PACKET) for i in range(20)]
        }
    )
    assert room.mixer.stats["encodes"] == encodes  # nothing heard, nothing encoded
    assert set(room.streams[0][-20:]) == {b""}
    assert set(room.streams[A][-20:]) == {b""}
    assert room.mixer.voices == frozenset()


def test_a_voice_that_goes_quiet_drops_out_of_the_mix():
    room = open_room([A])
    voice = tone(440, 80)
    voice[40 * FRAME :] = 0.0
    room.run({A: uplinks(voice)})
    assert amplitude_at(room.audio(0, 10, 40), 440) > 0.2
    assert rms(room.audio(0, 60, 80)) < 0.001
    assert room.streams[0][-5:] == [b""] * 5


def test_speakers_join_and_leave_mid_stream():
    room = open_room([A], stage=[A, B])
    a = uplinks(tone(440, 150))
    b = uplinks(tone(880, 150), first_seq=777)
    room.run({A: a, B: b}, ticks=50)  # B is not allowed yet
    room.mixer.set_allowed([A, B])  # B joins the speakers
    room.run({A: a, B: b}, ticks=50)
    room.mixer.set_allowed([B])  # A leaves
    room.run({A: a, B: b}, ticks=50)

    assert amplitude_at(room.audio(0, 10, 48), 880) < 0.005
    assert amplitude_at(room.audio(0, 10, 48), 440) > 0.2
    assert amplitude_at(room.audio(0, 60, 98), 880) > 0.2
    assert amplitude_at(room.audio(0, 60, 98), 440) > 0.2
    assert amplitude_at(room.audio(0, 105, 150), 440) < 0.005
    assert amplitude_at(room.audio(0, 105, 150), 880) > 0.2
    assert room.mixer.stats["not_allowed"] == 100


def test_muting_silences_a_speaker_from_the_next_tick():
    room = open_room([A, B])
    a, b = uplinks(tone(440, 60)), uplinks(tone(880, 60))
    room.run({A: a[:30], B: b[:30]})
    room.mixer.set_allowed([B])  # A is muted with frames still in the jitter buffer
    room.run({A: [None] * 30 + a[30:], B: [None] * 30 + b[30:]})
    assert A not in room.recorded[30][2]
    assert amplitude_at(room.audio(0, 31, 60), 440) < 0.005
    assert amplitude_at(room.audio(0, 31, 60), 880) > 0.2


def test_garbage_is_counted_and_harmless():
    rng = np.random.default_rng(3)
    room = open_room([A, B], stage=[A])
    good = uplinks(tone(440, 60))
    header = good[0][:13]
    junk = [
        rng.bytes(40),  # random bytes
        good[0][:10],  # truncated header
        header,  # header with no packet
        b"\x01" + b"\xff" * (wire.MAX_UPLINK_BYTES + 1),  # oversized
        b"\x02" + good[0][1:],  # wrong kind
        wire.encode_uplink(5, float("nan"), b"\x08abc"),  # bad capture time
        wire.encode_uplink(5, T0, bytes([(3 << 3) | 0]) + b"abc"),  # a 60 ms packet
        wire.encode_uplink(5, T0, bytes([3, 0])),  # code 3 packet with no frame
        "not bytes",
    ]
    for _ in range(3):
        for data in junk:
            assert room.mixer.push(B, data, T0) is False
    assert room.mixer.push_tagged(b"\x00\x01", T0) is False
    # Random Opus payloads behind a valid header reach the decoder: they must not break the mixer.
    noise = [wire.encode_uplink(i, T0 + 20 * i, bytes([(1 << 3)]) + rng.bytes(60)) for i in range(60)]
    room.run({A: good, B: noise})
    stats = room.mixer.stats
    assert stats["malformed"] == 3 * 6 + 1
    assert stats["oversized"] == 3
    assert stats["bad_packet"] == 6
    # The mixer kept going: A is heard in the program and left out of A's own stream (which holds B's noise).
    assert len(room.streams[0]) == len(room.streams[A]) == 60
    assert amplitude_at(room.audio(0, 10), 440) > 0.2
    assert amplitude_at(room.audio(A, 10), 440) < 0.05


def test_frames_from_someone_not_allowed_are_dropped():
    room = open_room([A])
    room.run({A: uplinks(tone(440, 40)), C: uplinks(tone(1320, 40))})
    assert room.mixer.stats["not_allowed"] == 40
    assert amplitude_at(room.audio(0, 10), 1320) < 0.005
    assert amplitude_at(room.audio(0, 10), 440) > 0.2


def test_duplicates_and_late_frames_are_counted_through_the_mixer():
    room = open_room([A])
    a = uplinks(tone(440, 20))
    room.run({A: a[:10]})
    assert room.mixer.push(A, a[9], T0 + 300) is False
    assert room.mixer.push(A, a[2], T0 + 300) is False
    assert room.mixer.stats["duplicate"] == 2
    room.run({A: [None] * 10 + [a[10], None, a[12], a[13], a[14]]})
    assert room.mixer.push(A, a[11], T0 + 400) is False
    assert room.mixer.stats["late"] == 1
    assert room.mixer.stats["concealed"] >= 1


def test_a_silent_stage_member_gets_the_program_packet_without_an_extra_encode():
    room = open_room([A, B], stage=[A, B])
    a, b = uplinks(tone(440, 80)), uplinks(tone(880, 80))
    silence = uplinks(np.zeros(60 * FRAME, dtype=np.float32))[:40]
    room.run({A: a, B: silence}, ticks=40)
    before = room.mixer.stats["encodes"]
    room.run({A: a, B: silence + [None] * 20}, ticks=20)
    assert room.mixer.stats["encodes"] - before == 20  # only the program: B is silent, A's mix-minus is empty
    assert room.streams[B][-20:] == room.streams[0][-20:]
    assert set(room.streams[A][-20:]) == {b""}  # A alone: A's mix-minus is silence, sent as empty frames

    before = room.mixer.stats["encodes"]
    room.run({A: a, B: [None] * 60 + b[60:80]})
    # Both heard: program + A's + B's mix-minus every frame, plus priming B's idle encoder once.
    assert room.mixer.stats["encodes"] - before <= 3 * 20 + 1
    assert room.mixer.stats["encodes"] - before >= 2 * 20 + 1


@pytest.mark.skipif(len(codec.available_backends()) < 2, reason="only one codec backend here")
def test_the_pyav_backend_mixes_too(monkeypatch):
    monkeypatch.setitem(os.environ, "SPACES_OPUS_BACKEND", "pyav")
    room = open_room([A, B], stage=[A], codec_backend="pyav")
    room.run({A: uplinks(tone(440, 40)), B: uplinks(tone(880, 40))})
    assert amplitude_at(room.audio(A, 10), 440) < 0.005
    assert amplitude_at(room.audio(A, 10), 880) > 0.2
    assert not math.isnan(rms(room.audio(0)))
