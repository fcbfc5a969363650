from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Notification
from accounts.services import follow_create, user_suspend
from rooms import services
from rooms.models import Participant, Room, RoomTopic, Tag
from spaces_project.errors import ServiceError
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


def create(host, **kwargs):
    kwargs.setdefault("title", "A room")
    return services.room_create(host=host, **kwargs)


def schedule(host, when, **kwargs):
    return create(host, start_now=False, scheduled_for=when, **kwargs)


class TestCreateRules:
    @pytest.mark.parametrize("title", ["", "   "])
    def test_a_title_is_required(self, user, title):
        with pytest.raises(ServiceError) as error:
            create(user, title=title)
        assert (error.value.code, error.value.field) == ("title_required", "title")
        assert not Room.objects.exists()

    def test_title_of_71_characters_is_refused(self, user):
        with pytest.raises(ServiceError) as error:
            create(user, title="x" * 71)
        assert error.value.field == "title"
        assert not Room.objects.exists()

    def test_title_of_70_characters_is_accepted_and_whitespace_collapsed(self, user):
        room = create(user, title="  " + "x" * 68 + "  y ")
        assert room.title == "x" * 68 + " y"

    def test_four_topics_are_refused(self, user):
        with pytest.raises(ServiceError) as error:
            create(user, topics=["a", "b", "c", "d"])
        assert (error.value.code, error.value.field) == ("too_many_topics", "topics")
        assert not Room.objects.exists()

    def test_duplicate_topics_collapse_into_one(self, user):
        room = create(user, topics=["Python", "#python", " python ", "Music"])
        assert [rt.tag.slug for rt in room.room_topics.select_related("tag")] == ["python", "music"]
        assert Tag.objects.filter(slug="python").count() == 1

    def test_three_topics_keep_their_order(self, user):
        room = create(user, topics=["c", "a", "b"])
        assert list(room.room_topics.values_list("tag__name", "position")) == [("c", 1), ("a", 2), ("b", 3)]

    def test_start_now_makes_a_live_room_with_its_host_on_stage(self, user):
        room = create(user)
        assert room.state == Room.State.LIVE and room.started_at is not None
        assert Participant.objects.get(room=room).role == Participant.Role.HOST

    def test_schedule_in_the_past_is_refused(self, user):
        with pytest.raises(ServiceError) as error:
            schedule(user, timezone.now() - timedelta(minutes=1))
        assert (error.value.code, error.value.field) == ("schedule_in_past", "scheduled_for")

    def test_schedule_31_days_ahead_is_refused(self, user):
        with pytest.raises(ServiceError) as error:
            schedule(user, timezone.now() + timedelta(days=31))
        assert (error.value.code, error.value.field) == ("schedule_too_far", "scheduled_for")

    def test_schedule_30_days_ahead_is_accepted(self, user):
        when = timezone.now() + timedelta(days=30) - timedelta(minutes=1)
        room = schedule(user, when)
        assert room.state == Room.State.SCHEDULED and room.scheduled_for == when
        assert not room.participants.exists()

    def test_schedule_without_a_time_is_refused(self, user):
        with pytest.raises(ServiceError) as error:
            schedule(user, None)
        assert error.value.field == "scheduled_for"

    def test_the_eleventh_upcoming_room_is_refused(self, user):
        when = timezone.now() + timedelta(days=1)
        for n in range(10):
            schedule(user, when, title=f"Room {n}")
        with pytest.raises(ServiceError) as error:
            schedule(user, when, title="One too many")
        assert error.value.code == "too_many_upcoming"
        assert Room.objects.filter(host=user).count() == 10

    def test_cancelled_rooms_do_not_count_towards_the_upcoming_limit(self, user):
        when = timezone.now() + timedelta(days=1)
        rooms = [schedule(user, when, title=f"Room {n}") for n in range(10)]
        services.room_cancel(room=rooms[0], actor=user)
        assert schedule(user, when, title="Fits again").state == Room.State.SCHEDULED

    def test_minimum_followers_to_host(self, settings, user):
        settings.MIN_FOLLOWERS_TO_HOST = 2
        follow_create(follower=UserFactory(), followee=user)
        with pytest.raises(ServiceError) as error:
            create(user)
        assert error.value.code == "not_eligible"
        follow_create(follower=UserFactory(), followee=user)
        assert create(user).is_live

    def test_suspended_account_cannot_host(self, user):
        user_suspend(user=user)
        with pytest.raises(ServiceError) as error:
            create(user)
        assert error.value.code == "suspended"
        with pytest.raises(ServiceError):
            schedule(user, timezone.now() + timedelta(days=1))
        assert not Room.objects.exists()

    def test_host_already_live_cannot_start_another_room(self, user):
        create(user, title="First")
        with pytest.raises(ServiceError) as error:
            create(user, title="Second")
        assert error.value.code == "already_live"
        upcoming = schedule(user, timezone.now() + timedelta(hours=1))
        with pytest.raises(ServiceError) as error:
            services.room_start(room=upcoming, actor=user)
        assert error.value.code == "already_live"

    def test_unknown_speaker_policy_is_refused(self, user):
        with pytest.raises(ServiceError) as error:
            create(user, speaker_policy="anyone-at-all")
        assert error.value.field == "speaker_policy"

    def test_going_live_notifies_followers(self, user, django_capture_on_commit_callbacks, mailoutbox):
        fan = UserFactory()
        follow_create(follower=fan, followee=user)
        with django_capture_on_commit_callbacks(execute=True):
            room = create(user, title="Hello fans")
        notification = Notification.objects.get(recipient=fan, kind=Notification.Kind.HOST_LIVE)
        assert notification.room == room
        assert [m.to for m in mailoutbox] == [[fan.email]]


class TestStateMachine:
    def test_scheduled_live_ended(self, user):
        room = RoomFactory(host=user, scheduled=True)
        room = services.room_start(room=room, actor=user)
        assert room.state == Room.State.LIVE
        assert room.participants.get(user=user).role == Participant.Role.HOST
        room = services.room_end(room=room, actor=user)
        room.refresh_from_db()
        assert room.state == Room.State.ENDED and room.ended_at is not None

    def test_scheduled_cancelled(self, user):
        room = services.room_cancel(room=RoomFactory(host=user, scheduled=True), actor=user)
        room.refresh_from_db()
        assert room.state == Room.State.CANCELLED

    @pytest.mark.parametrize(
        "state, action",
        [
            ("live", services.room_start),
            ("live", services.room_cancel),
            ("scheduled", services.room_end),
            ("ended", services.room_end),
            ("ended", services.room_start),
            ("cancelled", services.room_start),
            ("cancelled", services.room_cancel),
        ],
    )
    def test_illegal_transitions_are_refused(self, user, state, action):
        room = RoomFactory(host=user, scheduled=True)
        if state != "scheduled":
            if state == "cancelled":
                services.room_cancel(room=room, actor=user)
            else:
                services.room_start(room=room, actor=user)
                if state == "ended":
                    services.room_end(room=room, actor=user)
        with pytest.raises(ServiceError) as error:
            action(room=room, actor=user)
        assert error.value.code == "bad_state"
        room.refresh_from_db()
        assert room.state == state

    @pytest.mark.parametrize(
        "scheduled, action",
        [(True, services.room_start), (True, services.room_cancel), (False, services.room_end)],
    )
    def test_only_the_host_may_change_the_state(self, other_user, scheduled, action):
        room = RoomFactory(scheduled=scheduled)
        before = room.state
        with pytest.raises(ServiceError) as error:
            action(room=room, actor=other_user)
        assert error.value.code == "not_allowed"
        room.refresh_from_db()
        assert room.state == before


class TestUpdate:
    def edit(self, room, actor, **changes):
        fields = {
            "title": room.title,
            "description": room.description,
            "topics": [],
            "speaker_policy": room.speaker_policy,
            "allow_anonymous": room.allow_anonymous,
        }
        return services.room_update(room=room, actor=actor, **{**fields, **changes})

    def test_record_switch_changes_while_scheduled(self, user):
        room = RoomFactory(host=user, scheduled=True)
        assert self.edit(room, user, is_recorded=True).is_recorded

    def test_record_switch_is_refused_after_the_start(self, user):
        room = RoomFactory(host=user)
        with pytest.raises(ServiceError) as error:
            self.edit(room, user, is_recorded=True)
        assert (error.value.code, error.value.field) == ("recording_locked", "is_recorded")
        room.refresh_from_db()
        assert not room.is_recorded

    def test_live_room_title_and_topics_can_change(self, user):
        room = RoomFactory(host=user)
        self.edit(room, user, title="New title", topics=["news"], is_recorded=None)
        room.refresh_from_db()
        assert room.title == "New title"
        assert list(room.room_topics.values_list("tag__slug", flat=True)) == ["news"]

    def test_reschedule_obeys_the_30_day_limit(self, user):
        room = RoomFactory(host=user, scheduled=True)
        with pytest.raises(ServiceError) as error:
            self.edit(room, user, scheduled_for=timezone.now() + timedelta(days=40))
        assert error.value.field == "scheduled_for"

    def test_someone_else_cannot_edit(self, user, other_user):
        room = RoomFactory(host=user, title="Mine")
        with pytest.raises(ServiceError) as error:
            self.edit(room, other_user, title="Theirs")
        assert error.value.code == "not_allowed"
        room.refresh_from_db()
        assert room.title == "Mine"

    def test_an_ended_room_cannot_be_edited(self, user):
        room = services.room_end(room=RoomFactory(host=user), actor=user)
        with pytest.raises(ServiceError) as error:
            self.edit(room, user, title="Too late")
        assert error.value.code == "bad_state"


class TestDatabaseConstraints:
    def test_a_room_has_one_host(self, room):
        with pytest.raises(IntegrityError), transaction.atomic():
            Participant.objects.create(room=room, user=UserFactory(), role=Participant.Role.HOST)

    def test_a_fourth_topic_slot_is_refused(self, room):
        for position, name in enumerate(["a", "b", "c"], start=1):
            RoomTopic.objects.create(
                room=room, tag=Tag.objects.create(name=name, slug=name), position=position
            )
        with pytest.raises(IntegrityError), transaction.atomic():
            RoomTopic.objects.create(room=room, tag=Tag.objects.create(name="d", slug="d"), position=4)

    def test_a_topic_slot_holds_one_tag(self, room):
        RoomTopic.objects.create(room=room, tag=Tag.objects.create(name="a", slug="a"), position=1)
        with pytest.raises(IntegrityError), transaction.atomic():
            RoomTopic.objects.create(room=room, tag=Tag.objects.create(name="b", slug="b"), position=1)

    def test_a_live_room_needs_a_start_time(self, user):
        with pytest.raises(IntegrityError), transaction.atomic():
            Room.objects.create(host=user, title="x", state=Room.State.LIVE, started_at=None)
