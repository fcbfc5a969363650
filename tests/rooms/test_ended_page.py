"""An ended room's page says when it ran, and for how long, once (issue 28, item 8)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from rooms.models import Room
from tests.conftest import main_html
from tests.factories import RoomFactory

pytestmark = pytest.mark.django_db


def test_the_ended_page_says_ran_and_its_length_once(client):
    ended_at = timezone.now() - timedelta(minutes=5)
    room = RoomFactory(state=Room.State.ENDED, started_at=ended_at - timedelta(minutes=47), ended_at=ended_at)
    for viewer in (room.host, None):
        if viewer:
            client.force_login(viewer)
        else:
            client.logout()
        html = main_html(client.get(f"/rooms/{room.pk}/"))
        assert "This room has ended" in html
        assert html.count("47 min") == 1 and html.count("Ran ") == 1
        assert "It ran from" not in html
