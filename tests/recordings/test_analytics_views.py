"""The hosts' reports as people reach them: who may see them, the chart against its table, the CSV,
the stage's counts and a ticketed room's sales, the host's period, replay and clip plays, the room page's sparkline and links, an account's deletion."""

import csv
import io
import re
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import Follow
from accounts.services import user_delete_account
from recordings.models import Clip, Recording, ReplayPlay
from rooms.analytics import charts, collect
from rooms.analytics.services import analytics_flush, analytics_room_ended
from rooms.models import ListenerSession, Participant, Question, Room, RoomFigures, RoomInvitation, Ticket
from tests.factories import PASSWORD, RecordingFactory, RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_analytics_queue():
    """Nothing left over from another test, in this process's buffer or in Redis."""
    collect.get_buffer().take()
    if settings.REDIS_URL:
        redis.Redis.from_url(settings.REDIS_URL).delete(collect.LIST_KEY, "spaces:lock:analytics-flush")
    yield
    collect.get_buffer().take()


def listen(room, key, user, joined_min, left_min, src="home"):
    t0 = room.started_at.timestamp()
    collect.session_started(
        room_id=room.pk,
        session=key,
        user_id=user.pk if user else None,
        on_stage=False,
        route="websocket",
        source=src,
        at=t0 + joined_min * 60,
    )
    if left_min is not None:
        collect.session_ended(room_id=room.pk, session=key, at=t0 + left_min * 60)


@pytest.fixture
def ended_room(db):
    start = (timezone.now() - timedelta(hours=3)).replace(second=0, microsecond=0)
    room = RoomFactory(started_at=start)
    listen(room, "a", UserFactory(), 0, 10)
    listen(room, "b", UserFactory(), 2, 6, src="search")
    listen(room, "c", None, 3, 8, src="share")
    Room.objects.filter(pk=room.pk).update(state=Room.State.ENDED, ended_at=start + timedelta(minutes=12))
    room.refresh_from_db()
    analytics_room_ended(room_id=room.pk)
    return room


# -- who may see it -------------------------------------------------------------------------------


def test_the_host_cohosts_and_staff_see_a_rooms_report_and_nobody_else(client, ended_room):
    url = reverse("rooms:analytics", args=[ended_room.pk])
    cohost, listener, staff = UserFactory(), UserFactory(), UserFactory(is_staff=True)
    Participant.objects.create(room=ended_room, user=cohost, role=Participant.Role.COHOST)
    Participant.objects.create(room=ended_room, user=listener)
    assert client.get(url).status_code == 404
    assert client.get(reverse("rooms:analytics_csv", args=[ended_room.pk])).status_code == 404
    for person, status in ((ended_room.host, 200), (cohost, 200), (staff, 200), (listener, 404)):
        client.force_login(person)
        assert client.get(url).status_code == status, person
        assert client.get(reverse("rooms:analytics_csv", args=[ended_room.pk])).status_code == status
    assert client.get(reverse("rooms:analytics", args=[ended_room.pk + 999])).status_code == 404


def test_a_hosts_report_is_their_own_only(client, ended_room):
    url = reverse("accounts:analytics", args=[ended_room.host.handle])
    assert client.get(url).status_code == 404
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404
    client.force_login(ended_room.host)
    assert client.get(url).status_code == 200


# -- what the report shows ------------------------------------------------------------------------


def test_the_report_shows_the_figures_and_no_one_who_listened(client, ended_room):
    client.force_login(ended_room.host)
    page = client.get(reverse("rooms:analytics", args=[ended_room.pk])).content.decode()
    assert re.search(r'data-testid="stat-peak">3<', page)
    assert re.search(r'data-testid="stat-unique">3<', page)
    # 10 + 4 + 5 listener-minutes; the median listener stayed 5 minutes.
    assert re.search(r'data-testid="stat-minutes">19<', page)
    assert re.search(r'data-testid="stat-median">5.0 min<', page)
    listeners = ListenerSession.objects.filter(room=ended_room, user__isnull=False).values_list(
        "user__handle", flat=True
    )
    assert all(handle not in page for handle in listeners)


def test_the_charts_points_match_the_table_beside_it(client, ended_room):
    client.force_login(ended_room.host)
    page = client.get(reverse("rooms:analytics", args=[ended_room.pk])).content.decode()
    top = int(re.search(r'data-testid="listeners-chart" data-top="(\d+)"', page).group(1))
    points = re.search(r'<polyline class="chart-line" points="([^"]+)"', page).group(1).split()
    table = page[page.index('data-testid="listeners-table"') :]
    table = table[: table.index("</table>")]
    values = [int(v) for v in re.findall(r"</time></th><td>(\d+)</td>", table)]
    assert len(values) == 12 and len(points) == len(values)
    chart = charts.line_chart(values)
    assert top == chart.top == 3
    for point, value in zip(points, values, strict=True):
        y = float(point.split(",")[1])
        assert charts.value_at(chart, y) == pytest.approx(value, abs=0.05)
    assert values[:4] == [1, 1, 2, 3]


def test_the_csv_has_one_row_per_minute(client, ended_room):
    client.force_login(ended_room.host)
    response = client.get(reverse("rooms:analytics_csv", args=[ended_room.pk]))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["minute", "listeners", "joins", "leaves", "reactions"]
    assert len(rows) == 1 + 12
    first = rows[1]
    assert first[0] == ended_room.started_at.isoformat()
    assert [int(v) for v in first[1:]] == [1, 1, 0, 0]
    assert sum(int(r[2]) for r in rows[1:]) == 3 and sum(int(r[3]) for r in rows[1:]) == 3


def test_a_live_rooms_report_is_computed_from_what_has_been_flushed(client, db):
    room = RoomFactory(started_at=timezone.now() - timedelta(minutes=5))
    listen(room, "now-1", UserFactory(), 1, None)
    listen(room, "now-2", None, 2, 4)
    analytics_flush()
    client.force_login(room.host)
    page = client.get(reverse("rooms:analytics", args=[room.pk])).content.decode()
    assert re.search(r'data-testid="stat-peak">2<', page) and re.search(r'data-testid="stat-unique">2<', page)
    assert not RoomFigures.objects.filter(room=room).exists()


def test_the_report_shows_the_stage_and_a_ticketed_rooms_sales_over_time(client, db):
    start = (timezone.now() - timedelta(days=2)).replace(second=0, microsecond=0)
    host, guest = UserFactory(display_name="Hana Host"), UserFactory(display_name="Gil Guest")
    room = RoomFactory(host=host, started_at=start, ticket_price=500, ticket_capacity=10, tickets_taken=3)
    listen(room, "t-1", UserFactory(), 0, 5)
    t0 = start.timestamp()
    collect.tally(room_id=room.pk, kind="reaction", count=7, at=t0 + 60)
    collect.tally(room_id=room.pk, kind="reaction", count=2, at=t0 + 240)
    collect.tally(room_id=room.pk, kind="hand", count=3, at=t0 + 120)
    collect.tally(room_id=room.pk, kind="talk_ms", count=180_000, user_id=host.pk, at=t0 + 60)
    collect.tally(room_id=room.pk, kind="talk_ms", count=60_000, user_id=guest.pk, at=t0 + 120)
    asker = UserFactory()
    for text, state in (
        ("One?", Question.State.OPEN),
        ("Two?", Question.State.ANSWERED),
        ("Gone", Question.State.REMOVED),
    ):
        Question.objects.create(
            room=room,
            asker=asker,
            text=text,
            state=state,
            answered_at=start if state == Question.State.ANSWERED else None,
        )
    days = [start - timedelta(days=3), start - timedelta(days=3), start - timedelta(days=1)]
    for n, (paid_at, status) in enumerate(
        zip(days + [start], [Ticket.Status.PAID] * 3 + [Ticket.Status.REFUNDED], strict=True)
    ):
        Ticket.objects.create(
            room=room,
            buyer=UserFactory(),
            status=status,
            amount=500,
            currency="USD",
            provider="development",
            checkout_id=f"dev_cs_report_{room.pk}_{n}",
            paid_at=paid_at,
        )
    Room.objects.filter(pk=room.pk).update(state=Room.State.ENDED, ended_at=start + timedelta(minutes=6))
    analytics_room_ended(room_id=room.pk)
    client.force_login(host)
    page = client.get(reverse("rooms:analytics", args=[room.pk])).content.decode()
    assert re.search(r'data-testid="stat-reactions">9<', page)
    assert re.search(r'data-testid="stat-hands">3<', page)
    assert re.search(r'data-testid="stat-questions">2<', page)  # a removed question is not counted
    talk = page[page.index('data-testid="talk-table"') :]
    talk = talk[: talk.index("</table>")]
    assert re.findall(r'<th scope="row">([^<]+)</th><td>(\d+) min', talk) == [
        ("Hana Host", "3"),
        ("Gil Guest", "1"),
    ]
    assert "3 sold" in page[page.index('data-testid="sales-total"') :][:200]
    sales = page[page.index('data-testid="sales-table"') :]
    sales = sales[: sales.index("</table>")]
    # Per day: the two tickets of the first day, then the third; the refunded one is no sale.
    assert re.findall(r'<th scope="row">([\d-]+)</th><td>(\d+)</td>', sales) == [
        (days[0].date().isoformat(), "2"),
        (days[2].date().isoformat(), "1"),
    ]
    # The CSV's reactions, minute by minute.
    rows = list(
        csv.reader(io.StringIO(client.get(reverse("rooms:analytics_csv", args=[room.pk])).content.decode()))
    )
    assert [int(r[4]) for r in rows[1:]] == [0, 7, 0, 0, 2, 0]


# -- the host's report ----------------------------------------------------------------------------


def test_the_hosts_report_lists_rooms_of_the_period_with_followers_gained(client, ended_room):
    host = ended_room.host
    fan = ListenerSession.objects.get(key="a").user
    Follow.objects.create(follower=fan, followee=host)  # after listening, within a day of the end
    early = UserFactory()
    Follow.objects.create(follower=early, followee=host)  # never listened
    RecordingFactory(room=ended_room, play_count=7)
    client.force_login(host)
    page = client.get(reverse("accounts:analytics", args=[host.handle])).content.decode()
    assert ended_room.title in page
    assert re.search(r'data-testid="total-rooms">1<', page)
    assert re.search(r'data-testid="total-followers">1<', page)
    assert re.search(r'data-testid="total-replay-plays">7<', page)
    assert 'data-testid="rooms-chart"' in page
    day = ended_room.started_at.date()
    earlier = client.get(
        reverse("accounts:analytics", args=[host.handle]),
        {"from": (day - timedelta(days=30)).isoformat(), "to": (day - timedelta(days=1)).isoformat()},
    )
    assert earlier.status_code == 200 and ended_room.title not in earlier.content.decode()


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-03-10", "2026-03-01", "The period starts after it ends"),
        ("2025-01-01", "2026-03-01", "A report covers at most a year"),
        ("yesterday", "2026-03-01", "Give the dates as YYYY-MM-DD"),
    ],
)
def test_a_reversed_or_too_long_period_is_a_clear_error(client, user, start, end, message):
    client.force_login(user)
    response = client.get(reverse("accounts:analytics", args=[user.handle]), {"from": start, "to": end})
    assert response.status_code == 400
    assert message in response.content.decode()


def test_a_period_of_a_year_is_fine(client, user):
    client.force_login(user)
    url = reverse("accounts:analytics", args=[user.handle])
    assert client.get(url, {"from": "2025-03-02", "to": "2026-03-02"}).status_code == 200


# -- replay and clip plays ------------------------------------------------------------------------


def test_a_replay_plays_listen_time_gives_the_median(client, ended_room):
    recording = RecordingFactory(room=ended_room, duration_ms=600_000)
    for listened in (60_000, 120_000, 900_000):
        visitor = client.__class__()
        visitor.get(reverse("recordings:detail", args=[recording.pk]))
        assert visitor.post(reverse("recordings:play", args=[recording.pk])).json()["counted"]
        url = reverse("recordings:listened", args=[recording.pk])
        assert visitor.post(url, {"ms": listened}).json()["noted"]
        assert visitor.post(url, {"ms": 1000}).json()["noted"]  # a late, shorter report changes nothing
    # Capped at the replay's length.
    assert sorted(ReplayPlay.objects.filter(recording=recording).values_list("listened_ms", flat=True)) == [
        60_000,
        120_000,
        600_000,
    ]
    assert (
        client.post(reverse("recordings:listened", args=[recording.pk]), {"ms": 5}).json()["noted"] is False
    )
    client.force_login(ended_room.host)
    page = client.get(reverse("rooms:analytics", args=[ended_room.pk])).content.decode()
    assert re.search(r'data-testid="stat-replay-plays">3<', page)
    assert re.search(r'data-testid="stat-replay-median">2 min<', page)


def test_a_clip_play_counts_once_per_visitor(client, ended_room):
    recording = RecordingFactory(room=ended_room)
    clip = Clip.objects.create(
        recording=recording,
        created_by=UserFactory(),
        title="A moment",
        source=Clip.Source.REPLAY,
        status=Clip.Status.READY,
        start_ms=0,
        end_ms=10_000,
        duration_ms=10_000,
    )
    url = reverse("clips:play", args=[clip.pk])
    assert client.post(url).json()["counted"] is True
    assert client.post(url).json()["counted"] is False
    other = client.__class__()
    assert other.post(url).json()["counted"] is True
    clip.refresh_from_db()
    assert clip.play_count == 2
    client.force_login(ended_room.host)
    page = client.get(reverse("rooms:analytics", args=[ended_room.pk])).content.decode()
    assert re.search(r'data-testid="stat-clip-plays">2<', page)
    assert Recording.objects.filter(room=ended_room).exists()


# -- the room page --------------------------------------------------------------------------------


def test_the_room_page_passes_where_the_visitor_came_from_to_its_socket(client, db):
    room = RoomFactory()
    page = client.get(reverse("rooms:detail", args=[room.pk]), {"src": "topic"}).content.decode()
    assert f'data-ws-path="/ws/rooms/{room.pk}/?src=topic"' in page
    assert f"/rooms/{room.pk}/?src=share" in page
    referred = client.get(
        reverse("rooms:detail", args=[room.pk]), HTTP_REFERER="http://testserver/rooms/search/?q=x"
    )
    assert "?src=search" in referred.content.decode()
    elsewhere = client.get(reverse("rooms:detail", args=[room.pk]), HTTP_REFERER="https://news.example/item")
    assert "?src=other_site" in elsewhere.content.decode()
    forged = client.get(reverse("rooms:detail", args=[room.pk]), {"src": "<script>"}).content.decode()
    assert f'data-ws-path="/ws/rooms/{room.pk}/?src=direct"' in forged
    invitee = UserFactory()
    RoomInvitation.objects.create(room=room, invitee=invitee, invited_by=room.host)
    client.force_login(invitee)
    invited = client.get(reverse("rooms:detail", args=[room.pk]), {"src": "notification"})
    assert "?src=invite" in invited.content.decode()


def test_the_host_sees_a_sparkline_while_live_and_the_way_to_the_report(client, db):
    room = RoomFactory(started_at=timezone.now() - timedelta(minutes=3))
    listen(room, "s1", UserFactory(), 0, None)
    analytics_flush()
    client.force_login(room.host)
    page = client.get(reverse("rooms:detail", args=[room.pk])).content.decode()
    assert 'data-testid="sparkline"' in page and 'data-testid="analytics-link"' in page
    assert re.search(r'data-values="[0-9,]*1"', page)
    client.force_login(UserFactory())
    page = client.get(reverse("rooms:detail", args=[room.pk])).content.decode()
    assert 'data-testid="sparkline"' not in page and 'data-testid="analytics-link"' not in page


def test_room_cards_carry_the_list_they_are_in(client, db):
    room = RoomFactory()
    assert f"/rooms/{room.pk}/?src=home" in client.get(reverse("home")).content.decode()
    profile = client.get(reverse("accounts:profile", args=[room.host.handle])).content.decode()
    assert f"/rooms/{room.pk}/?src=profile" in profile


# -- privacy --------------------------------------------------------------------------------------


def test_deleting_an_account_takes_its_listening_and_keeps_the_rooms_figures(ended_room):
    person = ListenerSession.objects.get(key="a").user
    person.set_password(PASSWORD)
    person.save()
    user_delete_account(user=person, password=PASSWORD)
    assert not ListenerSession.objects.filter(key="a").exists()
    assert RoomFigures.objects.get(room=ended_room).figures["unique"] == 3
