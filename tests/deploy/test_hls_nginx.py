"""deploy/'s nginx serves live HLS as the application signs it: public rooms plain and cacheable,
private rooms only through a signed URL that has not expired, with the same answers as Django's views
(tests/rooms/test_hls.py) give without nginx."""

import re
import time
from pathlib import Path

import pytest

from deploy import harness, render
from rooms.audio import signing

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "spaces.env.example"
SECRET_KEY = "a-secret-key-for-this-test-only-0123456789-abcdefghijklmnopqrstuvwxyz"

pytestmark = pytest.mark.skipif(not Path(harness.NGINX).exists(), reason="needs Debian's nginx")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    work = tmp_path_factory.mktemp("hls-nginx")
    cert, key = harness.self_signed_certificate(work / "tls")
    https_port, http_port = harness.free_port(), harness.free_port()
    text = EXAMPLE.read_text()
    for name, value in {
        "SPACES_TLS_CERTIFICATE": cert,
        "SPACES_TLS_KEY": key,
        "SPACES_HTTPS_LISTEN": f"127.0.0.1:{https_port}",
        "SPACES_HTTP_LISTEN": f"127.0.0.1:{http_port}",
        "SPACES_RUN_DIR": work / "run",
        "HLS_ROOT": work / "hls",
        "SECRET_KEY": SECRET_KEY,
    }.items():
        text = re.sub(rf"^{name}=.*$", f"{name}={value}", text, flags=re.M)
    (work / "spaces.env").write_text(text)
    conf = render.render(work / "spaces.env", work / "out")["nginx/spaces.conf"]
    for access, room in (("public", 11), ("private", 12)):
        directory = work / "hls" / access / str(room)
        directory.mkdir(parents=True)
        (directory / "index.m3u8").write_text("#EXTM3U\n")
        (directory / "init-1.mp4").write_bytes(b"init")
        (directory / "seg-5.m4s").write_bytes(b"segment")
    with harness.Processes(work / "logs") as processes:
        harness.start_nginx(processes, work / "nginx", conf, ready_port=https_port)
        yield harness.Browser(f"https://localhost:{https_port}")


def test_public_rooms_are_plain_and_cacheable(site):
    playlist = site.get("/hls/11/index.m3u8")
    assert playlist.status == 200 and playlist.body == b"#EXTM3U\n"
    assert playlist.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert playlist.headers["Cache-Control"] == "public, max-age=1"
    segment = site.get("/hls/11/seg-5.m4s")
    assert segment.status == 200 and segment.headers["Content-Type"] == "audio/mp4"
    assert segment.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert site.get("/hls/11/init-1.mp4").headers["Cache-Control"] == "public, max-age=31536000, immutable"
    for path in ("/hls/11/seg-6.m4s", "/hls/11/other.txt", "/hls/11/", "/hls/12/index.m3u8", "/hls/"):
        assert site.get(path).status == 404, path


def test_private_rooms_only_through_a_signed_url_that_has_not_expired(site):
    secret = signing.derive_secret(SECRET_KEY)
    expires = int(time.time()) + 600
    good = "/hls/" + signing.signed_path(room_id=12, expires=expires, secret=secret)
    answer = site.get(good)
    assert answer.status == 200 and answer.headers["Cache-Control"] == "private, max-age=1"
    segment = site.get(good.replace("index.m3u8", "seg-5.m4s"))
    assert segment.status == 200 and segment.body == b"segment"
    assert segment.headers["Cache-Control"] == "private, max-age=31536000, immutable"

    md5 = signing.signature(room_id=12, expires=expires, secret=secret)
    # The first character: the last of 22 base64 characters carries 2 bits of the digest and 4 of
    # padding, so changing it can decode to the same digest (a flaky "altered" URL).
    altered = good.replace(md5, ("A" if md5[0] != "A" else "B") + md5[1:])
    assert site.get(altered).status == 403
    assert site.get(good.replace(f"/{expires}/", f"/{expires + 3600}/")).status == 403
    # Signed for room 12, used for the public room 11's directory name: refused.
    assert site.get(good.replace("/12/", "/11/")).status == 403
    stale = int(time.time()) - 1
    expired = "/hls/" + signing.signed_path(room_id=12, expires=stale, secret=secret)
    assert site.get(expired).status == 403
    # Signed with another secret (a leaked SECRET_KEY of another site): refused.
    other = "/hls/" + signing.signed_path(room_id=12, expires=expires, secret="not-the-secret")
    assert site.get(other).status == 403
