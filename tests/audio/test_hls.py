"""The HLS writer (rooms/audio/hls.py): real Opus packets from the codec, real files on disk."""

import base64
import hashlib
import struct
import time

import numpy as np
import pytest

from rooms.audio import hls
from rooms.audio.codec import DTX_PACKET, make_decoder, make_encoder
from rooms.audio.wire import FRAME_SAMPLES, SAMPLE_RATE

T0_MS = 1_800_000_000_000.0


def make_writer(directory, **kwargs) -> hls.HlsWriter:
    """A writer of 1 s segments (50 frames, the default; settings.HLS_SEGMENT_SECONDS may be 1 or 2)."""
    return hls.HlsWriter(directory, segment_frames=50, **kwargs)


def tone_packets(count: int, *, hz: float = 440.0, start: int = 0) -> list[bytes]:
    encoder = make_encoder()
    packets = []
    for index in range(start, start + count):
        t = (np.arange(FRAME_SAMPLES) + index * FRAME_SAMPLES) / SAMPLE_RATE
        packets.append(encoder.encode((0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)))
    return packets


def feed(
    writer: hls.HlsWriter, packets: list[bytes], *, first_sequence: int = 0, t0_ms: float = T0_MS
) -> None:
    for offset, packet in enumerate(packets):
        writer.write(first_sequence + offset, t0_ms + offset * 20, packet)


def read_playlist(directory) -> hls.Playlist:
    return hls.parse_playlist((directory / hls.PLAYLIST).read_text())


def test_segments_hold_the_packets_unchanged_and_decode_to_the_tone(tmp_path):
    packets = tone_packets(100)
    writer = make_writer(tmp_path)
    feed(writer, packets)
    first = (tmp_path / "seg-0.m4s").read_bytes()
    second = (tmp_path / "seg-1.m4s").read_bytes()
    number, decode_time, inside = hls.segment_info(first)
    assert number == 0
    assert decode_time == round(T0_MS * 48)  # the first frame's mix time, in 48 kHz ticks
    assert inside == packets[:50]  # no re-encoding
    assert hls.segment_info(second)[1] - decode_time == 50 * FRAME_SAMPLES
    # What a player decodes is the tone: its spectrum peaks at 440 Hz.
    decoder = make_decoder()
    pcm = np.concatenate([decoder.decode(packet) for packet in hls.segment_info(second)[2]])
    spectrum = np.abs(np.fft.rfft(pcm))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / len(pcm) - 440) < 5


def test_init_segment_declares_one_opus_track_with_its_pre_skip(tmp_path):
    data = make_writer(tmp_path).directory.joinpath("init-1.mp4").read_bytes()
    kinds = [kind for kind, _ in hls.read_boxes(data)]
    assert kinds == [b"ftyp", b"moov"]
    at = data.index(b"dOps")
    version, channels, pre_skip, rate = struct.unpack_from(">BBHI", data, at + 4)
    assert (version, channels, pre_skip, rate) == (0, 1, hls.PRE_SKIP, SAMPLE_RATE)
    assert b"Opus" in data and b"mvex" in data


def test_the_playlist_slides_and_segments_leave_the_disk_later(tmp_path):
    writer = make_writer(tmp_path, window=3)
    feed(writer, tone_packets(50 * 10))
    playlist = read_playlist(tmp_path)
    assert [entry.number for entry in playlist.entries] == [7, 8, 9]
    assert playlist.media_sequence == 7
    text = (tmp_path / hls.PLAYLIST).read_text()
    assert "#EXT-X-MEDIA-SEQUENCE:7" in text and "#EXT-X-TARGETDURATION:1" in text
    assert text.count("#EXTINF:1.000,") == 3 and "#EXT-X-DISCONTINUITY\n" not in text
    # Two-second segments (HLS_SEGMENT_SECONDS=2) say so in the playlist.
    feed(hls.HlsWriter(tmp_path / "two", segment_frames=100), tone_packets(200))
    two = (tmp_path / "two" / hls.PLAYLIST).read_text()
    assert "#EXT-X-TARGETDURATION:2" in two and two.count("#EXTINF:2.000,") == 2
    # Kept twice the window on disk (removed every `window` segments), never the whole history.
    on_disk = sorted(int(p.stem.split("-")[1]) for p in tmp_path.glob("seg-*.m4s"))
    assert on_disk[-1] == 9 and on_disk[0] >= 9 - 2 * 3 - 3 and 0 not in on_disk
    # No temporary file is left behind by the atomic writes.
    assert not list(tmp_path.glob(".*tmp"))


def test_silence_and_skipped_frames_keep_the_timeline(tmp_path):
    writer = make_writer(tmp_path)
    packets = tone_packets(20)
    for sequence in range(20):
        writer.write(sequence, T0_MS + sequence * 20, packets[sequence])
    # The room went quiet (empty packets), then the clock stalled and skipped 10 frames.
    for sequence in range(20, 30):
        writer.write(sequence, T0_MS + sequence * 20, b"")
    for sequence in range(40, 60):
        writer.write(sequence, T0_MS + sequence * 20, packets[0])
    _, _, inside = hls.segment_info((tmp_path / "seg-0.m4s").read_bytes())
    assert len(inside) == 50
    assert inside[20:40] == [DTX_PACKET] * 20


def test_a_mixer_that_takes_over_continues_the_playlist_with_a_discontinuity(tmp_path):
    first = make_writer(tmp_path, window=4)
    feed(first, tone_packets(50 * 5))
    # The first mixer is killed here: no close, nothing flushed. A second one takes the room over,
    # its own sequence numbers starting again from 0.
    second = make_writer(tmp_path, window=4)
    assert second.init_name == "init-2.mp4"
    feed(second, tone_packets(50 * 2), t0_ms=T0_MS + 7000)
    playlist = read_playlist(tmp_path)
    assert [entry.number for entry in playlist.entries] == [3, 4, 5, 6]
    assert [entry.init for entry in playlist.entries] == [
        "init-1.mp4",
        "init-1.mp4",
        "init-2.mp4",
        "init-2.mp4",
    ]
    assert [entry.discontinuity for entry in playlist.entries] == [False, False, True, False]
    text = (tmp_path / hls.PLAYLIST).read_text()
    assert text.index("seg-4.m4s") < text.index("#EXT-X-DISCONTINUITY\n") < text.index('init-2.mp4"')
    assert text.index('init-2.mp4"') < text.index("seg-5.m4s")
    assert hls.segment_info((tmp_path / "seg-5.m4s").read_bytes())[0] == 5
    # Once the discontinuity slides out, the discontinuity sequence counts it.
    feed(second, tone_packets(50 * 4), first_sequence=100, t0_ms=T0_MS + 9000)
    playlist = read_playlist(tmp_path)
    assert playlist.discontinuity_sequence == 1
    assert {entry.init for entry in playlist.entries} == {"init-2.mp4"}
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:1" in (tmp_path / hls.PLAYLIST).read_text()


def test_a_takeover_with_a_discontinuity_still_at_the_front_keeps_counting_right(tmp_path):
    for generation in range(3):
        feed(make_writer(tmp_path, window=2), tone_packets(50 * 2), t0_ms=T0_MS + generation * 3000)
    playlist = read_playlist(tmp_path)
    assert [entry.number for entry in playlist.entries] == [4, 5]
    # Generations 2 and 3 each began with a discontinuity; generation 2's has left the window.
    assert playlist.entries[0].discontinuity and playlist.discontinuity_sequence == 1


def test_a_broken_playlist_on_disk_does_not_restart_the_numbers(tmp_path):
    feed(make_writer(tmp_path), tone_packets(50 * 3))
    (tmp_path / hls.PLAYLIST).write_text("garbage")
    writer = make_writer(tmp_path)
    assert writer.next_number == 3 and writer.discontinuity


def test_parse_playlist_refuses_what_it_does_not_understand():
    with pytest.raises(ValueError):
        hls.parse_playlist("not a playlist")
    with pytest.raises(ValueError):
        hls.parse_playlist("#EXTM3U\n#EXTINF:1.0,\n../../etc/passwd\n")


def test_closing_for_an_ended_room_removes_its_files(tmp_path):
    directory = tmp_path / "public" / "7"
    writer = make_writer(directory)
    feed(writer, tone_packets(60))
    writer.close()
    assert (directory / hls.PLAYLIST).exists()  # a mixer letting go keeps them for the next one
    writer = make_writer(directory)
    writer.close(remove=True)
    assert not directory.exists()
    writer.write(0, T0_MS, b"x")  # a closed writer writes nothing
    assert not directory.exists()


def test_signatures_match_nginx_secure_link_and_expire():
    secret = "s3cret"
    expires = int(time.time()) + 60
    md5 = hls.signature(room_id=5, listener="tok-1", expires=expires, secret=secret)
    # nginx: secure_link_md5 "$expires/$listener/$room/ $secret", base64url without padding.
    expected = base64.urlsafe_b64encode(hashlib.md5(f"{expires}/tok-1/5/ {secret}".encode()).digest())
    assert md5 == expected.decode().rstrip("=")

    def check(room_id=5, listener="tok-1", expires=expires, secret=secret, **kwargs):
        return hls.check_signature(
            room_id=room_id, listener=listener, expires=expires, md5=md5, secret=secret, **kwargs
        )

    assert check() == "ok"
    assert check(room_id=6) == "invalid"
    assert check(listener="tok-2") == "invalid"  # another listener's URL
    assert check(listener="tok/1") == "invalid"
    assert check(expires=expires + 1) == "invalid"
    assert check(secret="other") == "invalid"
    # Refused from the second after `expires`, as nginx counts (whole seconds).
    assert check(now=expires + 0.9) == "ok"
    assert check(now=expires + 1) == "expired"
    path = hls.signed_path(room_id=5, listener="tok-1", expires=expires, secret=secret)
    assert path == f"s/{expires}/{md5}/tok-1/5/index.m3u8"
    with pytest.raises(ValueError):
        hls.signed_path(room_id=5, listener="../1", expires=expires, secret=secret)
