"""/metrics: who may read it, that Prometheus can parse it, and that what people do shows in it.

The web process's figures here come from the real app through Django's test client; the figures of
the other processes (mixers, workers) added up across a machine are in tests/faults/test_metrics_processes.py.
"""

import ipaddress
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from recordings.models import Recording
from rooms.audio.captioner import Caption
from rooms.live.captions import CaptionSink
from rooms.models import Ticket
from rooms.services import tickets
from spaces_project.celery import app as celery_app
from spaces_project.metrics import exposition
from tests.factories import ReplayFactory, RoomFactory, UserFactory
from tests.metrics_reader import family_names, value

pytestmark = pytest.mark.django_db
TOKEN = "a-metrics-token-for-tests-only-0123456789"
NGINX = "127.0.0.1"

# What the app exports, by family name (the parser drops a counter's _total).
EXPORTED = {
    "spaces_websockets_open",
    "spaces_listeners",
    "spaces_live_rooms",
    "spaces_audio_bundles_sent",
    "spaces_audio_bundles_dropped",
    "spaces_audio_uplink_dropped",
    "spaces_mixer_tick_seconds",
    "spaces_mixer_lag_seconds",
    "spaces_captions_lines",
    "spaces_captions_queue_depth",
    "spaces_captions_voice_dropped",
    "spaces_task_duration_seconds",
    "spaces_tasks",
    "spaces_http_request_duration_seconds",
    "spaces_http_responses",
    "spaces_tickets",
    "spaces_recordings_processing",
    "spaces_recordings_stuck",
}


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []
    return TOKEN


def scrape(client) -> str:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.content.decode()


def test_with_no_token_and_no_networks_metrics_are_off_for_everyone(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything-at-all-here").status_code == 404


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token-of-some-length", f"Basic {TOKEN}", TOKEN]
)
def test_without_the_bearer_token_metrics_are_refused(client, token, authorization):
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = client.get("/metrics", **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"spaces_" not in response.content


def test_with_the_token_the_text_parses_and_names_every_metric(client, token):
    names = family_names(scrape(client))
    assert EXPORTED <= names, EXPORTED - names


@pytest.mark.parametrize(
    "remote, forwarded, status",
    [
        ("10.1.2.3", None, 200),  # the Prometheus server, directly
        ("192.0.2.10", None, 403),
        ("", None, 403),  # a unix socket with no proxy trusted: no address at all
        # Behind nginx the client is the address nginx saw, not nginx's loopback one.
        (NGINX, "10.1.2.3", 200),
        (NGINX, "203.0.113.9", 403),
        (NGINX, "10.1.2.3, 203.0.113.9", 403),  # the client wrote the first entry itself
    ],
)
def test_only_addresses_in_the_allowed_networks_may_read_metrics(client, settings, remote, forwarded, status):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    settings.TRUSTED_PROXY_COUNT = 1
    extra = {"REMOTE_ADDR": remote}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    assert client.get("/metrics", **extra).status_code == status


def test_with_both_set_both_must_hold(client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.5", **bearer).status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.5").status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1", **bearer).status_code == 403


def test_http_latency_is_by_view_name_never_by_path(client, token):
    before = scrape(client)
    rooms = [RoomFactory(), RoomFactory()]
    for room in rooms:
        assert client.get(reverse("rooms:detail", args=[room.pk])).status_code == 200
    assert client.get("/no-such-page/").status_code == 404
    after = scrape(client)
    count = "spaces_http_request_duration_seconds_count"
    assert value(after, count, view="rooms:detail") - value(before, count, view="rooms:detail") == 2
    assert value(after, count, view="(not found)") - value(before, count, view="(not found)") == 1
    assert "/no-such-page/" not in after and f"/rooms/{rooms[0].pk}/" not in after
    responses = "spaces_http_responses_total"
    assert (
        value(after, responses, view="rooms:detail", status="2xx")
        - value(before, responses, view="rooms:detail", status="2xx")
        == 2
    )


def test_live_rooms_are_counted_at_each_scrape(client, token):
    before = value(scrape(client), "spaces_live_rooms")
    RoomFactory()
    RoomFactory(scheduled=True)
    assert value(scrape(client), "spaces_live_rooms") == before + 1


def test_a_ticket_sold_and_refunded_is_counted_once_each(client, token, django_capture_on_commit_callbacks):
    room = RoomFactory(scheduled=True)
    tickets.ticket_sales_set(room_id=room.pk, actor=room.host, price="5.00", capacity=3)
    before = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        ticket = tickets.ticket_purchase(room_id=room.pk, buyer=UserFactory())
    Ticket.objects.filter(pk=ticket.pk).update(refund_requested_at=timezone.now())  # the host cancelled
    with django_capture_on_commit_callbacks(execute=True):
        tickets.ticket_refund(ticket_id=ticket.pk)
    after = scrape(client)
    sold, refunded = (
        ("spaces_tickets_total", {"event": "sold"}),
        ("spaces_tickets_total", {"event": "refunded"}),
    )
    assert value(after, sold[0], **sold[1]) - value(before, sold[0], **sold[1]) == 1
    assert value(after, refunded[0], **refunded[1]) - value(before, refunded[0], **refunded[1]) == 1


def test_a_sale_rolled_back_is_not_counted(client, token, django_capture_on_commit_callbacks):
    room = RoomFactory(scheduled=True)
    tickets.ticket_sales_set(room_id=room.pk, actor=room.host, price="5.00", capacity=3)
    before = value(scrape(client), "spaces_tickets_total", event="sold")
    with django_capture_on_commit_callbacks(execute=False):  # the transaction never commits
        tickets.ticket_purchase(room_id=room.pk, buyer=UserFactory())
    assert value(scrape(client), "spaces_tickets_total", event="sold") == before


def test_recordings_processing_long_past_their_dispatch_are_stuck(client, token, settings):
    settings.RECORDINGS_STUCK_AFTER_S = 600
    before = scrape(client)
    ReplayFactory(
        status=Recording.Status.PROCESSING, processing_started_at=timezone.now() - timedelta(hours=1)
    )
    ReplayFactory(status=Recording.Status.PROCESSING, processing_started_at=timezone.now())
    after = scrape(client)
    assert value(after, "spaces_recordings_processing") - value(before, "spaces_recordings_processing") == 2
    assert value(after, "spaces_recordings_stuck") - value(before, "spaces_recordings_stuck") == 1


def test_an_app_collector_is_registered_once(client, token):
    from rooms import metrics as room_metrics  # noqa: PLC0415 (the app's module, as ready() registers it)

    exposition.register_collector(room_metrics.collect)
    assert scrape(client).count("# TYPE spaces_live_rooms gauge") == 1


@pytest.mark.django_db(transaction=True)  # the sink closes stale connections, as its thread must
def test_caption_lines_are_counted_by_kind_skipped_ones_apart(client, token):
    room = RoomFactory(captions_enabled=True)
    sink = CaptionSink()
    before = scrape(client)
    sink(Caption(room.pk, room.host_id, 1, False, "hello", 0.0, 500.0))
    sink(Caption(room.pk, room.host_id, 1, True, "hello there", 0.0, 900.0))
    sink(Caption(room.pk, room.host_id, 2, True, "", 900.0, 4000.0, skipped=True))
    after = scrape(client)
    for kind in ("partial", "final", "skipped"):
        lines = "spaces_captions_lines_total"
        assert value(after, lines, kind=kind) - value(before, lines, kind=kind) == 1, kind


@celery_app.task(name="tests.test_metrics.sometimes_fails")
def sometimes_fails(fail: bool) -> str:
    if fail:
        raise ValueError("asked to fail")
    return "done"


def test_task_runs_are_timed_and_successes_counted(client, token):
    """Run eagerly, as the tests run tasks. An eager failure propagates before Celery sends
    task_failure; a real worker's failures are counted in tests/faults/test_metrics_processes.py."""
    name = sometimes_fails.name
    runs, timed = "spaces_tasks_total", "spaces_task_duration_seconds_count"
    before = scrape(client)
    sometimes_fails.apply(args=(False,))
    with pytest.raises(ValueError):
        sometimes_fails.apply(args=(True,))
    after = scrape(client)
    assert (
        value(after, runs, task=name, outcome="success") - value(before, runs, task=name, outcome="success")
        == 1
    )
    assert value(after, timed, task=name) - value(before, timed, task=name) == 2
