"""Finalizing a capture into the replay files, without Django: what the task and the benchmark run."""

import base64

import pytest
from mutagen.flac import Picture
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus

from recordings.artwork import render_cover
from recordings.finalize import FinalizeError, ReplayTags, finalize_capture, read_capture
from rooms.audio import ogg

from .helpers import amplitude_at, capture_tone, decode_m4a

TAGS = ReplayTags(
    title="Tones at noon",
    artist="Ada",
    date="2025-05-01",
    topics=["audio", "testing"],
    comment="Recorded live on Spaces.",
)


@pytest.fixture
def tags():
    return ReplayTags(
        **{**TAGS.__dict__, "cover_jpeg": render_cover(title=TAGS.title, host="Ada", topics=TAGS.topics)}
    )


def test_a_capture_becomes_a_tagged_m4a_and_ogg_with_the_tone_and_the_length(tmp_path, tags):
    capture = tmp_path / "capture"
    capture_tone(capture, speaker_id=7, seconds=3, silent_tail_s=1)
    result = finalize_capture(capture, tmp_path, tags=tags)

    assert result.duration_ms == 4000 and result.packets == 200
    assert abs(result.m4a_duration_ms - 4000) <= 100
    pcm, rate = decode_m4a(tmp_path / "replay.m4a")
    assert abs(len(pcm) / rate - 4.0) <= 0.1
    assert amplitude_at(pcm[rate // 2 : int(2.5 * rate)], 440, rate) > 0.1
    assert amplitude_at(pcm[int(3.5 * rate) :], 440, rate) < 0.01  # the silent tail stays silent

    m4a = MP4(str(tmp_path / "replay.m4a"))
    assert m4a["\xa9nam"] == ["Tones at noon"] and m4a["\xa9ART"] == ["Ada"]
    assert m4a["\xa9gen"] == ["audio, testing"] and m4a["\xa9day"] == ["2025-05-01"]
    assert bytes(m4a["covr"][0]) == tags.cover_jpeg

    original = OggOpus(str(tmp_path / "original.ogg"))
    assert original["title"] == ["Tones at noon"] and original["genre"] == ["audio", "testing"]
    picture = Picture(base64.b64decode(original["metadata_block_picture"][0]))
    assert picture.data == tags.cover_jpeg and picture.mime == "image/jpeg"
    assert original.info.length == pytest.approx((200 * 960 - 312) / 48_000, abs=0.001)

    # The original holds the captured packets untouched.
    captured = read_capture(capture).packets
    assert ogg.read_opus_stream((tmp_path / "original.ogg").read_bytes()).packets == captured
    # One turn: the tone, from the jitter buffer's delay to the end of the gate's hang-over.
    [(user, start, end)] = result.turns
    assert user == 7 and start <= 100 and 3000 <= end <= 3400
    assert len(result.peaks) == 1000 and max(result.peaks[:700]) > 0.2 and max(result.peaks[-200:]) < 0.01


def test_segments_from_a_mixer_takeover_are_joined_in_order(tmp_path, tags):
    capture = tmp_path / "capture"
    first = capture_tone(capture, speaker_id=7, seconds=2, freq=440, close=False)  # this mixer "dies"
    capture_tone(capture, speaker_id=8, seconds=2, freq=880)
    result = finalize_capture(capture, tmp_path, tags=tags)
    assert first.number == 1 and [s.number for s in result.segments] == [1, 2]
    assert [s.eos for s in result.segments] == [False, True]
    assert result.duration_ms == 4000
    pcm, rate = decode_m4a(tmp_path / "replay.m4a")
    assert amplitude_at(pcm[int(0.3 * rate) : int(1.7 * rate)], 440, rate) > 0.1
    assert amplitude_at(pcm[int(2.3 * rate) : int(3.7 * rate)], 880, rate) > 0.1
    assert amplitude_at(pcm[int(2.3 * rate) : int(3.7 * rate)], 440, rate) < 0.02
    speakers = [(user, start // 100) for user, start, _ in result.turns]
    assert speakers == [(7, 0), (8, 20)]


def test_finalizing_twice_gives_the_same_files(tmp_path, tags):
    capture = tmp_path / "capture"
    capture_tone(capture, speaker_id=7, seconds=1)
    finalize_capture(capture, tmp_path, tags=tags)
    first = (tmp_path / "original.ogg").read_bytes()
    finalize_capture(capture, tmp_path, tags=tags)
    assert (tmp_path / "original.ogg").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["capture", "original.ogg", "replay.m4a"]


def test_nothing_captured_is_an_error(tmp_path, tags):
    with pytest.raises(FinalizeError, match="Nothing was captured"):
        finalize_capture(tmp_path / "capture", tmp_path, tags=tags)
