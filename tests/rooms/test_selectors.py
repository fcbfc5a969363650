from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.services import block_create, follow_create
from rooms import selectors, services
from rooms.models import Participant, Tag
from spaces_project.errors import NotFound, ServiceError
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


def titles(rooms):
    return [room.title for room in rooms]


def live_room(title, minutes_ago, **kwargs):
    return RoomFactory(title=title, started_at=timezone.now() - timedelta(minutes=minutes_ago), **kwargs)


class TestHome:
    def test_followed_live_first_then_other_live_newest_first_then_upcoming_soonest_first(self, user):
        friend = UserFactory()
        follow_create(follower=user, followee=friend)
        live_room("Friend's room", 30, host=friend)
        live_room("Older stranger room", 20)
        live_room("Newer stranger room", 5)
        RoomFactory(title="Later", scheduled=True, scheduled_for=timezone.now() + timedelta(days=2))
        RoomFactory(title="Sooner", scheduled=True, scheduled_for=timezone.now() + timedelta(hours=2))

        sections = selectors.home_sections(viewer=user)

        assert titles(sections.followed_live) == ["Friend's room"]
        assert titles(sections.live) == ["Newer stranger room", "Older stranger room"]
        assert titles(sections.upcoming) == ["Sooner", "Later"]

    def test_anonymous_visitor_sees_every_live_room_in_one_list(self):
        live_room("One", 10)
        live_room("Two", 5)
        sections = selectors.home_sections(viewer=AnonymousUser())
        assert sections.followed_live == []
        assert titles(sections.live) == ["Two", "One"]

    def test_ended_and_cancelled_rooms_are_not_listed(self, user):
        ended = RoomFactory(title="Ended")
        services.room_end(room=ended, actor=ended.host)
        cancelled = RoomFactory(title="Cancelled", scheduled=True)
        services.room_cancel(room=cancelled, actor=cancelled.host)
        sections = selectors.home_sections(viewer=user)
        assert titles(sections.live) == [] and titles(sections.upcoming) == []

    @pytest.mark.parametrize("direction", ["viewer_blocks_host", "host_blocks_viewer"])
    def test_rooms_hidden_between_blocked_people_both_ways(self, user, direction):
        other = UserFactory()
        follow_create(follower=user, followee=other)
        RoomFactory(title="Hidden live", host=other)
        RoomFactory(title="Hidden upcoming", host=other, scheduled=True)
        RoomFactory(title="Visible")
        if direction == "viewer_blocks_host":
            block_create(blocker=user, blocked=other)
        else:
            block_create(blocker=other, blocked=user)

        sections = selectors.home_sections(viewer=user)

        assert sections.followed_live == []
        assert titles(sections.live) == ["Visible"]
        assert titles(sections.upcoming) == []
        assert titles(selectors.search_rooms(query="hidden", viewer=user)) == []
        hidden = other.hosted_rooms.first()
        with pytest.raises(NotFound):
            selectors.room_get_for_viewer(room_id=hidden.pk, viewer=user)
        # A third person still sees them.
        assert "Hidden live" in titles(selectors.home_sections(viewer=UserFactory()).live)

    def test_listener_count_counts_people_in_the_room_but_not_removed_ones(self):
        room = RoomFactory()
        Participant.objects.create(room=room, user=UserFactory())
        Participant.objects.create(room=room, user=UserFactory(), is_removed=True)
        (listed,) = selectors.home_sections(viewer=AnonymousUser()).live
        assert listed.participant_count == 2

    def test_home_lists_cost_the_same_queries_for_few_and_many_rooms(self, user):
        def queries_for_home():
            sections = selectors.home_sections(viewer=user)
            with CaptureQueriesContext(connection) as captured:
                for room in [*sections.followed_live, *sections.live, *sections.upcoming]:
                    room.host.handle, [rt.tag.name for rt in room.card_topics], room.participant_count
            return len(captured)

        def add_rooms(count):
            for _ in range(count):
                room = services.room_create(host=UserFactory(), title="Talk", topics=["a", "b"])
                Participant.objects.create(room=room, user=UserFactory())
                services.room_create(
                    host=UserFactory(),
                    title="Later",
                    topics=["c"],
                    start_now=False,
                    scheduled_for=timezone.now() + timedelta(days=1),
                )

        add_rooms(2)
        few = queries_for_home()
        add_rooms(8)
        assert queries_for_home() == few


class TestSearch:
    @pytest.fixture
    def rooms(self):
        alice = UserFactory(handle="alice", display_name="Alice Martin")
        services.room_create(host=alice, title="Morning coffee chat", topics=["chat"])
        services.room_create(host=UserFactory(), title="Snakes and ladders", topics=["Python", "games"])
        services.room_create(host=UserFactory(), title="Jazz hour", topics=["music"])

    @pytest.mark.parametrize(
        "query, expected",
        [
            ("coffee", ["Morning coffee chat"]),
            ("JAZZ", ["Jazz hour"]),
            ("@alice", ["Morning coffee chat"]),
            ("alice", ["Morning coffee chat"]),
            ("#python", ["Snakes and ladders"]),
            ("python", ["Snakes and ladders"]),
            ("nothing like this", []),
            ("   ", []),
        ],
    )
    def test_search_by_title_handle_and_topic(self, rooms, query, expected):
        assert titles(selectors.search_rooms(query=query, viewer=AnonymousUser())) == expected

    def test_live_rooms_come_before_upcoming_and_ended(self, user):
        scheduled = services.room_create(
            host=UserFactory(),
            title="Quiz later",
            start_now=False,
            scheduled_for=timezone.now() + timedelta(hours=3),
        )
        ended = RoomFactory(title="Quiz yesterday")
        services.room_end(room=ended, actor=ended.host)
        live = RoomFactory(title="Quiz now")
        found = list(selectors.search_rooms(query="quiz", viewer=user))
        assert found == [live, scheduled, ended]


class TestTopicsAndHosts:
    def test_rooms_for_topic_only_lists_rooms_with_that_topic(self):
        services.room_create(host=UserFactory(), title="With", topics=["python"])
        services.room_create(host=UserFactory(), title="Without", topics=["music"])
        tag = Tag.objects.get(slug="python")
        assert titles(selectors.rooms_for_topic(tag=tag, viewer=AnonymousUser())) == ["With"]

    def test_popular_topics_rank_by_open_rooms(self):
        for _ in range(2):
            services.room_create(host=UserFactory(), title="x", topics=["busy"])
        services.room_create(host=UserFactory(), title="y", topics=["quiet"])
        assert [tag.slug for tag in selectors.tags_popular()] == ["busy", "quiet"]

    def test_room_get_for_host_refuses_someone_else(self, user, other_user):
        room = RoomFactory(host=user)
        assert selectors.room_get_for_host(room_id=room.pk, actor=user) == room
        with pytest.raises(ServiceError) as error:
            selectors.room_get_for_host(room_id=room.pk, actor=other_user)
        assert error.value.code == "not_allowed"
        with pytest.raises(NotFound):
            selectors.room_get_for_host(room_id=room.pk + 1000, actor=user)
