import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.models import Follow, User
from rooms.management.commands.seed_demo import DEMO_PASSWORD
from rooms.models import Participant, Room

from .conftest import csrf_post

pytestmark = pytest.mark.django_db


def counts():
    return (
        User.objects.count(),
        Follow.objects.count(),
        Room.objects.filter(state=Room.State.LIVE).count(),
        Room.objects.filter(state=Room.State.SCHEDULED).count(),
        Participant.objects.count(),
    )


def test_seed_demo_fills_the_home_page_and_can_run_twice(csrf_client, capsys):
    call_command("seed_demo")
    first = counts()
    people, follows, live, upcoming, participants = first
    assert people == 12 and follows > 12 and live == 6 and upcoming == 6 and participants > live
    assert "alice@example.com" in capsys.readouterr().out

    call_command("seed_demo")
    assert counts() == first

    response = csrf_post(
        csrf_client,
        reverse("account_login"),
        {"login": "alice@example.com", "password": DEMO_PASSWORD},
    )
    assert response.status_code == 302
    home = csrf_client.get(reverse("home")).content.decode()
    assert "Live now from people you follow" in home
    assert "Python open source office hours" in home
