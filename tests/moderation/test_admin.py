import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.models import Block, Follow, Notification, User
from accounts.services import block_create, follow_create
from moderation.models import AuditLogEntry, Report
from moderation.services import report_create, report_dismiss
from recordings.models import Recording
from rooms.models import Participant, PinnedLink, Question, Room, RoomTopic, Tag
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(user, other_user, moderator):
    """One object of every model the admin shows."""
    room = RoomFactory(title="Loud room")
    tag = Tag.objects.create(name="Music", slug="music")
    RoomTopic.objects.create(room=room, tag=tag, position=1)
    Participant.objects.create(room=room, user=user)
    PinnedLink.objects.create(
        room=room, title="Buy cheap pills", url="https://spam.example/", pinned_by=room.host
    )
    recording = Recording.objects.create(room=RoomFactory(), status=Recording.Status.READY)
    follow_create(follower=user, followee=room.host)  # also makes a notification
    block_create(blocker=other_user, blocked=room.host)
    report = report_create(reporter=user, target_type="room", target_id=room.pk, reason="spam", note="")
    report_dismiss(moderator=moderator, report=report)
    return {
        User: user,
        Follow: Follow.objects.first(),
        Block: Block.objects.first(),
        Notification: Notification.objects.first(),
        Tag: tag,
        Room: room,
        Participant: Participant.objects.filter(room=room).first(),
        Recording: recording,
        Report: report,
        AuditLogEntry: AuditLogEntry.objects.first(),
    }


def _admin_url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _action(client, model, action, objects, extra=None):
    """Run an admin action from the changelist, as a browser would, with the CSRF token."""
    url = _admin_url(model, "changelist")
    assert client.get(url).status_code == 200
    return client.post(
        url,
        {
            "action": action,
            "_selected_action": [obj.pk for obj in objects],
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
            **(extra or {}),
        },
        follow=True,
    )


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.mark.parametrize("who", ["moderator", "superuser"])
def test_every_changelist_and_change_page_loads(client, world, who, request):
    client.force_login(request.getfixturevalue(who))
    for model, obj in world.items():
        changelist = client.get(_admin_url(model, "changelist"))
        assert changelist.status_code == 200, model
        assert obj in changelist.context["cl"].result_list, model
        change = client.get(_admin_url(model, "change", obj.pk))
        assert change.status_code == 200, model


def test_room_page_shows_topics_pinned_links_and_participants(client, world, moderator):
    client.force_login(moderator)
    page = client.get(_admin_url(Room, "change", world[Room].pk)).content.decode()
    assert "Music" in page
    assert "Buy cheap pills" in page
    assert f"@{world[User].handle}" in page


def test_changelist_filters_and_search_work(client, world, moderator):
    client.force_login(moderator)
    url = _admin_url(Report, "changelist")
    for query in ["?status__exact=open", "?reason__exact=spam", "?target_type__exact=room", "?q=Loud"]:
        assert client.get(url + query).status_code == 200
    response = client.get(url + f"?assignee__id__exact={moderator.pk}")
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_moderator_cannot_delete_add_or_take_over_users(client, world, moderator):
    client.force_login(moderator)
    target = world[User]
    assert client.get(_admin_url(User, "delete", target.pk)).status_code == 403
    assert client.get(_admin_url(User, "add")).status_code == 403
    assert client.get(reverse("admin:auth_user_password_change", args=[target.pk])).status_code == 403
    assert client.get(_admin_url(Report, "delete", world[Report].pk)).status_code == 403
    assert client.get(_admin_url(Room, "delete", world[Room].pk)).status_code == 403


def test_moderator_cannot_make_themself_superuser(csrf_client, moderator):
    csrf_client.force_login(moderator)
    url = _admin_url(User, "change", moderator.pk)
    # A staff account is view-only for a moderator, their own included.
    page = csrf_client.get(url)
    assert page.status_code == 200
    assert 'name="is_superuser"' not in page.content.decode()
    response = csrf_client.post(
        url,
        {
            "handle": moderator.handle,
            "email": moderator.email,
            "is_superuser": "on",
            "is_staff": "on",
            "csrfmiddlewaretoken": csrf_client.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 403
    moderator.refresh_from_db()
    assert not moderator.is_superuser


def test_moderator_edits_a_profile_but_not_its_permissions(csrf_client, moderator, user):
    csrf_client.force_login(moderator)
    url = _admin_url(User, "change", user.pk)
    page = csrf_client.get(url).content.decode()
    assert 'name="display_name"' in page and 'name="is_staff"' not in page
    response = csrf_client.post(
        url,
        {
            "handle": user.handle,
            "email": user.email,
            "display_name": "Renamed",
            "bio": "",
            "is_staff": "on",
            "csrfmiddlewaretoken": csrf_client.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.display_name == "Renamed" and not user.is_staff


def test_audit_log_is_read_only_even_for_a_superuser(csrf_client, world, superuser):
    csrf_client.force_login(superuser)
    entry = world[AuditLogEntry]
    assert csrf_client.get(_admin_url(AuditLogEntry, "add")).status_code == 403
    assert csrf_client.get(_admin_url(AuditLogEntry, "delete", entry.pk)).status_code == 403
    page = csrf_client.get(_admin_url(AuditLogEntry, "change", entry.pk))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    response = csrf_client.post(
        _admin_url(AuditLogEntry, "change", entry.pk),
        {"action": "edited", "csrfmiddlewaretoken": csrf_client.cookies["csrftoken"].value},
    )
    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.action == "report_dismissed"


def test_superuser_adds_a_user_in_admin(csrf_client, superuser):
    csrf_client.force_login(superuser)
    add_url = _admin_url(User, "add")
    page = csrf_client.get(add_url)
    assert page.status_code == 200
    assert 'name="handle"' in page.content.decode() and 'name="username"' not in page.content.decode()
    response = csrf_client.post(
        add_url,
        {
            "handle": "new_person",
            "email": "new@example.com",
            "display_name": "New Person",
            "usable_password": "true",
            "password1": "a-long-Secret-phrase-42",
            "password2": "a-long-Secret-phrase-42",
            "csrfmiddlewaretoken": csrf_client.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 302
    created = User.objects.get(handle="new_person")
    assert created.email == "new@example.com" and created.display_name == "New Person"
    assert created.check_password("a-long-Secret-phrase-42")
    assert csrf_client.get(_admin_url(User, "change", created.pk)).status_code == 200


def test_admin_refuses_a_handle_that_differs_only_in_case(csrf_client, superuser, user):
    csrf_client.force_login(superuser)
    csrf_client.get(_admin_url(User, "add"))
    response = csrf_client.post(
        _admin_url(User, "add"),
        {
            "handle": user.handle.upper(),
            "email": "fresh@example.com",
            "usable_password": "false",
            "csrfmiddlewaretoken": csrf_client.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 200
    assert "A user with that handle already exists." in response.content.decode()
    assert User.objects.count() == 2


class TestReportQueueActions:
    @pytest.fixture
    def reports(self, user):
        room = RoomFactory(title="Shouting match")
        recording = Recording.objects.create(room=RoomFactory(), status=Recording.Status.READY)
        troll = UserFactory()
        troll_room = RoomFactory(host=troll)

        def make(target_type, target):
            return report_create(
                reporter=user, target_type=target_type, target_id=target.pk, reason="spam", note=""
            )

        return {
            "room": make("room", room),
            "user": make("user", troll),
            "recording": make("recording", recording),
            "troll_room": troll_room,
        }

    def test_assign_to_me_resolve_and_dismiss(self, csrf_client, moderator, reports):
        csrf_client.force_login(moderator)
        response = _action(csrf_client, Report, "assign_to_me", [reports["room"], reports["user"]])
        assert response.status_code == 200
        assert Report.objects.filter(assignee=moderator).count() == 2
        _action(csrf_client, Report, "resolve", [reports["room"]])
        _action(csrf_client, Report, "dismiss", [reports["user"]])
        statuses = dict(Report.objects.values_list("target_type", "status"))
        assert statuses == {"room": "resolved", "user": "dismissed", "recording": "open"}
        assert AuditLogEntry.objects.filter(actor=moderator).count() == 4

    def test_end_the_reported_room(self, csrf_client, moderator, reports):
        csrf_client.force_login(moderator)
        response = _action(csrf_client, Report, "end_reported_room", [reports["room"], reports["user"]])
        room = reports["room"].target_room
        room.refresh_from_db()
        assert room.state == Room.State.ENDED
        messages = _messages(response)
        assert any("ended" in m for m in messages)
        assert any("not about a room" in m for m in messages)
        assert AuditLogEntry.objects.get(action="room_ended").report == reports["room"]

    def test_suspend_the_reported_user_ends_their_live_room(self, csrf_client, moderator, reports):
        csrf_client.force_login(moderator)
        form = _action(csrf_client, Report, "suspend_reported_user", [reports["user"]])
        assert "reason" in form.content.decode()  # the intermediate page asks first
        _action(
            csrf_client,
            Report,
            "suspend_reported_user",
            [reports["user"]],
            extra={"apply": "1", "reason": "Spam links in every room", "until": ""},
        )
        troll = reports["user"].target_user
        troll.refresh_from_db()
        reports["troll_room"].refresh_from_db()
        assert troll.is_suspended
        assert reports["troll_room"].state == Room.State.ENDED
        entry = AuditLogEntry.objects.get(action="user_suspended")
        assert entry.actor == moderator and entry.report == reports["user"]

    def test_remove_the_reported_recording(self, csrf_client, moderator, reports):
        csrf_client.force_login(moderator)
        _action(csrf_client, Report, "remove_reported_recording", [reports["recording"]])
        recording = reports["recording"].target_recording
        recording.refresh_from_db()
        assert recording.status == Recording.Status.REMOVED
        assert AuditLogEntry.objects.filter(action="recording_removed").count() == 1

    def test_a_reported_question_is_shown_and_removed_from_its_room(self, csrf_client, moderator, user):
        room = RoomFactory()
        asker = UserFactory()
        Participant.objects.create(room=room, user=asker)
        question = Question.objects.create(room=room, asker=asker, text="Buy followers at spam.example")
        report = report_create(
            reporter=user, target_type="question", target_id=question.pk, reason="spam", note=""
        )
        csrf_client.force_login(moderator)
        page = csrf_client.get(_admin_url(Report, "change", report.pk)).content.decode()
        assert "Buy followers at spam.example" in page
        assert csrf_client.get(_admin_url(Question, "change", question.pk)).status_code == 200
        _action(csrf_client, Report, "remove_reported_question", [report])
        question.refresh_from_db()
        report.refresh_from_db()
        assert question.state == Question.State.REMOVED
        assert report.status == Report.Status.RESOLVED
        assert AuditLogEntry.objects.filter(action="question_removed", report=report).count() == 1

    def test_staff_with_admin_rights_but_not_a_moderator_is_refused(self, csrf_client, reports):
        # The admin lets them run the action; the service still says no.
        clerk = UserFactory(is_staff=True)
        clerk.user_permissions.add(*Permission.objects.filter(codename__in=["view_report", "change_report"]))
        csrf_client.force_login(clerk)
        response = _action(
            csrf_client,
            Report,
            "suspend_reported_user",
            [reports["user"]],
            extra={"apply": "1", "reason": "Spam", "until": ""},
        )
        assert any("Only moderators can do this." in m for m in _messages(response))
        troll = reports["user"].target_user
        troll.refresh_from_db()
        assert not troll.is_suspended
        assert not AuditLogEntry.objects.exists()


def test_room_and_recording_and_user_admin_actions(csrf_client, moderator):
    room = RoomFactory()
    recording = Recording.objects.create(room=RoomFactory(), status=Recording.Status.READY)
    person = RoomFactory().host
    csrf_client.force_login(moderator)

    _action(csrf_client, Room, "end_rooms", [room])
    _action(csrf_client, Recording, "remove_recordings", [recording])
    _action(csrf_client, User, "suspend_users", [person], extra={"apply": "1", "reason": "Spam", "until": ""})

    room.refresh_from_db()
    recording.refresh_from_db()
    person.refresh_from_db()
    assert room.state == Room.State.ENDED
    assert recording.status == Recording.Status.REMOVED
    assert person.is_suspended
    assert Room.objects.get(host=person).state == Room.State.ENDED
    assert set(AuditLogEntry.objects.values_list("action", flat=True)) == {
        "room_ended",
        "recording_removed",
        "user_suspended",
    }
    _action(csrf_client, User, "unsuspend_users", [person])
    person.refresh_from_db()
    assert not person.is_suspended


def test_what_the_services_own_is_read_only_in_admin(csrf_client, world, superuser):
    # Even a superuser changes a room's state, host, speakers or links only through the actions.
    csrf_client.force_login(superuser)
    room, participant = world[Room], world[Participant]
    page = csrf_client.get(_admin_url(Room, "change", room.pk)).content.decode()
    for field in ("host", "state", "speaker_policy", "scheduled_for", "started_at", "ended_at"):
        assert f'name="{field}"' not in page, field
    assert 'name="title"' in page
    assert 'name="participants-0-role"' not in page and 'name="pinned_links-0-url"' not in page
    page = csrf_client.get(_admin_url(Participant, "change", participant.pk)).content.decode()
    for field in ("role", "is_muted", "is_removed", "hand_raised_at"):
        assert f'name="{field}"' not in page, field
    assert csrf_client.get(_admin_url(Participant, "add")).status_code == 403
    assert csrf_client.get(_admin_url(Participant, "delete", participant.pk)).status_code == 403


def test_moderator_acts_on_people_in_a_live_room(csrf_client, moderator, django_capture_on_commit_callbacks):
    room = RoomFactory()
    speaker, troll = UserFactory(), UserFactory()
    on_stage = Participant.objects.create(room=room, user=speaker, role="speaker", is_muted=False)
    listener = Participant.objects.create(room=room, user=troll)
    PinnedLink.objects.create(room=room, title="Spam", url="https://spam.example/", pinned_by=room.host)
    csrf_client.force_login(moderator)

    with django_capture_on_commit_callbacks(execute=True):
        _action(csrf_client, Participant, "mute", [on_stage])
        _action(csrf_client, Participant, "move_to_audience", [on_stage])
        _action(csrf_client, Participant, "remove_from_room", [listener])
        _action(csrf_client, Room, "unpin_links", [room])
    on_stage.refresh_from_db()
    listener.refresh_from_db()
    assert (on_stage.role, on_stage.is_muted) == ("listener", True)
    assert listener.is_removed
    assert not PinnedLink.objects.filter(room=room).exists()
    assert list(AuditLogEntry.objects.order_by("pk").values_list("action", flat=True)) == [
        "participant_muted",
        "participant_moved_to_audience",
        "participant_removed",
        "links_unpinned",
    ]
    response = _action(
        csrf_client, Participant, "move_to_audience", [Participant.objects.get(user=room.host)]
    )
    assert any("The host stays on stage" in m for m in _messages(response))
