"""Where people find replays: the home page's Replays row and the Replays tab on profiles."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse
from django.utils import timezone

from accounts.services import block_create, follow_create
from recordings.selectors import replays_for_home, replays_of_user
from rooms.models import Participant, Ticket
from tests.conftest import main_html
from tests.factories import ReplayFactory, RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


def titles(replays) -> list[str]:
    return [replay.room.title for replay in replays]


def replay(title: str, *, host=None, plays: int = 0, days_ago: float = 0, **room) -> object:
    room_fields = {"room__title": title, **{f"room__{k}": v for k, v in room.items()}}
    if host is not None:
        room_fields["room__host"] = host
    return ReplayFactory(
        play_count=plays, published_at=timezone.now() - timedelta(days=days_ago), **room_fields
    )


def test_home_row_puts_recent_replays_of_people_you_follow_first_then_the_most_played(user):
    followed = UserFactory()
    follow_create(follower=user, followee=followed)
    replay("Followed, last week", host=followed, days_ago=7)
    replay("Followed, yesterday", host=followed, days_ago=1, plays=1)
    replay("Followed, long ago", host=followed, days_ago=60, plays=2)
    replay("Popular", plays=50)
    replay("Quite popular", plays=20)
    replay("Unplayed")

    row = replays_for_home(viewer=user, limit=12)
    assert titles(row) == [
        "Followed, yesterday",
        "Followed, last week",
        "Popular",
        "Quite popular",
        "Followed, long ago",
        "Unplayed",
    ]
    assert titles(replays_for_home(viewer=user, limit=3)) == [
        "Followed, yesterday",
        "Followed, last week",
        "Popular",
    ]


def test_visitors_get_the_most_played_replays_they_may_hear(client):
    replay("Popular", plays=9)
    replay("Members only", plays=99, allow_anonymous=False)
    replay("Less popular", plays=3)
    assert titles(replays_for_home(viewer=AnonymousUser(), limit=12)) == ["Popular", "Less popular"]


def test_lists_leave_out_what_the_viewer_may_not_replay(user):
    blocker, blocked = UserFactory(), UserFactory()
    block_create(blocker=blocker, blocked=user)
    block_create(blocker=user, blocked=blocked)
    replay("By someone who blocked me", host=blocker, plays=5)
    replay("By someone I blocked", host=blocked, plays=5)
    removed_from = replay("Removed from it", plays=5)
    Participant.objects.create(room=removed_from.room, user=user, is_removed=True)
    ReplayFactory(room__title="Still processing", play_count=5, status="processing", published_at=None)
    ReplayFactory(room__title="Deleted", play_count=5, status="removed")
    replay("Fine", plays=1)
    assert titles(replays_for_home(viewer=user, limit=12)) == ["Fine"]
    assert titles(replays_of_user(user=blocker, viewer=user)) == []


def test_home_row_has_ticketed_replays_for_their_holders_only(user):
    held = replay("Ticket held", plays=9, ticket_price=500, ticket_capacity=10)
    replay("Ticket not held", plays=8, ticket_price=500, ticket_capacity=10)
    mine = replay("My own ticketed room", host=user, plays=7, ticket_price=500, ticket_capacity=10)
    Ticket.objects.create(room=held.room, buyer=user, status=Ticket.Status.PAID, amount=500)
    replay("Free", plays=1)
    assert titles(replays_for_home(viewer=user, limit=12)) == ["Ticket held", mine.room.title, "Free"]


def test_home_row_looks_past_the_first_candidates_when_they_are_all_hidden(user):
    # More hidden replays than the few candidates read first: the row still fills from the rest.
    for n in range(8):
        Participant.objects.create(
            room=replay(f"Removed {n}", plays=100 + n).room, user=user, is_removed=True
        )
    replay("Visible, little played", plays=1)
    assert titles(replays_for_home(viewer=user, limit=2)) == ["Visible, little played"]


def test_home_page_shows_the_replays_row_between_live_and_upcoming(client, user):
    RoomFactory(title="Live one")
    RoomFactory(scheduled=True, title="Coming up")
    replay("Heard before", plays=4)
    client.force_login(user)
    page = client.get(reverse("home")).content.decode()
    row = page.index('id="replays-title"')
    assert page.index("Live one") < row < page.index("Heard before") < page.index("Coming up")
    assert "45 min · 4 plays" in page
    assert '<span class="pill pill-rec">REPLAY</span>' in page


def test_home_page_with_nothing_live_still_offers_replays(client):
    replay("Heard before", plays=1)
    page = client.get(reverse("home")).content.decode()
    assert "It's quiet in here" in page
    assert "Heard before" in page and "45 min · 1 play<" in page


def test_home_page_has_no_replays_row_without_replays(client):
    RoomFactory(title="Live one")
    assert 'id="replays"' not in client.get(reverse("home")).content.decode()


def test_profile_has_a_replays_tab(client, user):
    host = UserFactory(handle="ada")
    mine = replay("Her first replay", host=host, days_ago=2)
    replay("Her second replay", host=host, days_ago=1)
    RoomFactory(host=host, title="Her live room")
    replay("Someone else's", plays=10)

    rooms_tab = client.get(reverse("accounts:profile", args=["ada"])).content.decode()
    assert "Her live room" in rooms_tab and "Her first replay" in rooms_tab  # ended rooms list
    assert 'href="/@ada/?tab=replays" data-testid="replays-tab"' in rooms_tab
    assert 'href="/@ada/" aria-current="page">Rooms' in rooms_tab

    replays_tab = main_html(client.get(reverse("accounts:profile", args=["ada"]), {"tab": "replays"}))
    assert 'aria-current="page" data-testid="replays-tab">Replays' in replays_tab
    assert replays_tab.index("Her second replay") < replays_tab.index("Her first replay")
    assert f'href="/recordings/{mine.pk}/"' in replays_tab
    assert "Her live room" not in replays_tab and "Someone else" not in replays_tab


def test_profile_replays_tab_when_there_are_none(client, user):
    client.force_login(user)
    mine = client.get(reverse("accounts:profile", args=[user.handle]), {"tab": "replays"}).content.decode()
    assert "No replays yet." in mine
    other = UserFactory()
    theirs = client.get(reverse("accounts:profile", args=[other.handle]), {"tab": "replays"}).content.decode()
    assert f"@{other.handle} has no replays yet." in theirs
