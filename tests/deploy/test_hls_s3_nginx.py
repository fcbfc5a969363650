"""deploy/'s nginx in front of the bucket (HLS_STORAGE=s3, deploy/nginx/hls-bucket.conf): the same
URLs, answers and signature checks as from disk (tests/deploy/test_hls_nginx.py), the files fetched
from a real S3 server (moto's), with the headers a CDN goes by and playlists never more than a
fraction of a segment old."""

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from deploy import harness
from rooms import hls_views
from rooms.audio import hls, signing
from rooms.live import hls_s3
from tests.s3 import S3Server

SECRET = "a-test-only-hls-secret"
PLAYLIST = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:5\n"

pytestmark = pytest.mark.skipif(not Path(harness.NGINX).exists(), reason="needs Debian's nginx")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    server = S3Server().start()
    try:
        bucket = server.new_bucket()
        work = tmp_path_factory.mktemp("hls-s3-nginx")
        rendered = harness.render_local_site(
            work,
            MEDIA_ROOT=str(work / "media"),
            HLS_STORAGE="s3",
            S3_BUCKET=bucket,
            S3_ENDPOINT_URL=server.endpoint,
            HLS_PROXY_CACHE_DIR=str(work / "hls-cache"),
            HLS_SIGNING_SECRET=SECRET,
        )
        s3 = server.client()
        # The bucket is private; nginx, on this machine, may read its HLS objects without signing.
        policy = hls_s3.edge_read_policy(bucket=bucket, prefix="hls/", source_ips=["127.0.0.1/32"])
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
        for access, room in (("public", 11), ("private", 12)):
            prefix = f"hls/{access}/{room}/"
            s3.put_object(
                Bucket=bucket,
                Key=prefix + "index.m3u8",
                Body=PLAYLIST.encode(),
                ContentType="application/vnd.apple.mpegurl",
                CacheControl="public, max-age=0",
            )
            for name, body in (("init-1.mp4", b"init"), ("seg-5.m4s", b"segment")):
                s3.put_object(
                    Bucket=bucket,
                    Key=prefix + name,
                    Body=body,
                    ContentType="audio/mp4",
                    CacheControl="public, max-age=31536000, immutable",
                )
        with harness.Processes(work / "logs") as processes:
            harness.start_nginx(
                processes,
                work / "nginx",
                rendered["files"]["nginx/spaces.conf"],
                ready_port=rendered["https_port"],
            )
            browser = harness.Browser(rendered["origin"])
            browser.s3, browser.bucket = s3, bucket
            yield browser
    finally:
        server.stop()


def signed(
    room: int, *, listener: str = "tok-A", expires: int | None = None, file: str = "index.m3u8"
) -> str:
    expires = int(time.time()) + 60 if expires is None else expires
    return "/hls/" + signing.signed_path(
        room_id=room, listener=listener, expires=expires, secret=SECRET, file=file
    )


def test_public_rooms_come_from_the_bucket_with_a_cdn_s_headers(site):
    playlist = site.get("/hls/11/index.m3u8")
    assert playlist.status == 200 and playlist.body == PLAYLIST.encode()
    assert playlist.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    # Fresh for at most half a 1 s segment; nothing of the bucket's own answer gets through.
    assert playlist.headers["Cache-Control"] == "public, max-age=0"
    # The site's own CORS answer, once (the bucket's too would make browsers refuse the file).
    assert playlist.headers.get_all("Access-Control-Allow-Origin") == ["*"]
    assert not [name for name in playlist.headers if name.lower().startswith("x-amz")]
    segment = site.get("/hls/11/seg-5.m4s")
    assert segment.status == 200 and segment.body == b"segment"
    assert segment.headers["Content-Type"] == "audio/mp4"
    assert segment.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert segment.headers.get_all("Access-Control-Allow-Origin") == ["*"]
    assert site.get("/hls/11/init-1.mp4").body == b"init"
    for path in ("/hls/11/seg-6.m4s", "/hls/11/other.txt", "/hls/11/", "/hls/"):
        assert site.get(path).status == 404, path


def test_a_playlist_not_uploaded_yet_is_a_live_playlist_with_no_segments(site):
    for path in ("/hls/13/index.m3u8", "/hls/12/index.m3u8", signed(14)):  # none; a private room's plain path
        answer = site.get(path)
        assert answer.status == 200, path
        assert answer.headers["Cache-Control"] == "no-cache"
        assert answer.body == hls_views.NOT_YET.encode()
        assert hls.parse_playlist(answer.body.decode()).entries == []
    # The private room's files are not reachable without a signature.
    assert site.get("/hls/12/seg-5.m4s").status == 404


def test_the_rest_of_the_bucket_stays_private(site, tmp_path):
    """What nginx may read is the HLS prefix; the media beside it in the bucket are not reachable."""
    site.s3.put_object(Bucket=site.bucket, Key="exports/a.zip", Body=b"secret")
    endpoint = site.s3.meta.endpoint_url
    for key, status in (("hls/public/11/seg-5.m4s", 200), ("exports/a.zip", 403)):
        try:
            with urllib.request.urlopen(f"{endpoint}/{site.bucket}/{key}") as answer:
                assert (key, answer.status) == (key, status)
        except urllib.error.HTTPError as error:
            assert (key, error.code) == (key, status)


def test_a_new_playlist_is_served_within_a_fraction_of_a_segment(site):
    """nginx keeps a room's playlist at most 100 ms (whatever the listeners): the bucket's newest is
    what a listener gets a moment after it was uploaded, however often it was asked for before."""
    for sequence in (6, 7, 8):
        for _ in range(5):
            site.get("/hls/11/index.m3u8")
        text = PLAYLIST.replace("SEQUENCE:5", f"SEQUENCE:{sequence}")
        site.s3.put_object(Bucket=site.bucket, Key="hls/public/11/index.m3u8", Body=text.encode())
        time.sleep(0.25)
        assert site.get("/hls/11/index.m3u8").body == text.encode()
    site.s3.put_object(Bucket=site.bucket, Key="hls/public/11/index.m3u8", Body=PLAYLIST.encode())


def test_private_rooms_only_through_a_signed_url_that_has_not_expired(site):
    good = signed(12)
    answer = site.get(good)
    assert answer.status == 200 and answer.body == PLAYLIST.encode()
    assert answer.headers["Cache-Control"] == "private, max-age=0"
    segment = site.get(signed(12, file="seg-5.m4s"))
    assert segment.status == 200 and segment.body == b"segment"
    assert segment.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert site.get(signed(12, file="seg-6.m4s")).status == 404
    expires = int(good.split("/")[3])
    md5 = good.split("/")[4]
    altered = good.replace(md5, ("A" if md5[0] != "A" else "B") + md5[1:])
    for refused in (
        altered,
        good.replace(f"/{expires}/", f"/{expires + 3600}/"),  # stretched
        good.replace("/tok-A/", "/tok-B/"),  # another listener
        good.replace("/12/", "/11/"),  # another room
        signed(12, expires=int(time.time()) - 1),  # expired
        signed(12, file="seg-5.m4s").replace("/tok-A/", "/tok-B/"),
    ):
        assert site.get(refused).status == 403, refused
