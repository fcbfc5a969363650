"""Backstage rules (rooms/services/): when it opens, who may open it, who takes the stage there,
and what going live from it keeps and starts."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from recordings.models import Recording
from rooms import services
from rooms.models import Participant, Room, RoomInvitation
from spaces_project.errors import ServiceError
from tests.factories import RoomFactory, UserFactory

from .conftest import csrf_post

pytestmark = pytest.mark.django_db


def scheduled_in(minutes: float, **kwargs) -> Room:
    return RoomFactory(scheduled=True, scheduled_for=timezone.now() + timedelta(minutes=minutes), **kwargs)


def refused(code, call, **kwargs):
    with pytest.raises(ServiceError) as error:
        call(**kwargs)
    assert error.value.code == code, error.value.message
    return error.value


class TestOpening:
    def test_opens_up_to_15_minutes_ahead_not_16(self):
        early = scheduled_in(16)
        error = refused("too_early", services.room_open_backstage, room=early, actor=early.host)
        assert "15 minutes" in error.message
        early.refresh_from_db()
        assert early.backstage_opened_at is None
        room = scheduled_in(14.5)
        room = services.room_open_backstage(room=room, actor=room.host)
        assert room.in_backstage and room.state == Room.State.SCHEDULED
        assert Participant.objects.get(room=room, user=room.host).role == Participant.Role.HOST

    def test_a_room_past_its_time_opens_too_and_opening_twice_changes_nothing(self):
        room = scheduled_in(-5)
        first = services.room_open_backstage(room=room, actor=room.host).backstage_opened_at
        assert services.room_open_backstage(room=room, actor=room.host).backstage_opened_at == first

    def test_only_the_host_opens_it(self):
        room = scheduled_in(5)
        refused("not_allowed", services.room_open_backstage, room=room, actor=UserFactory())
        room.refresh_from_db()
        assert room.backstage_opened_at is None

    def test_live_and_ended_rooms_have_no_backstage(self):
        live = RoomFactory()
        refused("bad_state", services.room_open_backstage, room=live, actor=live.host)

    def test_a_host_already_live_elsewhere_cannot_open_one(self):
        room = scheduled_in(5)
        RoomFactory(host=room.host)
        refused("already_live", services.room_open_backstage, room=room, actor=room.host)


class TestWhoIsWhere:
    def test_invited_people_take_the_stage_others_wait_in_the_audience(self):
        room = scheduled_in(5)
        invited, stranger = UserFactory(), UserFactory()
        RoomInvitation.objects.create(room=room, invitee=invited, invited_by=room.host)
        services.room_open_backstage(room=room, actor=room.host)
        assert services.participant_join(room_id=room.pk, user=invited).role == Participant.Role.SPEAKER
        assert services.participant_join(room_id=room.pk, user=stranger).role == Participant.Role.LISTENER
        assert services.participant_join(room_id=room.pk, user=invited).is_muted is True

    def test_nobody_joins_a_scheduled_room_whose_backstage_is_closed(self):
        room = scheduled_in(5)
        refused("not_live", services.participant_join, room_id=room.pk, user=room.host)

    def test_hands_and_questions_wait_for_the_room_to_go_live(self):
        room = scheduled_in(5)
        services.room_open_backstage(room=room, actor=room.host)
        listener = UserFactory()
        services.participant_join(room_id=room.pk, user=listener)
        refused("not_live", services.participant_raise_hand, room_id=room.pk, actor=listener)

    def test_the_stage_mutes_and_unmutes_backstage(self):
        room = scheduled_in(5)
        services.room_open_backstage(room=room, actor=room.host)
        assert services.participant_set_muted(room_id=room.pk, actor=room.host, muted=False).is_muted is False


class TestGoingLive:
    def test_go_live_keeps_the_stage_as_it_is_and_starts_the_recording_then(
        self, django_capture_on_commit_callbacks
    ):
        room = scheduled_in(5, is_recorded=True)
        guest = UserFactory()
        RoomInvitation.objects.create(room=room, invitee=guest, invited_by=room.host)
        services.room_open_backstage(room=room, actor=room.host)
        services.participant_join(room_id=room.pk, user=guest)
        services.participant_set_muted(room_id=room.pk, actor=guest, muted=False)
        assert not Recording.objects.filter(room=room).exists()  # nothing recorded backstage
        before = timezone.now()
        with django_capture_on_commit_callbacks(execute=True):
            room = services.room_start(room=room, actor=room.host)
        assert room.state == Room.State.LIVE and room.backstage_opened_at is None
        assert room.started_at >= before
        guest_seat = Participant.objects.get(room=room, user=guest)
        assert (guest_seat.role, guest_seat.is_muted) == (Participant.Role.SPEAKER, False)
        assert Recording.objects.get(room=room).status == Recording.Status.CAPTURING

    def test_the_host_page_offers_backstage_and_the_route_refuses_too_early(self, client):
        room = scheduled_in(30)
        client.force_login(room.host)
        page = client.get(reverse("rooms:detail", args=[room.pk]))
        assert b'data-testid="open-backstage"' in page.content
        response = csrf_post(
            client, reverse("rooms:backstage", args=[room.pk]), page=reverse("rooms:detail", args=[room.pk])
        )
        assert response.status_code == 302
        follow = client.get(response["Location"])
        assert "15 minutes" in follow.content.decode()
        room.refresh_from_db()
        assert room.backstage_opened_at is None

    def test_a_listener_opening_a_room_in_backstage_gets_the_live_page_to_wait_on(self, client):
        room = scheduled_in(5)
        services.room_open_backstage(room=room, actor=room.host)
        client.force_login(UserFactory())
        page = client.get(reverse("rooms:detail", args=[room.pk])).content.decode()
        assert 'data-testid="starting-soon"' in page and "data-live-shell" in page


def test_rescheduling_out_of_the_window_closes_the_backstage_and_within_it_keeps_it_open():
    room = scheduled_in(5)
    services.room_open_backstage(room=room, actor=room.host)

    def move_to(minutes):
        return services.room_update(
            room=room,
            actor=room.host,
            title=room.title,
            description="",
            topics=[],
            speaker_policy=room.speaker_policy,
            allow_anonymous=True,
            scheduled_for=timezone.now() + timedelta(minutes=minutes),
        )

    assert move_to(12).in_backstage
    assert not move_to(60).in_backstage
