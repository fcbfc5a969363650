"""The header's live row: who you follow is live now (or, signed out, the most popular live rooms)."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse

from accounts.services import block_create, follow_create
from rooms import services
from rooms.models import Participant, Room
from rooms.selectors import live_bar
from tests.conftest import main_html
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


def people(bar) -> list[str]:
    return [item.person.handle for item in bar.items]


def followed(viewer, handle: str):
    person = UserFactory(handle=handle)
    follow_create(follower=viewer, followee=person)
    return person


def test_people_you_follow_on_a_live_stage_hosts_first(user):
    host = followed(user, "host")
    speaker = followed(user, "speaker")
    listener = followed(user, "listener")
    followed(user, "offline")
    ended_host = followed(user, "ended")
    RoomFactory(host=ended_host, state=Room.State.ENDED, ended_at=RoomFactory().started_at)
    other_room = RoomFactory(title="Someone else's room")
    Participant.objects.create(room=other_room, user=speaker, role=Participant.Role.SPEAKER)
    Participant.objects.create(room=other_room, user=listener)
    removed = followed(user, "removed")
    Participant.objects.create(room=other_room, user=removed, role=Participant.Role.SPEAKER, is_removed=True)
    own = RoomFactory(host=host, title="Host's room")
    RoomFactory(title="Not followed")

    bar = live_bar(viewer=user)
    assert people(bar) == ["host", "speaker"]
    assert [item.room.pk for item in bar.items] == [own.pk, other_room.pk]
    assert bar.more == 0 and bar.followed


def test_a_handful_then_how_many_more(user):
    for n in range(8):
        RoomFactory(host=followed(user, f"host{n}"))
    bar = live_bar(viewer=user, limit=5)
    assert len(bar.items) == 5 and bar.more == 3
    # The newest rooms first.
    assert people(bar) == ["host7", "host6", "host5", "host4", "host3"]


def test_blocked_either_way_is_left_out(user):
    blocker = followed(user, "blocker")
    RoomFactory(host=blocker)
    speaker = followed(user, "speaker")
    blocked_host_room = RoomFactory()
    block_create(blocker=user, blocked=blocked_host_room.host)
    Participant.objects.create(room=blocked_host_room, user=speaker, role=Participant.Role.SPEAKER)
    block_create(blocker=blocker, blocked=user)
    assert people(live_bar(viewer=user)) == []


def test_not_a_room_you_were_removed_from(user):
    room = RoomFactory(host=followed(user, "host"))
    assert people(live_bar(viewer=user)) == ["host"]
    Participant.objects.create(room=room, user=user, is_removed=True)
    assert people(live_bar(viewer=user)) == []


def test_signed_out_visitors_see_the_most_popular_live_rooms():
    quiet = RoomFactory(title="Quiet")
    busy = RoomFactory(title="Busy")
    for _ in range(3):
        Participant.objects.create(room=busy, user=UserFactory())
    RoomFactory(scheduled=True)
    bar = live_bar(viewer=AnonymousUser(), limit=1)
    assert [item.room.pk for item in bar.items] == [busy.pk]
    assert bar.items[0].person == busy.host
    assert bar.more == 1 and not bar.followed
    assert [item.room.pk for item in live_bar(viewer=AnonymousUser(), limit=5).items][1:] == [quiet.pk]


def test_every_page_header_has_the_row(client, user):
    host = followed(user, "hana")
    room = services.room_create(host=host, title="Morning show")
    client.force_login(user)
    for url in (reverse("home"), reverse("accounts:notifications"), reverse("rooms:search") + "?q=x"):
        page = client.get(url).content.decode()
        header = page[: page.index("<main")]
        assert f'href="/rooms/{room.pk}/" data-testid="live-avatar-{host.pk}"' in header
        assert 'aria-label="Hana is live: Morning show"' in header
        assert 'data-refresh-url="/rooms/live-bar/"' in header


def test_the_row_is_hidden_when_nobody_is_live(client, user):
    client.force_login(user)
    page = client.get(reverse("home")).content.decode()
    assert 'data-live-bar data-refresh-url="/rooms/live-bar/" data-refresh-ms="2000" hidden>' in page


def test_the_row_alone_for_refreshing(client, user):
    host = followed(user, "hana")
    room = RoomFactory(host=host)
    client.force_login(user)
    response = client.get(reverse("rooms:live_bar"))
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    html = response.content.decode()
    assert html.startswith(f'<a class="live-avatar" href="/rooms/{room.pk}/"')
    assert "<main" not in html
    client.logout()
    assert f"/rooms/{room.pk}/" in client.get(reverse("rooms:live_bar")).content.decode()
    assert client.post(reverse("rooms:live_bar")).status_code == 405


def test_pages_show_their_own_rooms_below_the_row(client):
    RoomFactory(title="In the header only")
    page = client.get(reverse("rooms:search") + "?q=nothing-like-it")
    assert "In the header only" in page.content.decode() and "In the header only" not in main_html(page)
