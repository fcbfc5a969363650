"""The IDOR matrix: every route that takes an object's id, asked by everyone who may not see it.

The routes come from the URL configuration itself, so a new route with an id that this file does not
know fails `test_every_route_with_an_id_is_in_the_matrix`. For each route and each viewer the
object is set up so that the viewer may not see it or may not act on it, and the answer must be 403
or 404; 404 (the same answer as for an id that does not exist) wherever the viewer may not even see
the object, so that no answer tells them it exists. Anonymous visitors may instead be sent to sign
in, which is also what a missing id gets. Django admin routes are for staff only: every viewer here
is sent to the admin sign-in, whether the id exists or not.
"""

import re
from dataclasses import dataclass

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import DataExport
from accounts.services import block_create, user_suspend
from moderation.models import Report
from recordings.models import Clip, Transcript, TranscriptLine
from recordings.services import ClipFiles, RecordingFiles
from rooms.models import Participant, Question, Ticket
from tests.factories import RecordingFactory, RoomFactory, UserFactory

pytestmark = pytest.mark.django_db

MISSING_ID = 987_654_321
MISSING_HANDLE = "nobody_by_that_name"

VIEWERS = ["anonymous", "blocked_by_owner", "blocking_owner", "another_user", "suspended_user"]


@dataclass(frozen=True)
class Route:
    """`kind`: the object its id names. `access`: "see" (anyone who may see the object may open it),
    "owner" (only its owner), "private" (only its owner, and nobody else may even see it), "uniform"
    (everyone gets, byte for byte, what a missing id gets)."""

    kind: str
    method: str
    access: str


ROUTES = {
    "rooms:detail": Route("room", "GET", "see"),
    "rooms:edit": Route("room", "GET", "owner"),
    "rooms:start": Route("room", "POST", "owner"),
    "rooms:end": Route("room", "POST", "owner"),
    "rooms:backstage": Route("scheduled_room", "POST", "owner"),
    "rooms:cancel": Route("room", "POST", "owner"),
    "rooms:calendar": Route("scheduled_room", "GET", "see"),
    "rooms:reminder_set": Route("scheduled_room", "POST", "see"),
    "rooms:reminder_delete": Route("scheduled_room", "POST", "see"),
    "rooms:invite": Route("room", "POST", "owner"),
    "rooms:invite_suggestions": Route("room", "GET", "owner"),
    "rooms:ticket_buy": Route("ticketed_room", "POST", "see"),
    "rooms:ticket_sales": Route("ticketed_room", "POST", "owner"),
    "rooms:ticket_buyers": Route("ticketed_room", "GET", "owner"),
    "tickets:detail": Route("ticket", "GET", "private"),
    "tickets:return": Route("ticket", "GET", "private"),
    "recordings:detail": Route("recording", "GET", "see"),
    "recordings:status": Route("recording", "GET", "see"),
    "recordings:stream": Route("recording", "GET", "see"),
    "recordings:cover": Route("recording", "GET", "see"),
    "recordings:waveform": Route("recording", "GET", "see"),
    "recordings:play": Route("recording", "POST", "see"),
    "recordings:download": Route("recording", "GET", "owner"),
    "recordings:delete": Route("recording", "POST", "owner"),
    "recordings:captions": Route("recording", "GET", "see"),
    "recordings:chapters": Route("recording", "GET", "see"),
    "recordings:transcript_line": Route("transcript_line", "POST", "owner"),
    "recordings:transcript_delete": Route("recording", "POST", "owner"),
    "accounts:profile": Route("user", "GET", "see"),
    "accounts:followers": Route("user", "GET", "see"),
    "accounts:following": Route("user", "GET", "see"),
    "accounts:follow": Route("user", "POST", "see"),
    "accounts:unfollow": Route("user", "POST", "see"),
    "accounts:block": Route("user", "POST", "see"),
    "accounts:unblock": Route("user", "POST", "see"),
    "accounts:calendar": Route("user", "GET", "see"),
    "accounts:export_status": Route("export", "GET", "private"),
    "accounts:export_download": Route("export", "GET", "private"),
    # A room that refuses anonymous listeners writes its HLS where only signed URLs reach it: its
    # public path answers everyone what it answers for a room that does not exist, a live playlist
    # with no segments yet (a first listener's player waits on it without an error, docs/hls.md).
    "hls:public": Route("hls_room", "GET", "uniform"),
    "moderation:create[room]": Route("room", "GET", "see"),
    "moderation:create[user]": Route("user", "GET", "see"),
    "moderation:create[recording]": Route("recording", "GET", "see"),
    "moderation:create[clip]": Route("clip", "GET", "see"),
    "clips:detail": Route("clip", "GET", "see"),
    "clips:status": Route("clip", "GET", "see"),
    "clips:audio": Route("clip", "GET", "see"),
    "clips:waveform": Route("clip", "GET", "see"),
    "clips:embed": Route("clip", "GET", "see"),
    "clips:delete": Route("clip", "POST", "owner"),
    "clips:create_from_replay": Route("recording", "POST", "see"),
    "clips:create_live": Route("room", "POST", "see"),
    "clips:clipping": Route("recording", "POST", "owner"),
    "podcast:feed": Route("user", "GET", "see"),
    "podcast:image": Route("user", "GET", "see"),
    # A podcast episode's files are public once published; the matrix's recording is not published,
    # so nobody may learn that it exists.
    "podcast:audio": Route("recording", "GET", "private"),
    "podcast:cover": Route("recording", "GET", "private"),
    "podcast:publish": Route("recording", "POST", "owner"),
    "moderation:create[question]": Route("question", "GET", "see"),
    # A room's and a host's reach are for the host (and co-hosts and staff): anyone else gets the
    # answer of a room or a person with no report at all.
    "rooms:analytics": Route("room", "GET", "private"),
    "rooms:analytics_csv": Route("room", "GET", "private"),
    "accounts:analytics": Route("user", "GET", "private"),
    "recordings:listened": Route("recording", "POST", "see"),
    "clips:play": Route("clip", "POST", "see"),
    "clips:embed_play": Route("clip", "POST", "see"),
}

# Routes whose parameters are not object ids.
NOT_OBJECT_IDS = {
    "rooms:topic",  # a topic's public slug
    "account_confirm_email",  # allauth's signed key
    "account_reset_password_from_key",  # allauth's signed key
    "accounts:unsubscribe",  # a signed token, checked by its view
    "hls:signed",  # a signed, expiring path, checked by its view (tests/rooms/test_hls.py)
    "admin:app_list",
    "admin:None",  # admin's catch-all and its change-page shortcuts: checked with the admin routes
}


def _walk(patterns, prefix="", namespace=None):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace else pattern.name
            yield prefix + str(pattern.pattern), name


def routes_with_parameters() -> list[tuple[str, str]]:
    return [
        (route, name) for route, name in _walk(get_resolver().url_patterns) if "<" in route or "(?P" in route
    ]


def _matrix_names() -> set[str]:
    return {name.split("[")[0] for name in ROUTES}


def test_every_route_with_an_id_is_in_the_matrix():
    unknown = sorted(
        {
            name
            for route, name in routes_with_parameters()
            if not name.startswith("admin:") and name not in _matrix_names() and name not in NOT_OBJECT_IDS
        }
    )
    assert unknown == [], f"add these routes to the IDOR matrix (tests/test_idor_matrix.py): {unknown}"


# -- the objects and the viewers ---------------------------------------------------------------------


@pytest.fixture
def world(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.HLS_ROOT = tmp_path / "hls"
    owner = UserFactory()
    room = RoomFactory(host=owner, allow_anonymous=False)
    hls_directory = settings.HLS_ROOT / "private" / str(room.pk)
    hls_directory.mkdir(parents=True)
    (hls_directory / "index.m3u8").write_text("#EXTM3U\n")
    scheduled_room = RoomFactory(host=owner, allow_anonymous=False, scheduled=True)
    ticketed_room = RoomFactory(host=owner, scheduled=True, ticket_price=500, ticket_capacity=10)
    # The owner's ticket for someone else's room: a ticket is private to its buyer.
    ticket = Ticket.objects.create(
        room=RoomFactory(scheduled=True, ticket_price=500, ticket_capacity=10, tickets_taken=1),
        buyer=owner,
        status=Ticket.Status.PAID,
        amount=500,
        currency="USD",
        provider="development",
        checkout_id="dev_cs_idor",
    )
    recording = RecordingFactory(room__host=owner, room__allow_anonymous=False)
    transcript = Transcript.objects.create(recording=recording, status=Transcript.Status.READY)
    line = TranscriptLine.objects.create(
        transcript=transcript, speaker=owner, speaker_name="Owner", start_ms=0, end_ms=2000, text="Hello."
    )
    files = RecordingFiles(recording.room_id)
    files.directory.mkdir(parents=True)
    for path in (files.replay, files.cover, files.waveform):
        path.write_bytes(b"file")
    clip = Clip.objects.create(
        recording=recording,
        created_by=owner,
        title="A clip",
        source="replay",
        start_ms=0,
        end_ms=5000,
        status="ready",
    )
    clip_files = ClipFiles(clip.pk)
    clip_files.directory.mkdir(parents=True)
    for path in (clip_files.audio, clip_files.waveform):
        path.write_bytes(b"file")
    asker = UserFactory()
    Participant.objects.create(room=room, user=asker)
    question = Question.objects.create(room=room, asker=asker, text="What is next?")
    export = DataExport.objects.create(user=owner, status="ready", progress=100, file_name="x.zip")
    viewers = {
        "blocked_by_owner": UserFactory(),
        "blocking_owner": UserFactory(),
        "another_user": UserFactory(),
        "suspended_user": UserFactory(),
    }
    block_create(blocker=owner, blocked=viewers["blocked_by_owner"])
    block_create(blocker=viewers["blocking_owner"], blocked=owner)
    user_suspend(user=viewers["suspended_user"])
    reporter = UserFactory()
    report = Report.objects.create(reporter=reporter, target_type="user", target_user=owner, reason="spam")
    return {
        "owner": owner,
        "room": room,
        "hls_room": room,
        "scheduled_room": scheduled_room,
        "ticketed_room": ticketed_room,
        "ticket": ticket,
        "recording": recording,
        "transcript_line": line,
        "clip": clip,
        "export": export,
        "user": owner,
        "report": report,
        "question": question,
        "viewers": viewers,
    }


def _url(name: str, kind: str, world: dict, *, missing: bool) -> str:
    base, _, target_type = name.partition("[")
    if base == "moderation:create":
        target_type = target_type.rstrip("]")
        target_id = MISSING_ID if missing else world[target_type].pk
        return reverse(base, kwargs={"target_type": target_type, "target_id": target_id})
    if kind == "user":
        return reverse(base, kwargs={"handle": MISSING_HANDLE if missing else world["owner"].handle})
    if kind == "hls_room":
        room_id = MISSING_ID if missing else world["hls_room"].pk
        return reverse(base, kwargs={"room_id": room_id, "name": "index.m3u8"})
    if kind == "transcript_line":
        line = world["transcript_line"]
        line_id = MISSING_ID if missing else line.pk
        return reverse(base, kwargs={"pk": line.transcript.recording_id, "line_id": line_id})
    return reverse(base, kwargs={"pk": MISSING_ID if missing else world[kind].pk})


def _hidden(viewer: str, name: str, route: Route) -> bool:
    """May the viewer not even see the object? Then only 404 may answer."""
    if route.access == "private":
        return True
    if route.kind in (
        "room",
        "scheduled_room",
        "ticketed_room",
        "recording",
        "transcript_line",
        "clip",
        "question",
    ):
        return viewer in ("blocked_by_owner", "blocking_owner")  # blocks hide rooms both ways
    if route.kind == "user":
        # The person who blocked still sees the other's profile, to unblock them; not the reverse.
        # Reporting someone stays possible either way: a block is often when a report is needed.
        return viewer == "blocked_by_owner" and not name.startswith("moderation:")
    return False


def _client(world: dict, viewer: str) -> Client:
    client = Client()
    if viewer != "anonymous":
        client.force_login(world["viewers"][viewer])
    return client


def _ask(client: Client, method: str, url: str):
    return client.post(url) if method == "POST" else client.get(url)


def _sent_to_sign_in(response) -> bool:
    return response.status_code == 302 and "/accounts/login/" in response.get("Location", "")


def _check(viewer: str, name: str, route: Route, world: dict) -> str | None:
    """None when the cell holds; otherwise what went wrong. What the requests change (an unblock,
    a follow) is rolled back, so every cell starts from the same world."""
    with transaction.atomic():
        problem = _check_cell(viewer, name, route, world)
        transaction.set_rollback(True)
    return problem


def _check_cell(viewer: str, name: str, route: Route, world: dict) -> str | None:
    client = _client(world, viewer)
    response = _ask(client, route.method, _url(name, route.kind, world, missing=False))
    missing = _ask(client, route.method, _url(name, route.kind, world, missing=True))
    status = response.status_code
    if status >= 500:
        return f"{status}"
    if viewer == "anonymous" and _sent_to_sign_in(missing):
        # Signing in is asked before anything is looked up: the object's existence is not told.
        if _sent_to_sign_in(response):
            return None
        return None if (route.access == "see" and status in (200, 403)) else f"{status}, missing id: sign-in"
    if route.access == "uniform":
        same = (status, response.content) == (missing.status_code, missing.content)
        return None if same else f"{status} differs from a missing id's {missing.status_code}"
    if missing.status_code != 404:
        return f"a missing id answered {missing.status_code}, not 404"
    if _hidden(viewer, name, route):
        return None if status == 404 else f"{status} tells that a hidden object exists (want 404)"
    if route.access == "owner":
        return None if status in (403, 404) else f"{status} for someone who is not the owner"
    # The viewer may see the object: they may open the page; acting may still be refused.
    return None if status in (200, 302, 403) else f"{status}"


@pytest.mark.parametrize("viewer", VIEWERS)
def test_no_route_answers_with_someone_elses_object(world, viewer):
    failures = [
        f"{name}: {problem}"
        for name, route in ROUTES.items()
        if (problem := _check(viewer, name, route, world)) is not None
    ]
    assert failures == []


ADMIN_OBJECT_IDS = {
    "accounts_user": "owner",
    "rooms_room": "room",
    "recordings_recording": "recording",
    "moderation_report": "report",
}


def _admin_routes(world: dict) -> list[str]:
    urls = []
    for route, name in routes_with_parameters():
        if not name.startswith("admin:") or name in NOT_OBJECT_IDS:
            continue
        model = next((m for m in ADMIN_OBJECT_IDS if f"/{m.replace('_', '/', 1)}/" in f"/{route[6:]}"), None)
        object_id = world[ADMIN_OBJECT_IDS[model]].pk if model else 1
        urls.append(re.sub(r"<(?:\w+:)?\w+>", str(object_id), route))
    return ["/" + url for url in urls]


@pytest.mark.parametrize("viewer", VIEWERS)
def test_admin_routes_send_everyone_but_staff_to_the_admin_sign_in(world, viewer):
    client = _client(world, viewer)
    failures = []
    for url in _admin_routes(world):
        response = client.get(url)
        if response.status_code != 302 or "/admin/login/" not in response.get("Location", ""):
            failures.append(f"{url}: {response.status_code}")
    assert failures == []


def matrix_size() -> tuple[int, int, int]:
    """(routes, viewers, cells) of the matrix, admin routes included; printed by the test below."""
    admin = len(
        [
            1
            for _, name in routes_with_parameters()
            if name.startswith("admin:") and name not in NOT_OBJECT_IDS
        ]
    )
    routes = len(ROUTES) + admin
    return routes, len(VIEWERS), routes * len(VIEWERS)


def test_the_matrix_is_as_large_as_the_url_configuration(capsys):
    routes, viewers, cells = matrix_size()
    with capsys.disabled():
        print(f"\nIDOR matrix: {routes} routes x {viewers} viewers = {cells} cells")
    assert routes >= len(ROUTES) and viewers == 5
