"""deploy/'s nginx serves live HLS as the application signs it: public rooms plain and cacheable,
private rooms only through a URL signed for one listener that has not expired, with the same answers
as Django's views (tests/rooms/test_hls.py) give without nginx. And access is taken back: a private
room's URLs live at most 2 minutes, and only a listener the room's door would still let in gets
fresh ones over their socket (issue 21, item 7)."""

import asyncio
import base64
import hashlib
import re
import time
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.db import connections
from django.utils import timezone

from accounts.models import Block
from deploy import harness, render
from rooms import hls_views, services, tickets
from rooms.audio import hls, signing
from rooms.models import Participant, Ticket
from spaces_project import protocol
from tests.factories import RoomFactory, UserFactory
from tests.live.wsclient import OPEN_SOCKETS, join

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
        browser = harness.Browser(f"https://localhost:{https_port}")
        browser.hls_root = work / "hls"
        yield browser


def test_public_rooms_are_plain_and_cacheable(site):
    playlist = site.get("/hls/11/index.m3u8")
    assert playlist.status == 200 and playlist.body == b"#EXTM3U\n"
    assert playlist.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert playlist.headers["Cache-Control"] == "public, max-age=1"
    segment = site.get("/hls/11/seg-5.m4s")
    assert segment.status == 200 and segment.headers["Content-Type"] == "audio/mp4"
    assert segment.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert site.get("/hls/11/init-1.mp4").headers["Cache-Control"] == "public, max-age=31536000, immutable"
    for path in ("/hls/11/seg-6.m4s", "/hls/11/other.txt", "/hls/11/", "/hls/"):
        assert site.get(path).status == 404, path


def test_a_playlist_not_written_yet_is_a_live_playlist_with_no_segments(site):
    """The first HLS listener comes before the room's mixer writes anything: its player finds a live
    playlist with no segments (no 404 for the browser to show as an error) and tries again."""
    for path in ("/hls/13/index.m3u8", "/hls/12/index.m3u8"):  # no files; private rooms' plain path
        answer = site.get(path)
        assert answer.status == 200, path
        assert answer.headers["Content-Type"] == "application/vnd.apple.mpegurl"
        assert answer.headers["Cache-Control"] == "no-cache"
        assert answer.body == hls_views.NOT_YET.encode()
        assert hls.parse_playlist(answer.body.decode()).entries == []
    secret = signing.derive_secret(SECRET_KEY)
    expires = int(time.time()) + 60
    signed = "/hls/" + signing.signed_path(room_id=14, listener="tok-A", expires=expires, secret=secret)
    assert site.get(signed).status == 200 and site.get(signed).body == hls_views.NOT_YET.encode()
    # Still checked first: an altered signature is refused, and a missing segment is a 404.
    assert site.get(signed.replace("/tok-A/", "/tok-B/")).status == 403
    assert site.get(signed.replace("index.m3u8", "seg-1.m4s")).status == 404


def test_private_rooms_only_through_a_signed_url_that_has_not_expired(site):
    secret = signing.derive_secret(SECRET_KEY)
    expires = int(time.time()) + 60
    good = "/hls/" + signing.signed_path(room_id=12, listener="tok-A", expires=expires, secret=secret)
    answer = site.get(good)
    assert answer.status == 200 and answer.headers["Cache-Control"] == "private, max-age=1"
    segment = site.get(good.replace("index.m3u8", "seg-5.m4s"))
    assert segment.status == 200 and segment.body == b"segment"
    assert segment.headers["Cache-Control"] == "private, max-age=31536000, immutable"

    md5 = signing.signature(room_id=12, listener="tok-A", expires=expires, secret=secret)
    # The first character: the last of 22 base64 characters carries 2 bits of the digest and 4 of
    # padding, so changing it can decode to the same digest (an "altered" URL that is not altered).
    altered = good.replace(md5, ("A" if md5[0] != "A" else "B") + md5[1:])
    assert site.get(altered).status == 403
    assert site.get(good.replace(f"/{expires}/", f"/{expires + 3600}/")).status == 403
    # Signed for one listener, used under another's name: refused.
    assert site.get(good.replace("/tok-A/", "/tok-B/")).status == 403
    # Signed for room 12, used for the public room 11's directory name: refused.
    assert site.get(good.replace("/12/", "/11/")).status == 403
    stale = int(time.time()) - 1
    expired = "/hls/" + signing.signed_path(room_id=12, listener="tok-A", expires=stale, secret=secret)
    assert site.get(expired).status == 403
    # Signed with another secret (a leaked SECRET_KEY of another site): refused.
    other = "/hls/" + signing.signed_path(
        room_id=12, listener="tok-A", expires=expires, secret="not-the-secret"
    )
    assert site.get(other).status == 403
    # The earlier form, bound to no listener (and signed for an hour): nothing serves it any more.
    digest = hashlib.md5(f"{expires}/12/ {secret}".encode()).digest()  # noqa: S324 (nginx's scheme)
    md5_roomwide = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert site.get(f"/hls/s/{expires}/{md5_roomwide}/12/index.m3u8").status == 404


# -- a private room's URLs through the real socket: each listener's own, short-lived, renewed while
#    the door would still let them in ------------------------------------------------------------

db = database_sync_to_async


@pytest.fixture
def signed_as_the_site(settings):
    """The application signs with the secret deploy/render.py put in this nginx site."""
    settings.HLS_SIGNING_SECRET = signing.derive_secret(SECRET_KEY)
    settings.HLS_URL_PREFIX = "/hls/"


@pytest.fixture
async def sockets():
    yield
    while OPEN_SOCKETS:
        await OPEN_SOCKETS.pop().close()
    # The consumers' database connection lives in asgiref's thread: close it before the database goes.
    await sync_to_async(connections.close_all)()


@db
def ticketed_room_live(hls_root: Path, holders: int):
    """A live ticketed room marked for a large audience (every listener on HLS, signed), `holders`
    people with a paid ticket each, and its private HLS files where this nginx serves them."""
    room = RoomFactory(scheduled=True, large_audience=True)
    tickets.ticket_sales_set(room_id=room.pk, actor=room.host, price="5.00", capacity=10)
    people = [UserFactory() for _ in range(holders)]
    bought = [tickets.ticket_purchase(room_id=room.pk, buyer=person) for person in people]
    room = services.room_start(room=room, actor=room.host)
    directory = hls_root / "private" / str(room.pk)
    directory.mkdir(parents=True)
    (directory / "index.m3u8").write_text("#EXTM3U\n")
    (directory / "seg-5.m4s").write_bytes(b"segment")
    return room, people, bought


async def fetch(site, url: str) -> int:
    return (await asyncio.to_thread(site.get, url)).status


def expiry(url: str) -> int:
    return int(url.split("/")[3])  # /hls/s/<expires>/<md5>/<listener>/<room>/<file>


def listener_of(url: str) -> str:
    return url.split("/")[5]


def urls_seen(socket) -> list[str]:
    return [
        e["playlist"]
        for e in socket.seen
        if e["type"] in ("room.audio_route", "room.hls_url") and e.get("playlist")
    ]


async def sleep_until(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.time()))


@pytest.mark.django_db(transaction=True)
async def test_a_listeners_url_lives_at_most_two_minutes_and_nginx_refuses_it_once_over(
    site, signed_as_the_site, sockets, settings
):
    room, (holder,), _ = await ticketed_room_live(site.hls_root, 1)
    listener = await join(room.pk, holder)
    playlist = (await listener.wait_for("room.audio_route", mode="hls"))["playlist"]
    assert time.time() < expiry(playlist) <= time.time() + 120, (
        f"lives {expiry(playlist) - time.time():.0f} s"
    )
    assert await fetch(site, playlist) == 200
    assert await fetch(site, playlist.replace("index.m3u8", "seg-5.m4s")) == 200

    # Issued by the same code with a life of 2 s, to watch one end: nginx refuses the playlist and
    # the segments from the second after it expires.
    settings.HLS_SIGNED_URL_SECONDS = 2
    await listener.send({"type": "snapshot.request"})
    await listener.wait_for("room.snapshot")
    short = (await listener.wait_for("room.audio_route", mode="hls"))["playlist"]
    assert expiry(short) <= time.time() + 2
    assert await fetch(site, short) == 200
    await sleep_until(expiry(short) + 1.05)
    assert await fetch(site, short) == 403
    assert await fetch(site, short.replace("index.m3u8", "seg-5.m4s")) == 403


@pytest.mark.django_db(transaction=True)
async def test_only_a_listener_the_door_would_still_let_in_gets_fresh_urls(
    site, signed_as_the_site, sockets, settings
):
    settings.HLS_SIGNED_URL_SECONDS = 3  # renewed every second
    room, people, bought = await ticketed_room_live(site.hls_root, 4)
    names = ("admitted", "refunded", "blocked", "removed")
    listeners = {name: await join(room.pk, person) for name, person in zip(names, people, strict=True)}
    first = {}
    for name, listener in listeners.items():
        first[name] = (await listener.wait_for("room.audio_route", mode="hls"))["playlist"]
    # Each listener's URLs are their own.
    assert len({listener_of(url) for url in first.values()}) == len(names)
    # While the door would let them in, each gets fresh URLs, which nginx serves.
    for name, listener in listeners.items():
        renewed = (await listener.wait_for("room.hls_url", timeout=3))["playlist"]
        assert renewed != first[name] and listener_of(renewed) == listener_of(first[name])
        assert expiry(renewed) <= time.time() + 3
        assert await fetch(site, renewed) == 200

    # Then a refund, a block and a removal, made behind the sockets' backs (no event reaches them):
    # only the renewal's own check can see them.
    @db
    def take_back() -> None:
        now = timezone.now()
        Ticket.objects.filter(pk=bought[1].pk).update(
            status=Ticket.Status.REFUNDED, refund_requested_at=now, refunded_at=now
        )
        Block.objects.create(blocker=room.host, blocked=people[2])
        Participant.objects.filter(room=room, user=people[3]).update(is_removed=True)

    await take_back()
    changed_at = time.time()
    closes = {
        "refunded": protocol.CLOSE_TICKET_REQUIRED,
        "blocked": protocol.CLOSE_NOT_FOUND,
        "removed": protocol.CLOSE_REMOVED,
    }
    last = {}
    for name, code in closes.items():
        # No renewal comes any more: the socket closes as the door would refuse a new one.
        assert await listeners[name].wait_closed(timeout=3) == code, name
        last[name] = urls_seen(listeners[name])[-1]
        # Whatever they still hold was issued before the change (a check just before it).
        assert expiry(last[name]) <= changed_at + 3 + 1, name
    # The admitted listener goes on being renewed meanwhile.
    after = []
    deadline = max(expiry(url) for url in last.values()) + 1.05
    while time.time() < deadline:
        after.append((await listeners["admitted"].wait_for("room.hls_url", timeout=3))["playlist"])
    assert len(after) >= 2
    await sleep_until(deadline)
    # nginx refuses what the others hold, playlist and segments, and serves the admitted one's newest.
    for name, url in last.items():
        assert await fetch(site, url) == 403, name
        assert await fetch(site, url.replace("index.m3u8", "seg-5.m4s")) == 403, name
    newest = (await listeners["admitted"].wait_for("room.hls_url", timeout=3))["playlist"]
    assert await fetch(site, newest) == 200
    assert await fetch(site, newest.replace("index.m3u8", "seg-5.m4s")) == 200
