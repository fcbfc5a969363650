import pytest

from accounts import selectors, services
from accounts.models import Block, Follow, Notification
from rooms.models import Participant, Room
from spaces_project.errors import ServiceError
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_follow_twice_is_one_follow_and_one_notification(user, other_user):
    services.follow_create(follower=user, followee=other_user)
    services.follow_create(follower=user, followee=other_user)

    assert Follow.objects.filter(follower=user, followee=other_user).count() == 1
    assert selectors.follower_count(user=other_user) == 1
    assert Notification.objects.filter(recipient=other_user, kind=Notification.Kind.NEW_FOLLOWER).count() == 1


def test_follow_notifies_the_followee_with_a_link_to_the_follower(user, other_user):
    services.follow_create(follower=user, followee=other_user)

    notification = Notification.objects.get(recipient=other_user)
    assert notification.actor == user
    assert f"@{user.handle}" in notification.text
    assert notification.url == f"/@{user.handle}/"
    assert notification.read_at is None


def test_cannot_follow_yourself(user):
    with pytest.raises(ServiceError) as error:
        services.follow_create(follower=user, followee=user)
    assert error.value.code == "self_follow"
    assert not Follow.objects.exists()


@pytest.mark.parametrize("blocker_is_follower", [True, False])
def test_follow_refused_between_blocked_users(user, other_user, blocker_is_follower):
    if blocker_is_follower:
        services.block_create(blocker=user, blocked=other_user)
    else:
        services.block_create(blocker=other_user, blocked=user)

    with pytest.raises(ServiceError) as error:
        services.follow_create(follower=user, followee=other_user)
    assert error.value.code == "blocked"
    assert not Follow.objects.exists()


def test_block_removes_follows_both_ways(user, other_user):
    bystander = UserFactory()
    services.follow_create(follower=user, followee=other_user)
    services.follow_create(follower=other_user, followee=user)
    services.follow_create(follower=bystander, followee=user)

    services.block_create(blocker=user, blocked=other_user)

    assert not Follow.objects.filter(follower=user, followee=other_user).exists()
    assert not Follow.objects.filter(follower=other_user, followee=user).exists()
    assert Follow.objects.filter(follower=bystander, followee=user).exists()
    assert selectors.is_blocked_between(a=other_user, b=user)


def test_block_twice_is_one_block_and_self_block_refused(user, other_user):
    services.block_create(blocker=user, blocked=other_user)
    services.block_create(blocker=user, blocked=other_user)
    assert Block.objects.count() == 1
    with pytest.raises(ServiceError):
        services.block_create(blocker=user, blocked=user)


def test_unblock_allows_following_again(user, other_user):
    services.block_create(blocker=user, blocked=other_user)
    services.block_delete(blocker=user, blocked=other_user)

    assert not selectors.is_blocked_between(a=user, b=other_user)
    services.follow_create(follower=other_user, followee=user)
    assert selectors.is_following(follower=other_user, followee=user)


def test_unblock_by_the_blocked_person_does_nothing(user, other_user):
    services.block_create(blocker=user, blocked=other_user)
    services.block_delete(blocker=other_user, blocked=user)
    assert selectors.has_blocked(blocker=user, blocked=other_user)


def test_unfollow_is_idempotent(user, other_user):
    services.follow_create(follower=user, followee=other_user)
    services.follow_delete(follower=user, followee=other_user)
    services.follow_delete(follower=user, followee=other_user)
    assert not selectors.is_following(follower=user, followee=other_user)


def test_unread_count_and_mark_read(user):
    others = UserFactory.create_batch(3)
    for other in others:
        services.follow_create(follower=other, followee=user)
    assert selectors.unread_notification_count(user=user) == 3

    assert services.notifications_mark_read(user=user) == 3

    assert selectors.unread_notification_count(user=user) == 0
    assert Notification.objects.filter(recipient=user, read_at__isnull=False).count() == 3
    assert services.notifications_mark_read(user=user) == 0


def test_mark_read_touches_only_your_own_notifications(user, other_user):
    services.follow_create(follower=user, followee=other_user)
    services.follow_create(follower=other_user, followee=user)

    services.notifications_mark_read(user=user)

    assert selectors.unread_notification_count(user=other_user) == 1


def test_lists_hide_people_blocked_either_way_from_the_viewer(user, other_user):
    viewer = UserFactory()
    services.follow_create(follower=user, followee=other_user)
    blocker = UserFactory()
    services.follow_create(follower=blocker, followee=other_user)
    services.block_create(blocker=blocker, blocked=viewer)

    assert list(selectors.followers_of(user=other_user, viewer=viewer)) == [user]
    assert set(selectors.followers_of(user=other_user)) == {user, blocker}


def test_profile_update_rejects_overlong_name_and_keeps_the_old_one(user):
    old_name = user.display_name
    with pytest.raises(ServiceError) as error:
        services.user_update_profile(user=user, display_name="x" * 51, bio="")
    assert error.value.field == "display_name"
    user.refresh_from_db()
    assert user.display_name == old_name


def test_suspending_ends_the_live_rooms_they_host_and_nothing_else(user):
    # Their sockets closing: tests/live/test_room_socket_access.py; sign-in refused: test_allauth.py.
    hosted, upcoming = RoomFactory(host=user), RoomFactory(host=user, scheduled=True)
    elsewhere = RoomFactory()
    Participant.objects.create(room=elsewhere, user=user)
    suspension = services.user_suspend(user=user)

    assert user.is_suspended and user.suspended_at is not None
    assert suspension.ended_rooms == [hosted]
    states = dict(Room.objects.values_list("pk", "state"))
    assert (states[hosted.pk], states[upcoming.pk], states[elsewhere.pk]) == ("ended", "scheduled", "live")
    with pytest.raises(ServiceError) as error:
        services.user_suspend(user=user)
    assert error.value.code == "already_suspended"
