"""HLS in object storage (HLS_STORAGE=s3, rooms/live/hls_s3.py) against a real S3 server (moto's):
segments before the playlist that names them, the headers a CDN goes by, old segments deleted, a
takeover continuing, a slow store that never holds the mixer's clock, the sweep and Django's views."""

import time

import numpy as np
import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from rooms.audio import hls as files
from rooms.audio.codec import make_encoder
from rooms.audio.wire import FRAME_SAMPLES, SAMPLE_RATE
from rooms.live import hls, hls_s3
from rooms.live.presence import get_presence
from rooms.models import Room
from tests.factories import RoomFactory
from tests.hls_s3 import PausableProxy, PlaylistWatcher, use_bucket

pytestmark = pytest.mark.django_db

IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture
def bucket(settings, s3_server):
    name = s3_server.new_bucket()
    use_bucket(settings, s3_server, name)
    return name


def tone_packet() -> bytes:
    t = np.arange(FRAME_SAMPLES) / SAMPLE_RATE
    return make_encoder().encode((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))


def play(writer: files.HlsWriter, frames: int, *, first: int = 0) -> float:
    """Feed `frames` packets at the mixer's pace (20 ms); return the longest write() took (s)."""
    packet, started, longest = tone_packet(), time.monotonic(), 0.0
    for index in range(frames):
        delay = started + index * 0.02 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        before = time.monotonic()
        writer.write(first + index, time.time() * 1000, packet)
        longest = max(longest, time.monotonic() - before)
    return longest


def test_a_rooms_hls_goes_to_the_bucket_segments_before_their_playlist(s3_server, bucket):
    room = RoomFactory(large_audience=True)
    prefix = f"hls/public/{room.pk}/"
    # The room's store, with a shorter window than production's so that segments leave it in time.
    store = hls_s3.open_store(room.pk, files.PUBLIC, window=3)
    writer = files.HlsWriter(store, segment_frames=50, window=3)
    watcher = PlaylistWatcher(s3_server, bucket, prefix)
    watcher.start()
    try:
        play(writer, 12 * 50)
    finally:
        writer.close()
        writer.store.join(15)
        watcher.stop()
    # Read over and over while the room ran, the playlist never named a file not there yet.
    assert len(watcher.playlists) >= 8
    assert watcher.missing == []
    keys = s3_server.keys(bucket)
    # Segments 0-11 written; those a window behind the playlist's (keep = 6) deleted, every 3.
    assert sorted(k for k in keys if k.startswith(prefix + "seg-")) == sorted(
        f"{prefix}seg-{n}.m4s" for n in range(4, 12)
    )
    assert f"{prefix}init-1.mp4" in keys and f"{prefix}index.m3u8" in keys
    client = s3_server.client()
    segment = client.head_object(Bucket=bucket, Key=prefix + "seg-11.m4s")
    assert (segment["CacheControl"], segment["ContentType"]) == (IMMUTABLE, "audio/mp4")
    init = client.head_object(Bucket=bucket, Key=prefix + "init-1.mp4")
    assert (init["CacheControl"], init["ContentType"]) == (IMMUTABLE, "audio/mp4")
    playlist = client.get_object(Bucket=bucket, Key=prefix + "index.m3u8")
    # Fresh for at most half a 1 s segment: whole seconds, so none.
    assert playlist["CacheControl"] == "public, max-age=0"
    assert playlist["ContentType"] == "application/vnd.apple.mpegurl"
    entries = files.parse_playlist(playlist["Body"].read().decode()).entries
    assert [entry.uri for entry in entries] == ["seg-9.m4s", "seg-10.m4s", "seg-11.m4s"]
    # What the segments hold is what the writer made of the mixer's packets.
    number, _, packets = files.segment_info(
        client.get_object(Bucket=bucket, Key=prefix + "seg-11.m4s")["Body"].read()
    )
    assert number == 11 and len(packets) == 50
    # Every segment's way into the bucket was timed; none waited for a newer playlist.
    assert [timing.segment for timing in writer.store.timings][-3:] == [
        "seg-9.m4s",
        "seg-10.m4s",
        "seg-11.m4s",
    ]
    assert all(timing.playlist_stored_ms is not None for timing in writer.store.timings)


def test_a_store_that_hangs_never_holds_the_clock_nor_names_a_missing_segment(settings, s3_server, bucket):
    proxy = PausableProxy(s3_server.port)
    use_bucket(settings, s3_server, bucket, endpoint=proxy.endpoint)
    prefix = "hls/public/424242/"
    store = hls_s3.S3HlsStore(
        s3=hls_s3.client(), bucket=bucket, prefix=prefix, segment_seconds=1, limit=2, grace_s=3
    )
    writer = files.HlsWriter(store, segment_frames=50, window=3)
    watcher = PlaylistWatcher(s3_server, bucket, prefix)
    watcher.start()
    try:
        longest = play(writer, 2 * 50)
        proxy.pause()  # every request from now on hangs (the client gives up after its timeouts)
        longest = max(longest, play(writer, 6 * 50, first=100))
        proxy.resume()
        longest = max(longest, play(writer, 8 * 50, first=400))
    finally:
        writer.close()
        store.join(30)
        watcher.stop()
        proxy.close()
    # The clock went on at its pace: a write that waited on the store would have taken seconds.
    assert longest < 0.5
    # Segments the queue had no room for were dropped; a playlist naming one never went up.
    assert store.dropped_segments >= 2
    assert watcher.missing == []
    # Once the store answered again, the playlist caught up with the newest segment.
    text = s3_server.client().get_object(Bucket=bucket, Key=prefix + "index.m3u8")["Body"].read().decode()
    final = files.parse_playlist(text)
    assert final.entries[-1].number == writer.next_number - 1


def test_a_mixer_taking_the_room_over_continues_the_bucket_and_the_room_s_end_removes_it(s3_server, bucket):
    room = RoomFactory(large_audience=True, allow_anonymous=False)
    prefix = f"hls/private/{room.pk}/"
    first = hls.open_writer(room.pk)
    assert isinstance(first.store, hls_s3.S3HlsStore)
    play(first, 3 * 50)
    first.close()  # the mixer let go (the room goes on): the files stay for the next one
    first.store.join(15)
    assert f"{prefix}index.m3u8" in s3_server.keys(bucket)
    # Another mixer: the playlist is in the bucket, so the room's HLS goes on without any flag.
    assert hls.hls_wanted(room.pk) == files.PRIVATE
    second = hls.open_writer(room.pk)
    assert (second.next_number, second.init_name, second.discontinuity) == (3, "init-2.mp4", True)
    play(second, 2 * 50, first=1000)
    second.close(remove=True)  # the room ended
    second.store.join(15)
    assert [key for key in s3_server.keys(bucket) if key.startswith(prefix)] == []


def test_the_sweep_removes_from_the_bucket_what_rooms_no_longer_live_left(s3_server, bucket):
    live = RoomFactory()
    ended = RoomFactory(state=Room.State.ENDED, ended_at=timezone.now())
    client = s3_server.client()
    for room in (live, ended):
        for name in ("index.m3u8", "init-1.mp4", "seg-3.m4s"):
            client.put_object(Bucket=bucket, Key=f"hls/public/{room.pk}/{name}", Body=b"x")
    client.put_object(Bucket=bucket, Key="hls/private/999999/seg-1.m4s", Body=b"x")
    client.put_object(Bucket=bucket, Key="avatars/a.webp", Body=b"face")  # not HLS: never touched
    # Just written (a mixer may still be finishing): left for the next sweep.
    assert hls.remove_ended() == []
    assert sorted(hls.remove_ended(now=time.time() + 120)) == sorted([ended.pk, 999999])
    assert s3_server.keys(bucket) == sorted(
        [
            "avatars/a.webp",
            *(f"hls/public/{live.pk}/{name}" for name in ("index.m3u8", "init-1.mp4", "seg-3.m4s")),
        ]
    )


def test_without_nginx_django_serves_the_bucket_s_files(client, s3_server, bucket):
    room = RoomFactory()
    s3 = s3_server.client()
    s3.put_object(Bucket=bucket, Key=f"hls/public/{room.pk}/seg-3.m4s", Body=b"segment")
    segment = client.get(f"/hls/{room.pk}/seg-3.m4s")
    assert segment.status_code == 200 and segment.content == b"segment"
    assert segment["Cache-Control"] == IMMUTABLE
    assert client.get(f"/hls/{room.pk}/seg-4.m4s").status_code == 404
    waiting = client.get(f"/hls/{room.pk}/index.m3u8")
    assert waiting.status_code == 200 and b"#EXT-X-MEDIA-SEQUENCE:0" in waiting.content
    assert waiting["Cache-Control"] == "no-cache"


def test_a_room_whose_playlist_is_in_the_bucket_goes_on_with_hls_and_the_bucket_is_asked_once_a_minute(
    s3_server, bucket
):
    room, other = RoomFactory(), RoomFactory()
    # Room ids come round again in a new test database: no flag left from an earlier run.
    for each in (room, other):
        async_to_sync(get_presence().take_flag)(hls.hls_flag(each.pk))
    s3_server.client().put_object(Bucket=bucket, Key=f"hls/public/{room.pk}/index.m3u8", Body=b"#EXTM3U\n")
    assert hls.hls_wanted(room.pk) == files.PUBLIC  # a mixer taking it over continues it
    assert hls.hls_wanted(other.pk) is None
    # Asked again at the next stage reload: the answer this process had is kept for a minute, and
    # the room's HLS flag (raised by a socket sending a listener to HLS) still starts it at once.
    s3_server.client().put_object(Bucket=bucket, Key=f"hls/public/{other.pk}/index.m3u8", Body=b"#EXTM3U\n")
    assert hls.hls_wanted(other.pk) is None
    async_to_sync(get_presence().flag)(hls.hls_flag(other.pk))
    assert hls.hls_wanted(other.pk) == files.PUBLIC
