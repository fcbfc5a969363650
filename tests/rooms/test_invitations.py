"""Host and co-hosts invite people by @handle to scheduled and live rooms."""

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification
from accounts.services import block_create, follow_create
from rooms import services
from rooms.models import MAX_SPEAKERS, Participant, RoomInvitation
from rooms.selectors import invite_suggestions
from spaces_project.errors import NotFound, ServiceError
from tests.factories import RoomFactory, UserFactory

from .conftest import csrf_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    def run(action, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return action(*args, **kwargs)

    return run


@pytest.fixture
def scheduled():
    return RoomFactory(scheduled=True, title="Tea at five")


@pytest.fixture
def live():
    return RoomFactory(title="On air")


def invitations_of(person) -> list[tuple[str, str, str]]:
    return list(
        Notification.objects.filter(recipient=person, kind__in=["room_invite", "speak_invite"]).values_list(
            "kind", "text", "url"
        )
    )


def test_the_host_invites_to_a_scheduled_room_and_twice_notifies_once(
    scheduled, other_user, committed, mailoutbox
):
    host = scheduled.host
    assert committed(
        services.room_invite, room_id=scheduled.pk, actor=host, handle=f"@{other_user.handle}"
    ) == (
        other_user,
        True,
    )
    assert committed(
        services.room_invite, room_id=scheduled.pk, actor=host, handle=other_user.handle.upper()
    ) == (
        other_user,
        False,
    )
    [(kind, text, url)] = invitations_of(other_user)
    assert kind == "room_invite" and url == f"/rooms/{scheduled.pk}/"
    assert text.startswith(f"{host.name} invited you to Tea at five, ") and text.endswith(" UTC")
    assert [m.to for m in mailoutbox] == [[other_user.email]]


@pytest.mark.parametrize(
    ("handle", "code"),
    [("", "handle_required"), ("@", "handle_required"), ("@nobody_here", "no_such_person")],
)
def test_an_unknown_handle_is_refused(scheduled, handle, code):
    with pytest.raises(ServiceError) as refused:
        services.room_invite(room_id=scheduled.pk, actor=scheduled.host, handle=handle)
    assert (refused.value.code, refused.value.field) == (code, "handle")
    assert not RoomInvitation.objects.exists() and not Notification.objects.exists()


def test_inviting_yourself_is_refused_and_nothing_saved(scheduled):
    with pytest.raises(ServiceError) as refused:
        services.room_invite(room_id=scheduled.pk, actor=scheduled.host, handle=scheduled.host.handle)
    assert refused.value.code == "self_invite"
    assert not RoomInvitation.objects.exists() and not Notification.objects.exists()


@pytest.mark.parametrize("who_blocks", ["host", "invitee"])
def test_a_blocked_person_cannot_be_invited_nor_is_suggested(scheduled, other_user, who_blocks):
    host = scheduled.host
    follow_create(follower=host, followee=other_user)
    assert invite_suggestions(room=scheduled, actor=host) == [other_user]
    if who_blocks == "host":
        block_create(blocker=host, blocked=other_user)
    else:
        block_create(blocker=other_user, blocked=host)
    assert invite_suggestions(room=scheduled, actor=host) == []
    with pytest.raises(ServiceError) as refused:
        services.room_invite(room_id=scheduled.pk, actor=host, handle=other_user.handle)
    assert refused.value.code == "blocked"
    assert not RoomInvitation.objects.exists() and invitations_of(other_user) == []


def test_suggestions_are_people_the_inviter_follows_matching_what_they_type(scheduled):
    host = scheduled.host
    ada, bob, stranger = UserFactory(handle="ada_l"), UserFactory(handle="bob"), UserFactory(handle="adam")
    for person in (ada, bob):
        follow_create(follower=host, followee=person)
    assert {p.handle for p in invite_suggestions(room=scheduled, actor=host)} == {"ada_l", "bob"}
    assert [p.handle for p in invite_suggestions(room=scheduled, actor=host, query="@ad")] == ["ada_l"]
    services.room_invite(room_id=scheduled.pk, actor=host, handle="ada_l")
    assert [p.handle for p in invite_suggestions(room=scheduled, actor=host)] == ["bob"]
    assert stranger not in invite_suggestions(room=scheduled, actor=host, query="adam")


def test_only_the_host_or_a_co_host_invites(live, other_user):
    listener, cohost, invitee = UserFactory(), UserFactory(), UserFactory()
    Participant.objects.create(room=live, user=listener)
    Participant.objects.create(room=live, user=cohost, role=Participant.Role.COHOST)
    with pytest.raises(ServiceError) as refused:
        services.room_invite(room_id=live.pk, actor=listener, handle=invitee.handle)
    assert refused.value.code == "not_allowed"
    assert services.room_invite(room_id=live.pk, actor=cohost, handle=invitee.handle)[1] is True


def test_a_room_you_may_not_see_is_not_found(scheduled, other_user):
    block_create(blocker=scheduled.host, blocked=other_user)
    with pytest.raises(NotFound):
        services.room_invite(room_id=scheduled.pk, actor=other_user, handle=scheduled.host.handle)


def test_a_live_invitation_also_asks_to_speak_on_arrival(live, other_user, committed):
    committed(services.room_invite, room_id=live.pk, actor=live.host, handle=other_user.handle)
    [(kind, text, _)] = invitations_of(other_user)
    assert kind == "speak_invite" and text == f"{live.host.name} invited you to speak in On air, live now"
    participant = services.participant_join(room_id=live.pk, user=other_user)
    assert participant.invited_to_speak_at is not None
    # Declining is final: coming back does not ask again.
    services.speaker_invite_decline(room_id=live.pk, actor=other_user)
    Participant.objects.filter(pk=participant.pk).delete()
    assert services.participant_join(room_id=live.pk, user=other_user).invited_to_speak_at is None


def test_someone_already_listening_is_asked_to_speak_at_once(live, other_user, committed):
    services.participant_join(room_id=live.pk, user=other_user)
    committed(services.room_invite, room_id=live.pk, actor=live.host, handle=other_user.handle)
    assert Participant.objects.get(room=live, user=other_user).invited_to_speak_at is not None


def test_a_full_stage_makes_it_a_plain_invitation(live, other_user, committed):
    Participant.objects.bulk_create(
        Participant(room=live, user=UserFactory(), role=Participant.Role.SPEAKER) for _ in range(MAX_SPEAKERS)
    )
    committed(services.room_invite, room_id=live.pk, actor=live.host, handle=other_user.handle)
    [(kind, text, _)] = invitations_of(other_user)
    assert kind == "room_invite" and text == f"{live.host.name} invited you to On air, live now"
    assert services.participant_join(room_id=live.pk, user=other_user).invited_to_speak_at is None


def test_someone_removed_from_the_room_cannot_be_invited_back(live, other_user):
    Participant.objects.create(room=live, user=other_user, is_removed=True)
    with pytest.raises(ServiceError) as refused:
        services.room_invite(room_id=live.pk, actor=live.host, handle=other_user.handle)
    assert refused.value.code == "removed"


@pytest.mark.parametrize("state", ["ended", "cancelled"])
def test_an_ended_or_cancelled_room_takes_no_invitations(other_user, state):
    extra = (
        {"ended_at": timezone.now()}
        if state == "ended"
        else {"started_at": None, "scheduled_for": timezone.now()}
    )
    room = RoomFactory(state=state, **extra)
    with pytest.raises(ServiceError) as refused:
        services.room_invite(room_id=room.pk, actor=room.host, handle=other_user.handle)
    assert refused.value.code == "bad_state"


def test_the_live_page_invites_without_a_reload(client, live, other_user):
    client.force_login(live.host)
    page = reverse("rooms:detail", args=[live.pk])
    assert "data-invite-form" in client.get(page).content.decode()
    url = reverse("rooms:invite", args=[live.pk])
    response = csrf_post(
        client, url, {"handle": f"@{other_user.handle}"}, page=page, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 200
    assert json.loads(response.content) == {
        "ok": True,
        "invited": True,
        "handle": other_user.handle,
        "message": f"Invited @{other_user.handle}: they will get a notification with the link.",
    }
    response = csrf_post(client, url, {"handle": live.host.handle}, page=page, HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    assert json.loads(response.content)["error"] == "self_invite"


def test_the_invite_form_works_without_script(client, scheduled, other_user):
    client.force_login(scheduled.host)
    page = reverse("rooms:detail", args=[scheduled.pk])
    response = csrf_post(
        client, reverse("rooms:invite", args=[scheduled.pk]), {"handle": other_user.handle}, page=page
    )
    assert response.status_code == 302
    assert f"@{other_user.handle}</li>" in client.get(page).content.decode()


def test_a_listener_sees_no_invite_form_and_gets_no_suggestions(client, live, other_user):
    client.force_login(other_user)
    assert "data-invite-form" not in client.get(reverse("rooms:detail", args=[live.pk])).content.decode()
    assert client.get(reverse("rooms:invite_suggestions", args=[live.pk])).status_code == 403
