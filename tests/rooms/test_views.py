import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.services import block_create, follow_create
from recordings.models import Recording
from rooms import services
from rooms.models import Participant, Room
from rooms.templatetags.rooms_tags import duration
from tests.conftest import main_html
from tests.factories import ReplayFactory, RoomFactory, UserFactory

from .conftest import csrf_post

pytestmark = pytest.mark.django_db

CREATE = reverse("rooms:create")


def cards(response) -> int:
    return len(re.findall(r'class="card room-card', response.content.decode()))


def room_form(**overrides):
    data = {
        "title": "Talking about Django",
        "description": "Bring questions.",
        "topics": "django, python",
        "when": "now",
        "scheduled_for": "",
        "tz": "UTC",
        "speaker_policy": "everyone",
        "allow_anonymous": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def local_input(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


class TestCreate:
    def test_anonymous_visitor_is_sent_to_sign_in(self, client):
        response = client.get(CREATE)
        assert response.status_code == 302
        assert reverse("account_login") in response["Location"]

    def test_start_now_opens_a_live_room_and_shows_it(self, signed_in, user):
        response = csrf_post(signed_in, CREATE, room_form(is_recorded="on"))
        room = Room.objects.get(host=user)
        assert response.status_code == 302 and response["Location"] == reverse("rooms:detail", args=[room.pk])
        assert room.is_live and room.is_recorded and room.allow_anonymous
        assert [rt.tag.slug for rt in room.room_topics.select_related("tag")] == ["django", "python"]
        page = signed_in.get(response["Location"]).content.decode()
        assert "Talking about Django" in page and "#django" in page and "REC" in page

    def test_schedule_reads_the_time_in_the_browsers_time_zone(self, signed_in, user):
        moment = (timezone.now() + timedelta(days=2)).replace(second=0, microsecond=0)
        data = room_form(when="schedule", scheduled_for=local_input(moment, "America/New_York"))
        data["tz"] = "America/New_York"
        csrf_post(signed_in, CREATE, data)
        room = Room.objects.get(host=user)
        assert room.state == Room.State.SCHEDULED
        assert room.scheduled_for == moment

    def test_schedule_without_a_known_time_zone_reads_utc(self, signed_in, user):
        moment = (timezone.now() + timedelta(days=2)).replace(second=0, microsecond=0)
        csrf_post(
            signed_in,
            CREATE,
            room_form(when="schedule", scheduled_for=local_input(moment, "UTC"), tz="Not/AZone"),
        )
        assert Room.objects.get(host=user).scheduled_for == moment

    @pytest.mark.parametrize(
        "overrides, field, message",
        [
            ({"title": ""}, "title", "Give the room a title."),
            ({"title": "x" * 71}, "title", "at most 70 characters"),
            ({"topics": "a, b, c, d"}, "topics", "at most 3 topics"),
            ({"when": "schedule", "scheduled_for": ""}, "scheduled_for", "Pick when the room starts."),
            ({"when": "schedule", "scheduled_for": "2001-01-01T10:00"}, "scheduled_for", "in the future"),
            ({"speaker_policy": "nobody"}, "speaker_policy", "Select a valid choice"),
        ],
    )
    def test_refusals_show_next_to_their_field(self, signed_in, user, overrides, field, message):
        response = csrf_post(signed_in, CREATE, room_form(**overrides))
        assert response.status_code == 200
        assert not Room.objects.filter(host=user).exists()
        form = response.context["form"]
        assert any(message in error for error in form.errors[field])
        assert message in response.content.decode()

    def test_refusal_without_a_field_shows_above_the_form(self, signed_in, user):
        RoomFactory(host=user)
        response = csrf_post(signed_in, CREATE, room_form())
        assert response.status_code == 200
        assert "already hosting a live room" in " ".join(response.context["form"].non_field_errors())
        assert Room.objects.filter(host=user).count() == 1

    def test_post_without_csrf_token_is_refused(self, signed_in, user):
        response = signed_in.post(CREATE, room_form())
        assert response.status_code == 403
        assert not Room.objects.exists()


class TestHostActions:
    def test_host_can_start_a_scheduled_room(self, signed_in, user):
        room = RoomFactory(host=user, scheduled=True)
        response = csrf_post(
            signed_in, reverse("rooms:start", args=[room.pk]), page=reverse("rooms:detail", args=[room.pk])
        )
        assert response.status_code == 302
        room.refresh_from_db()
        assert room.is_live

    def test_host_ends_a_live_room_after_confirming_and_sees_the_ended_view(self, signed_in, user):
        room = RoomFactory(host=user, is_recorded=True)
        detail = reverse("rooms:detail", args=[room.pk])
        page = signed_in.get(detail).content.decode()
        assert "Yes, end the room and recording" in page
        response = csrf_post(signed_in, reverse("rooms:end", args=[room.pk]), page=detail)
        assert response["Location"] == detail
        room.refresh_from_db()
        assert room.state == Room.State.ENDED
        page = signed_in.get(detail).content.decode()
        assert "This room has ended" in page and 'id="live-room"' not in page

    def test_host_can_cancel_and_the_page_says_so(self, signed_in, user):
        room = RoomFactory(host=user, scheduled=True)
        detail = reverse("rooms:detail", args=[room.pk])
        csrf_post(signed_in, reverse("rooms:cancel", args=[room.pk]), page=detail)
        room.refresh_from_db()
        assert room.state == Room.State.CANCELLED
        assert "This room was cancelled" in signed_in.get(detail).content.decode()

    def test_a_wrong_state_is_explained_not_crashed(self, signed_in, user):
        room = RoomFactory(host=user, scheduled=True)
        detail = reverse("rooms:detail", args=[room.pk])
        response = csrf_post(signed_in, reverse("rooms:end", args=[room.pk]), page=detail, follow=True)
        assert "Only a live room can be ended." in response.content.decode()
        room.refresh_from_db()
        assert room.state == Room.State.SCHEDULED

    @pytest.mark.parametrize("action", ["start", "end", "cancel"])
    def test_get_is_not_allowed(self, signed_in, user, action):
        room = RoomFactory(host=user, scheduled=action != "end")
        assert signed_in.get(reverse(f"rooms:{action}", args=[room.pk])).status_code == 405
        room.refresh_from_db()
        assert room.state == (Room.State.LIVE if action == "end" else Room.State.SCHEDULED)

    @pytest.mark.parametrize("action, scheduled", [("start", True), ("end", False), ("cancel", True)])
    def test_someone_else_cannot_change_the_room(self, signed_in, action, scheduled):
        room = RoomFactory(scheduled=scheduled)
        before = room.state
        detail = reverse("rooms:detail", args=[room.pk])
        assert "Host controls" not in signed_in.get(detail).content.decode()
        response = csrf_post(signed_in, reverse(f"rooms:{action}", args=[room.pk]), page=detail)
        assert response.status_code == 403
        room.refresh_from_db()
        assert room.state == before

    def test_anonymous_post_is_sent_to_sign_in(self, csrf_client):
        room = RoomFactory()
        response = csrf_post(csrf_client, reverse("rooms:end", args=[room.pk]), page=reverse("account_login"))
        assert response.status_code == 302
        room.refresh_from_db()
        assert room.is_live


class TestEdit:
    def test_someone_else_cannot_open_or_post_the_edit_page(self, signed_in):
        room = RoomFactory(title="Not yours")
        url = reverse("rooms:edit", args=[room.pk])
        assert signed_in.get(url).status_code == 403
        response = csrf_post(signed_in, url, room_form(title="Mine now"), page=reverse("home"))
        assert response.status_code == 403
        room.refresh_from_db()
        assert room.title == "Not yours"

    def test_record_switch_is_offered_only_while_scheduled(self, signed_in, user):
        scheduled = RoomFactory(host=user, scheduled=True)
        page = signed_in.get(reverse("rooms:edit", args=[scheduled.pk])).content.decode()
        assert 'name="is_recorded"' in page and 'name="scheduled_for"' in page
        live = RoomFactory(host=user)
        page = signed_in.get(reverse("rooms:edit", args=[live.pk])).content.decode()
        assert 'name="is_recorded"' not in page and 'name="scheduled_for"' not in page

    def test_host_edits_a_scheduled_room(self, signed_in, user):
        room = RoomFactory(host=user, scheduled=True)
        url = reverse("rooms:edit", args=[room.pk])
        page = signed_in.get(url).content.decode()
        # The stored time is offered back, in UTC until the script converts it.
        assert room.scheduled_for.strftime("%Y-%m-%dT%H:%M") in page
        new_time = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
        data = room_form(
            title="Renamed", topics="one, two", scheduled_for=local_input(new_time, "UTC"), is_recorded="on"
        )
        del data["when"]
        response = csrf_post(signed_in, url, data)
        assert response.status_code == 302
        room.refresh_from_db()
        assert (room.title, room.scheduled_for, room.is_recorded) == ("Renamed", new_time, True)
        assert list(room.room_topics.values_list("tag__slug", flat=True)) == ["one", "two"]

    def test_live_room_edit_keeps_recording_as_it_was(self, signed_in, user):
        room = RoomFactory(host=user, is_recorded=False)
        url = reverse("rooms:edit", args=[room.pk])
        response = csrf_post(signed_in, url, room_form(title="Live rename", is_recorded="on"))
        assert response.status_code == 302
        room.refresh_from_db()
        assert room.title == "Live rename" and not room.is_recorded

    def test_edit_errors_show_on_the_form(self, signed_in, user):
        room = RoomFactory(host=user, title="Keep me")
        response = csrf_post(signed_in, reverse("rooms:edit", args=[room.pk]), room_form(title=""))
        assert response.status_code == 200
        assert "Give the room a title." in response.content.decode()
        room.refresh_from_db()
        assert room.title == "Keep me"


class TestRoomPage:
    def test_anonymous_visitor_sees_a_public_room(self, client):
        room = services.room_create(
            host=UserFactory(display_name="Hosty"), title="Open to all", topics=["news"]
        )
        listener = UserFactory(display_name="Lisa Listener")
        Participant.objects.create(room=room, user=listener)
        response = client.get(reverse("rooms:detail", args=[room.pk]))
        page = response.content.decode()
        assert response.status_code == 200
        assert "Open to all" in page and "Hosty" in page and "#news" in page
        assert "Lisa Listener" in page
        assert f'data-room-id="{room.pk}"' in page
        assert f"http://testserver/rooms/{room.pk}/" in page
        assert "Host controls" not in page

    def test_room_closed_to_anonymous_listeners_says_to_sign_in(self, client):
        room = RoomFactory(allow_anonymous=False)
        page = client.get(reverse("rooms:detail", args=[room.pk])).content.decode()
        assert "Sign in to listen to this room." in page
        assert (
            "Sign in to listen"
            not in client.get(reverse("rooms:detail", args=[RoomFactory().pk])).content.decode()
        )

    @pytest.mark.parametrize("direction", ["host_blocks_viewer", "viewer_blocks_host"])
    def test_blocked_people_get_not_found(self, client, user, direction):
        room = RoomFactory()
        if direction == "host_blocks_viewer":
            block_create(blocker=room.host, blocked=user)
        else:
            block_create(blocker=user, blocked=room.host)
        client.force_login(user)
        assert client.get(reverse("rooms:detail", args=[room.pk])).status_code == 404

    def test_missing_room_is_not_found(self, client):
        assert client.get(reverse("rooms:detail", args=[999999])).status_code == 404

    def test_report_link_for_others(self, client, user):
        room = RoomFactory()
        client.force_login(user)
        page = client.get(reverse("rooms:detail", args=[room.pk])).content.decode()
        assert f"/reports/new/room/{room.pk}/" in page

    def test_scheduled_room_shows_its_time(self, client):
        when = datetime(2030, 1, 2, 15, 30, tzinfo=ZoneInfo("UTC"))
        room = RoomFactory(scheduled=True, scheduled_for=when)
        page = client.get(reverse("rooms:detail", args=[room.pk])).content.decode()
        assert 'datetime="2030-01-02T15:30:00+00:00"' in page

    def test_ended_room_says_when_it_ran_and_for_how_long(self, client):
        ended = timezone.now()
        room = RoomFactory(
            state=Room.State.ENDED,
            started_at=ended - timedelta(hours=1, minutes=5, seconds=30),
            ended_at=ended,
        )
        page = client.get(reverse("rooms:detail", args=[room.pk])).content.decode()
        when = re.search(r'<p class="room-when"[^>]*>(.*?)</p>', page, re.S).group(1)
        assert "Live since" not in page
        assert when.startswith("Ran <time") and when.endswith("· 1 h 5 min")
        assert f"{ended:%H:%M} UTC</time>" in when and 'data-local-time="time"' in when

    def test_live_room_says_since_when(self, client):
        room = RoomFactory(started_at=timezone.now() - timedelta(minutes=3))
        page = client.get(reverse("rooms:detail", args=[room.pk])).content.decode()
        assert re.search(r'<p class="room-when"[^>]*data-live-for-s="18\d"[^>]*>Live since', page)


@pytest.mark.parametrize(
    "minutes, said",
    [(0.5, "less than a minute"), (1, "1 min"), (47, "47 min"), (60, "1 h"), (125, "2 h 5 min")],
)
def test_durations_are_said_as_people_say_them(minutes, said):
    assert duration(minutes * 60) == said


class TestEndedRoomReplay:
    """The ended view of a recorded room promises the replay, then links it (static/js/replay-wait.js)."""

    def ended_recorded_room(self):
        room = services.room_create(host=UserFactory(), title="Taped", is_recorded=True)
        services.room_end(room=room, actor=room.host)
        return room, Recording.objects.get(room=room)

    def test_while_it_is_made_the_page_waits_for_it(self, client):
        room, recording = self.ended_recorded_room()
        assert recording.status == "processing"
        page = client.get(reverse("rooms:detail", args=[room.pk])).content.decode()
        assert "data-replay-wait" in page
        assert f'data-status-url="/recordings/{recording.pk}/status/"' in page
        assert f'data-replay-url="/recordings/{recording.pk}/"' in page
        assert "js/replay-wait.js" in page

    def test_once_published_it_is_linked(self, client):
        room, recording = self.ended_recorded_room()
        recording.status = "ready"
        recording.save()
        page = client.get(reverse("rooms:detail", args=[room.pk])).content.decode()
        assert f'href="/recordings/{recording.pk}/" data-testid="replay-link">Play the replay' in page
        assert "data-replay-wait" not in page

    def test_a_live_recorded_room_tells_its_page_where_the_replay_will_be(self, client):
        room = services.room_create(host=UserFactory(), title="Taping", is_recorded=True)
        page = client.get(reverse("rooms:detail", args=[room.pk])).content.decode()
        recording_id = room.recording.pk
        assert f'data-replay-status-url="/recordings/{recording_id}/status/"' in page
        plain = client.get(reverse("rooms:detail", args=[RoomFactory().pk])).content.decode()
        assert "data-replay-status-url" not in plain


class TestLists:
    def test_empty_home_invites_to_start_a_room(self, client):
        page = client.get(reverse("home")).content.decode()
        assert "Start a room" in page and "quiet" in page

    def test_home_shows_followed_live_rooms_in_their_own_row(self, client, user):
        friend = UserFactory()
        follow_create(follower=user, followee=friend)
        RoomFactory(host=friend, title="Friend talk")
        RoomFactory(title="Stranger talk")
        client.force_login(user)
        page = client.get(reverse("home")).content.decode()
        assert "Live now from people you follow" in page
        assert page.index("Friend talk") < page.index("Stranger talk")
        client.logout()
        assert "Live now from people you follow" not in client.get(reverse("home")).content.decode()

    def test_home_paginates_live_rooms_12_at_a_time(self, client):
        for _ in range(13):
            RoomFactory()
        RoomFactory(scheduled=True, title="Upcoming one")
        first = client.get(reverse("home"))
        assert cards(first) == 12 + 1
        assert "?page=2" in first.content.decode()
        second = client.get(reverse("home"), {"page": 2})
        assert cards(second) == 1 + 1
        assert "Upcoming one" in second.content.decode()
        assert client.get(reverse("home"), {"page": "junk"}).status_code == 200

    def test_upcoming_pages_separately(self, client):
        for hours in range(1, 15):
            RoomFactory(
                scheduled=True, scheduled_for=timezone.now() + timedelta(hours=hours), title=f"Up {hours:02}"
            )
        page = client.get(reverse("home"), {"upcoming_page": 2}).content.decode()
        assert "Up 13" in page and "Up 14" in page and "Up 01" not in page

    def test_home_queries_do_not_grow_with_the_number_of_rooms(self, client, user):
        client.force_login(user)

        def home_queries():
            with CaptureQueriesContext(connection) as captured:
                assert client.get(reverse("home")).status_code == 200
            return len(captured)

        def add(count):
            for _ in range(count):
                room = services.room_create(host=UserFactory(), title="Talk", topics=["x", "y"])
                follow_create(follower=user, followee=room.host)
                RoomFactory()
                RoomFactory(scheduled=True)
                ReplayFactory(room__host=room.host, play_count=3)  # a followed host's replay
                ReplayFactory(play_count=5)  # a popular one

        add(2)
        home_queries()  # the popular-topics row is cached after the first view
        few = home_queries()
        add(6)
        assert home_queries() == few

    def test_topic_page(self, client):
        services.room_create(host=UserFactory(), title="Pythonic", topics=["Python"])
        services.room_create(host=UserFactory(), title="Other", topics=["music"])
        response = client.get(reverse("rooms:topic", args=["python"]))
        page = main_html(response)
        assert "Pythonic" in page and "Other" not in page
        assert client.get(reverse("rooms:topic", args=["no-such-topic"])).status_code == 404

    def test_popular_topics_link_to_topic_pages(self, client):
        services.room_create(host=UserFactory(), title="Pythonic", topics=["Python"])
        assert reverse("rooms:topic", args=["python"]) in client.get(reverse("home")).content.decode()

    def test_search_page_by_handle_and_topic_and_pages(self, client):
        alice = UserFactory(handle="alice")
        services.room_create(host=alice, title="Alice's room", topics=["python"])
        for n in range(25):
            RoomFactory(title=f"Quiz {n}")
        page = client.get(reverse("rooms:search"), {"q": "@alice"}).content.decode()
        assert "Alice&#x27;s room" in page
        page = client.get(reverse("rooms:search"), {"q": "#python"}).content.decode()
        assert "Alice&#x27;s room" in page
        first = client.get(reverse("rooms:search"), {"q": "quiz"})
        assert cards(first) == 24
        assert "q=quiz&amp;page=2" in first.content.decode()
        assert cards(client.get(reverse("rooms:search"), {"q": "quiz", "page": 2})) == 1
        assert "No rooms match" in client.get(reverse("rooms:search"), {"q": "zzz"}).content.decode()
