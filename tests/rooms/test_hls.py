"""HLS for the mass audience, the Django side (rooms/live/hls.py, rooms/hls_views.py): who listens how,
which rooms get signed URLs, the files as Django serves them without nginx, the sweep of ended rooms."""

import os
import time

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from accounts.models import Block
from rooms import hls_views, services, tickets
from rooms.audio import hls as files
from rooms.live import hls
from rooms.live.presence import get_presence
from rooms.models import Participant, Room, RoomInvitation, Ticket
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def hls_root(settings, tmp_path):
    settings.HLS_ROOT = tmp_path
    return tmp_path


def put_files(root, room_id: int, access: str) -> None:
    directory = root / access / str(room_id)
    directory.mkdir(parents=True)
    (directory / "index.m3u8").write_text("#EXTM3U\n")
    (directory / "seg-3.m4s").write_bytes(b"segment")
    (directory / "init-1.mp4").write_bytes(b"init")


@pytest.mark.parametrize(
    ("on_stage", "invited", "large", "listeners_now", "expected"),
    [
        (True, False, True, 10_000, "websocket"),  # the stage always
        (False, True, True, 10_000, "websocket"),  # invited: before going on stage
        (False, False, False, 2000, "websocket"),  # the 2,000th listener
        (False, False, False, 2001, "hls"),  # the next one
        (False, False, True, 1, "hls"),  # a room marked for a large audience
    ],
)
def test_who_listens_how(on_stage, invited, large, listeners_now, expected):
    route = hls.listener_route(
        on_stage=on_stage,
        invited=invited,
        large_audience=large,
        listeners_now=listeners_now,
        websocket_listeners=2000,
    )
    assert route == expected


def test_rooms_refusing_anonymous_listeners_and_ticketed_rooms_are_private():
    assert hls.room_access(RoomFactory()) == files.PUBLIC
    assert hls.room_access(RoomFactory(allow_anonymous=False)) == files.PRIVATE
    assert hls.room_access(RoomFactory(ticket_price=500, ticket_capacity=10)) == files.PRIVATE


def test_public_files_are_cacheable_and_segments_immutable(client, hls_root):
    room = RoomFactory()
    put_files(hls_root, room.pk, files.PUBLIC)
    url = hls.playlist_url(room, listener="tok")
    assert url == f"/hls/{room.pk}/index.m3u8"  # the same for everyone: any cache may keep it
    playlist = client.get(url)
    assert playlist.status_code == 200
    assert playlist["Content-Type"] == "application/vnd.apple.mpegurl"
    assert playlist["Cache-Control"] == "public, max-age=1"
    segment = client.get(f"/hls/{room.pk}/seg-3.m4s")
    assert segment.content == b"segment"
    assert segment["Cache-Control"] == "public, max-age=31536000, immutable"
    assert client.get(f"/hls/{room.pk}/seg-4.m4s").status_code == 404
    assert client.get(f"/hls/{room.pk}/..%2Fsecret").status_code == 404
    assert client.get(f"/hls/{room.pk}/notes.txt").status_code == 404
    # A room whose mixer has written nothing yet: a live playlist with no segments, not a 404 the
    # browser would show as an error; the player tries again.
    waiting = client.get(f"/hls/{room.pk + 1}/index.m3u8")
    assert waiting.status_code == 200 and waiting["Cache-Control"] == "no-cache"
    assert files.parse_playlist(waiting.content.decode()).entries == []


def test_signed_urls_work_until_they_expire_and_not_when_altered(client, hls_root):
    room = RoomFactory(allow_anonymous=False)
    put_files(hls_root, room.pk, files.PRIVATE)
    url = hls.playlist_url(room, listener="tok-A")
    _, _, expires, md5, listener, room_id, name = url.split("/", 7)[1:]
    assert (listener, int(room_id), name) == ("tok-A", room.pk, "index.m3u8")
    # A minute and a half, renewed over the listener's socket (tests/live/test_hls_route.py).
    assert time.time() + 80 < int(expires) <= time.time() + 90
    ok = client.get(url)
    assert ok.status_code == 200 and ok["Cache-Control"] == "private, max-age=1"
    # Segments resolve against the playlist's URL, so they carry the same signature.
    segment = client.get(url.replace("index.m3u8", "seg-3.m4s"))
    assert segment.status_code == 200 and segment["Cache-Control"] == "private, max-age=31536000, immutable"

    altered = ("A" if md5[0] != "A" else "B") + md5[
        1:
    ]  # the first character: it carries 6 bits of the digest
    assert client.get(url.replace(md5, altered)).status_code == 403
    # A later expiry with the old signature (someone stretching a leaked link) is refused too.
    assert client.get(url.replace(f"/{expires}/", f"/{int(expires) + 3600}/")).status_code == 403
    # Another listener's URL with this one's signature: refused.
    assert client.get(url.replace("/tok-A/", "/tok-B/")).status_code == 403
    # Another room's files with this room's signature: refused.
    other = RoomFactory(allow_anonymous=False)
    put_files(hls_root, other.pk, files.PRIVATE)
    assert client.get(url.replace(f"/{room.pk}/", f"/{other.pk}/")).status_code == 403

    expired = hls.playlist_url(room, listener="tok-A", now=time.time() - 91)
    response = client.get(expired)
    assert response.status_code == 403 and b"expired" in response.content


def test_renewing_urls_asks_the_doors_own_rule_for_a_whole_batch_in_a_few_queries(
    django_assert_max_num_queries,
):
    """The check before each renewal of private rooms' URLs (rooms/consumers.py, HlsRenewer) gives,
    for everyone at once, exactly the refusal a new connection would get, whatever the reason."""
    room = RoomFactory(scheduled=True)
    tickets.ticket_sales_set(room_id=room.pk, actor=room.host, price="5.00", capacity=20)
    people = {name: UserFactory() for name in ("holder", "refunded", "blocked", "blocker", "removed")}
    people |= {name: UserFactory() for name in ("suspended", "speaker", "invited", "stranger")}
    for name in ("holder", "refunded", "blocked", "blocker", "removed", "suspended"):
        tickets.ticket_purchase(room_id=room.pk, buyer=people[name])
    room = services.room_start(room=room, actor=room.host)
    Ticket.objects.filter(room=room, buyer=people["refunded"]).update(refund_requested_at=timezone.now())
    Block.objects.create(blocker=room.host, blocked=people["blocked"])
    Block.objects.create(blocker=people["blocker"], blocked=room.host)
    Participant.objects.create(room=room, user=people["removed"], is_removed=True)
    people["suspended"].is_suspended = True
    people["suspended"].save()
    Participant.objects.create(room=room, user=people["speaker"], role=Participant.Role.SPEAKER)
    RoomInvitation.objects.create(room=room, invitee=people["invited"], invited_by=room.host)
    everyone = [*people.values(), room.host]

    with django_assert_max_num_queries(8):
        refusals = services.participants_join_refusals(room_id=room.pk, user_ids=[u.pk for u in everyone])
    at_the_door = {}
    for user in everyone:
        refusal = services.participant_join_refusal(room=room, user=user)
        at_the_door[user.pk] = refusal.code if refusal else None
    assert {user.pk: getattr(refusals.get(user.pk), "code", None) for user in everyone} == at_the_door
    assert {name: at_the_door[user.pk] for name, user in people.items()} == {
        "holder": None,
        "refunded": "ticket_required",
        "blocked": "not_found",
        "blocker": "not_found",
        "removed": "removed",
        "suspended": "suspended",
        "speaker": None,
        "invited": None,
        "stranger": "ticket_required",
    }
    assert at_the_door[room.host.pk] is None
    # A deleted account, or a room that is gone or over: nobody is renewed.
    assert services.participants_join_refusals(room_id=room.pk, user_ids=[10**9])[10**9].code == "not_found"
    assert services.participants_join_refusals(room_id=10**9, user_ids=[room.host.pk])[room.host.pk].code == (
        "not_found"
    )
    Room.objects.filter(pk=room.pk).update(state=Room.State.ENDED, ended_at=timezone.now())
    ended = services.participants_join_refusals(room_id=room.pk, user_ids=[people["holder"].pk])
    assert ended[people["holder"].pk].code == "not_live"


def test_an_anonymous_visitor_gets_no_playlist_of_a_room_that_refuses_them(client, hls_root):
    room = RoomFactory(allow_anonymous=False)
    put_files(hls_root, room.pk, files.PRIVATE)
    # The plain path finds no files of it: a playlist with no segments, as for any room not written yet.
    plain = client.get(f"/hls/{room.pk}/index.m3u8")
    assert plain.status_code == 200 and plain.content == hls_views.NOT_YET.encode()
    assert client.get(f"/hls/s/0/{'A' * 22}/tok/{room.pk}/index.m3u8").status_code == 403
    # The form of URL that had no listener in it: nothing answers it.
    assert client.get(f"/hls/s/{int(time.time()) + 60}/{'A' * 22}/{room.pk}/index.m3u8").status_code == 404


def test_the_mixer_writes_hls_only_when_the_room_needs_it(hls_root):
    room = RoomFactory()
    # Room ids come round again in a new test database: no flag left from an earlier run.
    async_to_sync(get_presence().take_flag)(hls.hls_flag(room.pk))
    # Nobody was sent to HLS: no files.
    assert hls.hls_wanted(room.pk) is None
    assert hls.open_writer(room.pk) is None
    # A web process sent a listener to HLS.
    async_to_sync(get_presence().flag)(hls.hls_flag(room.pk))
    assert hls.hls_wanted(room.pk) == files.PUBLIC
    marked = RoomFactory(large_audience=True, allow_anonymous=False)
    assert hls.hls_wanted(marked.pk) == files.PRIVATE
    writer = hls.open_writer(marked.pk)
    assert writer.directory == hls_root / "private" / str(marked.pk)
    # A mixer taking a room over goes on with the HLS it finds, whatever the flag says now.
    taken_over = RoomFactory()
    (hls_root / "public" / str(taken_over.pk)).mkdir(parents=True)
    assert hls.hls_wanted(taken_over.pk) == files.PUBLIC
    ended = RoomFactory(large_audience=True, state=Room.State.ENDED, ended_at=timezone.now())
    assert hls.hls_wanted(ended.pk) is None


def test_the_sweep_removes_the_files_of_rooms_no_longer_live(hls_root):
    live = RoomFactory()
    ended = RoomFactory(state=Room.State.ENDED, ended_at=timezone.now())
    fresh_end = RoomFactory(state=Room.State.ENDED, ended_at=timezone.now())
    for room in (live, ended, fresh_end):
        put_files(hls_root, room.pk, files.PUBLIC)
    old = time.time() - 120
    for room in (live, ended):
        os.utime(hls_root / "public" / str(room.pk), (old, old))
    (hls_root / "private" / "999999").mkdir(parents=True)
    os.utime(hls_root / "private" / "999999", (old, old))
    assert sorted(hls.remove_ended()) == sorted([ended.pk, 999999])
    assert (hls_root / "public" / str(live.pk)).exists()
    # Just written (its mixer may still be finishing): left for the next sweep.
    assert (hls_root / "public" / str(fresh_end.pk)).exists()
    assert not (hls_root / "public" / str(ended.pk)).exists()


def test_the_room_form_marks_a_room_for_a_large_audience(client):
    host = UserFactory()
    client.force_login(host)
    response = client.post(
        "/rooms/new/",
        {"title": "Town hall", "when": "now", "speaker_policy": "everyone", "large_audience": "on"},
    )
    assert response.status_code == 302
    assert Room.objects.get(title="Town hall").large_audience is True


def test_pages_may_fetch_and_play_hls_from_a_cdn(client, settings):
    settings.HLS_URL_PREFIX = "https://cdn.example.net/hls/"
    policy = client.get("/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert "https://cdn.example.net" in directives["media-src"].split()
    assert "https://cdn.example.net" in directives["connect-src"].split()
    room = RoomFactory()
    assert hls.playlist_url(room, listener="tok") == f"https://cdn.example.net/hls/{room.pk}/index.m3u8"
