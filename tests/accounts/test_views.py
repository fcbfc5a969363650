from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts import selectors, services
from accounts.models import Block, Follow, Notification
from rooms.models import Room
from tests.conftest import main_html
from tests.factories import RoomFactory, UserFactory

from .conftest import csrf_token, sign_in

pytestmark = pytest.mark.django_db


def profile_url(user) -> str:
    return reverse("accounts:profile", args=[user.handle])


def post_from_profile(client, person, url_name, **data):
    """Press a button on `person`'s profile page, as a browser would (with its CSRF token)."""
    token = csrf_token(client, profile_url(person))
    return client.post(reverse(url_name, args=[person.handle]), {"csrfmiddlewaretoken": token, **data})


def test_profile_shows_the_person_and_their_rooms(client, user):
    user.bio = "I talk about birds."
    user.save()
    live = RoomFactory(host=user, title="Birdsong live")
    upcoming = RoomFactory(host=user, title="Owls at night", scheduled=True)
    ended = RoomFactory(
        host=user,
        title="Pigeons of last week",
        state=Room.State.ENDED,
        started_at=timezone.now() - timedelta(days=7),
        ended_at=timezone.now() - timedelta(days=7, hours=-1),
    )
    RoomFactory(title="Somebody else talking")

    response = client.get(profile_url(user))

    assert response.status_code == 200
    html = main_html(response)
    assert f"@{user.handle}" in html and user.display_name in html and "I talk about birds." in html
    for room in (live, upcoming, ended):
        assert room.title in html
        assert reverse("rooms:detail", args=[room.pk]) in html
    assert "Somebody else talking" not in html
    assert reverse("moderation:create", args=["user", user.pk]) not in html  # anonymous: no report link


def test_profile_counts_link_to_lists(client, user):
    follower = UserFactory()
    services.follow_create(follower=follower, followee=user)

    response = client.get(profile_url(user))

    assert response.context["follower_count"] == 1
    assert response.context["following_count"] == 0
    html = response.content.decode()
    assert reverse("accounts:followers", args=[user.handle]) in html
    assert reverse("accounts:following", args=[user.handle]) in html


def test_signed_in_viewer_sees_follow_block_and_report(client, user, other_user):
    sign_in(client, user)
    html = client.get(profile_url(other_user)).content.decode()
    assert reverse("accounts:follow", args=[other_user.handle]) in html
    assert reverse("accounts:block", args=[other_user.handle]) in html
    assert reverse("moderation:create", args=["user", other_user.pk]) in html


def test_unknown_handle_is_404(client):
    assert client.get("/@nobody_here/").status_code == 404


def test_handle_in_other_case_redirects_to_the_profile(client, user):
    response = client.get(f"/@{user.handle.upper()}/")
    assert response.status_code == 301
    assert response["Location"] == profile_url(user)


def test_blocked_party_gets_404_but_blocker_can_still_see_and_unblock(client, user, other_user):
    services.block_create(blocker=user, blocked=other_user)
    RoomFactory(host=user, title="Blocker's room")

    sign_in(client, other_user)
    assert client.get(profile_url(user)).status_code == 404
    assert client.get(reverse("accounts:followers", args=[user.handle])).status_code == 404

    sign_in(client, user)
    response = client.get(profile_url(other_user))
    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("accounts:unblock", args=[other_user.handle]) in html
    assert reverse("accounts:follow", args=[other_user.handle]) not in html


def test_blocker_sees_the_blocked_profile_without_its_rooms(client, user, other_user):
    services.block_create(blocker=other_user, blocked=user)
    sign_in(client, other_user)
    RoomFactory(host=user, title="Hidden from blocker")
    response = client.get(profile_url(user))
    assert response.status_code == 200
    assert "Hidden from blocker" not in response.content.decode()


def test_follow_and_unfollow_with_csrf(csrf_client, user, other_user):
    sign_in(csrf_client, user)

    response = post_from_profile(csrf_client, other_user, "accounts:follow")
    assert response.status_code == 302 and response["Location"] == profile_url(other_user)
    assert selectors.is_following(follower=user, followee=other_user)
    page = csrf_client.get(profile_url(other_user))
    assert "You follow @" in page.content.decode()
    assert page.context["follower_count"] == 1

    # Pressing Follow twice (two tabs) changes nothing.
    post_from_profile(csrf_client, other_user, "accounts:follow")
    assert Follow.objects.filter(follower=user, followee=other_user).count() == 1

    response = post_from_profile(csrf_client, other_user, "accounts:unfollow")
    assert response.status_code == 302
    assert not selectors.is_following(follower=user, followee=other_user)
    post_from_profile(csrf_client, other_user, "accounts:unfollow")
    assert not Follow.objects.exists()


def test_follow_yourself_shows_an_error(csrf_client, user):
    sign_in(csrf_client, user)
    response = post_from_profile(csrf_client, user, "accounts:follow")
    assert response.status_code == 302
    assert not Follow.objects.exists()
    assert "You cannot follow yourself." in csrf_client.get(profile_url(user)).content.decode()


@pytest.mark.parametrize(
    "url_name", ["accounts:follow", "accounts:unfollow", "accounts:block", "accounts:unblock"]
)
def test_post_without_csrf_token_is_403(csrf_client, user, other_user, url_name):
    sign_in(csrf_client, user)
    response = csrf_client.post(reverse(url_name, args=[other_user.handle]))
    assert response.status_code == 403
    assert not Follow.objects.exists() and not Block.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        reverse("accounts:follow", args=["someone"]),
        reverse("accounts:unfollow", args=["someone"]),
        reverse("accounts:block", args=["someone"]),
        reverse("accounts:unblock", args=["someone"]),
        reverse("accounts:notifications_read"),
    ],
)
def test_get_on_post_only_endpoints_is_405(client, user, url):
    sign_in(client, user)
    assert client.get(url).status_code == 405


@pytest.mark.parametrize("url_name", ["accounts:follow", "accounts:block"])
def test_anonymous_post_is_sent_to_sign_in(csrf_client, other_user, url_name):
    token = csrf_token(csrf_client, reverse("account_login"))
    response = csrf_client.post(reverse(url_name, args=[other_user.handle]), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert not Follow.objects.exists() and not Block.objects.exists()


@pytest.mark.parametrize("url_name", ["accounts:profile_edit", "accounts:notifications"])
def test_anonymous_is_sent_to_sign_in_for_private_pages(client, url_name):
    response = client.get(reverse(url_name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_block_removes_follows_and_unblock(csrf_client, user, other_user):
    services.follow_create(follower=user, followee=other_user)
    services.follow_create(follower=other_user, followee=user)
    sign_in(csrf_client, user)

    response = post_from_profile(csrf_client, other_user, "accounts:block")

    assert response.status_code == 302 and response["Location"] == profile_url(other_user)
    assert selectors.has_blocked(blocker=user, blocked=other_user)
    assert not Follow.objects.exists()
    page = csrf_client.get(profile_url(other_user))
    assert "You blocked @" in page.content.decode()

    # The blocked person cannot follow back: the profile does not exist for them.
    other_client = csrf_client.__class__(enforce_csrf_checks=True)
    sign_in(other_client, other_user)
    token = csrf_token(other_client, reverse("accounts:profile_edit"))
    response = other_client.post(
        reverse("accounts:follow", args=[user.handle]), {"csrfmiddlewaretoken": token}
    )
    assert response.status_code == 404
    assert not Follow.objects.exists()

    response = post_from_profile(csrf_client, other_user, "accounts:unblock")
    assert response.status_code == 302
    assert not Block.objects.exists()


def test_blocker_trying_to_follow_gets_a_message(csrf_client, user, other_user):
    services.block_create(blocker=user, blocked=other_user)
    sign_in(csrf_client, user)
    token = csrf_token(csrf_client, profile_url(other_user))
    response = csrf_client.post(
        reverse("accounts:follow", args=[other_user.handle]), {"csrfmiddlewaretoken": token}, follow=True
    )
    assert "You cannot follow this account." in response.content.decode()
    assert not Follow.objects.exists()


def test_follow_from_a_list_returns_to_the_list(csrf_client, user, other_user):
    star = UserFactory()
    services.follow_create(follower=other_user, followee=star)
    sign_in(csrf_client, user)
    list_url = reverse("accounts:followers", args=[star.handle])
    token = csrf_token(csrf_client, list_url)

    response = csrf_client.post(
        reverse("accounts:follow", args=[other_user.handle]), {"csrfmiddlewaretoken": token, "next": list_url}
    )
    assert response["Location"] == list_url

    evil = csrf_client.post(
        reverse("accounts:unfollow", args=[other_user.handle]),
        {"csrfmiddlewaretoken": token, "next": "https://evil.example/"},
    )
    assert evil["Location"] == profile_url(other_user)


def test_followers_and_following_lists_paginate(client, user):
    fans = UserFactory.create_batch(23)
    for fan in fans:
        services.follow_create(follower=fan, followee=user)
        services.follow_create(follower=user, followee=fan)
    viewer = UserFactory()
    services.follow_create(follower=viewer, followee=fans[-1])
    sign_in(client, viewer)

    first = client.get(reverse("accounts:followers", args=[user.handle]))
    second = client.get(reverse("accounts:followers", args=[user.handle]), {"page": 2})
    following = client.get(reverse("accounts:following", args=[user.handle]))

    assert len(first.context["page"].object_list) == 20
    assert len(second.context["page"].object_list) == 3
    assert following.context["page"].paginator.count == 23
    first_html = first.content.decode()
    # Newest follower first; the viewer already follows it, so it offers Unfollow.
    assert first.context["page"].object_list[0] == fans[-1]
    assert reverse("accounts:unfollow", args=[fans[-1].handle]) in first_html
    assert reverse("accounts:follow", args=[fans[0].handle]) not in first_html  # on page 2
    assert reverse("accounts:follow", args=[fans[0].handle]) in second.content.decode()


def test_ended_rooms_paginate_on_the_profile(client, user):
    now = timezone.now()
    for i in range(22):
        RoomFactory(
            host=user,
            state=Room.State.ENDED,
            started_at=now - timedelta(days=i + 1),
            ended_at=now - timedelta(days=i + 1) + timedelta(hours=1),
        )
    first = client.get(profile_url(user))
    second = client.get(profile_url(user), {"page": 2})
    assert len(first.context["ended_page"].object_list) == 20
    assert len(second.context["ended_page"].object_list) == 2


def test_profile_edit_changes_only_your_own_profile(csrf_client, user, other_user):
    other_name = other_user.display_name
    sign_in(csrf_client, user)
    url = reverse("accounts:profile_edit")
    token = csrf_token(csrf_client, url)

    # Extra fields naming someone else are ignored: the form edits request.user.
    response = csrf_client.post(
        url,
        {
            "csrfmiddlewaretoken": token,
            "display_name": "Renamed",
            "bio": "Hello there",
            "handle": other_user.handle,
            "user": other_user.pk,
        },
    )

    assert response.status_code == 302 and response["Location"] == profile_url(user)
    user.refresh_from_db()
    other_user.refresh_from_db()
    assert (user.display_name, user.bio) == ("Renamed", "Hello there")
    assert other_user.display_name == other_name and other_user.bio == ""


def test_profile_edit_shows_errors_for_overlong_fields(csrf_client, user):
    sign_in(csrf_client, user)
    url = reverse("accounts:profile_edit")
    token = csrf_token(csrf_client, url)
    response = csrf_client.post(
        url, {"csrfmiddlewaretoken": token, "display_name": "n" * 51, "bio": "b" * 281}
    )
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"display_name", "bio"}
    user.refresh_from_db()
    assert user.bio == ""


def test_notifications_page_lists_and_marks_read(csrf_client, user):
    follower = UserFactory()
    services.follow_create(follower=follower, followee=user)
    services.notify(recipients=[user.pk], kind=Notification.Kind.REMINDER, text="Old news", url="/")
    services.notifications_mark_read(user=user)
    services.notify(
        recipients=[user.pk], kind=Notification.Kind.HOST_LIVE, text="Sneaky", url="javascript:alert(1)"
    )
    sign_in(csrf_client, user)

    response = csrf_client.get(reverse("accounts:notifications"))

    html = response.content.decode()
    assert response.status_code == 200
    # "Old news" and the follow were read; only "Sneaky" is new, and it must not become a script link.
    assert html.count("notification-unread") == 1
    assert "Old news" in html and "Sneaky" in html
    # Opening the list read what it shows: the badge is clear (tests/accounts/test_notification_list.py).
    assert 'data-unread-badge hidden data-testid="unread-count">0<' in html
    assert "javascript:" not in html

    services.notify(
        recipients=[user.pk],
        kind=Notification.Kind.ROOM_INVITE,
        text="Join my room",
        url=profile_url(follower),
    )
    response = csrf_client.get(reverse("accounts:notifications"))
    html = response.content.decode()
    assert f'href="{profile_url(follower)}"' in html
    assert html.count("notification-unread") == 1  # "Join my room", new this once

    services.notify(recipients=[user.pk], kind=Notification.Kind.REMINDER, text="Unseen yet")
    token = csrf_client.cookies["csrftoken"].value
    response = csrf_client.post(reverse("accounts:notifications_read"), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert selectors.unread_notification_count(user=user) == 0
    # The badge stays in the page, hidden, for the live count to fill in.
    html = csrf_client.get(reverse("accounts:notifications")).content.decode()
    assert 'data-unread-badge hidden data-testid="unread-count">0<' in html


def test_notifications_paginate(client, user):
    for i in range(25):
        services.notify(recipients=[user.pk], kind=Notification.Kind.REMINDER, text=f"Reminder {i}")
    sign_in(client, user)
    assert len(client.get(reverse("accounts:notifications")).context["page"].object_list) == 20
    assert len(client.get(reverse("accounts:notifications"), {"page": 2}).context["page"].object_list) == 5
