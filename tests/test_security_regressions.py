"""Regression tests for what the outside security review found (issue 12), over HTTP and services."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Follow
from accounts.services import block_create, follow_create, user_edit_profile, user_suspend
from moderation.models import REPORTS_PER_HOUR, Report
from moderation.services import report_create
from recordings.models import Recording
from rooms import services as room_services
from rooms.models import Participant, Room
from spaces_project import protocol
from spaces_project.errors import ServiceError
from tests.factories import PASSWORD, RecordingFactory, RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


def _post(client: Client, url: str, data: dict | None = None, page: str | None = None):
    """POST like a browser: with the CSRF token a page gave."""
    client.get(page or url)
    token = client.cookies["csrftoken"].value
    return client.post(url, {**(data or {}), "csrfmiddlewaretoken": token})


class TestContentSecurityPolicy:
    def test_every_page_has_a_nonce_policy_without_unsafe_inline_scripts(self, client, room):
        response = client.get(reverse("rooms:detail", args=[room.pk]))
        policy = response["Content-Security-Policy"]
        script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
        assert re.search(r"'nonce-[\w-]{16,}'", script_src)
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy

    def test_the_nonce_changes_with_every_response(self, client):
        first = client.get("/")["Content-Security-Policy"]
        second = client.get("/")["Content-Security-Policy"]
        assert first != second

    def test_no_template_has_an_inline_script_or_handler(self, client, user, room):
        client.force_login(user)
        for url in ["/", reverse("rooms:detail", args=[room.pk]), reverse("rooms:create")]:
            html = client.get(url).content.decode()
            for tag in re.findall(r"<script\b[^>]*>", html):
                assert "src=" in tag or 'type="application/json"' in tag or "nonce=" in tag, tag
            assert not re.search(r"\son[a-z]+=", html)


def test_anonymous_visitors_do_not_see_who_is_in_a_room_closed_to_them(client):
    room = RoomFactory(allow_anonymous=False)
    listener = UserFactory(display_name="Quiet Listener")
    Participant.objects.create(room=room, user=listener)
    html = client.get(reverse("rooms:detail", args=[room.pk])).content.decode()
    assert "Sign in to listen" in html
    assert "Quiet Listener" not in html and f"stage-member-{room.host_id}" not in html
    client.force_login(UserFactory())
    html = client.get(reverse("rooms:detail", args=[room.pk])).content.decode()
    assert "Quiet Listener" in html and f"stage-member-{room.host_id}" in html


class TestRoomDescriptionLimit:
    def test_the_service_refuses_two_million_characters(self, user):
        with pytest.raises(ServiceError) as error:
            room_services.room_create(host=user, title="Long", description="x" * 2_000_000, start_now=True)
        assert error.value.field == "description"
        assert not Room.objects.exists()

    def test_the_form_refuses_it_too(self, client, user):
        client.force_login(user)
        data = {"title": "Long", "description": "x" * 2_000_000, "when": "now", "speaker_policy": "everyone"}
        response = _post(client, reverse("rooms:create"), data)
        assert response.status_code == 200 and "at most 1000 characters" in response.content.decode()
        assert not Room.objects.exists()

    def test_editing_is_held_to_the_same_limit(self, user):
        room = RoomFactory(host=user)
        with pytest.raises(ServiceError):
            room_services.room_update(
                room=room,
                actor=user,
                title=room.title,
                description="x" * 1001,
                topics=[],
                speaker_policy=room.speaker_policy,
                allow_anonymous=True,
            )


class TestPlays:
    def test_posts_without_a_session_count_nothing(self, client):
        recording = RecordingFactory()
        url = reverse("recordings:play", args=[recording.pk])
        for _ in range(20):
            fresh = Client()
            fresh.get(reverse("account_login"))  # a CSRF cookie is easy to get; a viewing session is not
            fresh.post(url, {"csrfmiddlewaretoken": fresh.cookies["csrftoken"].value})
        recording.refresh_from_db()
        assert recording.play_count == 0

    def test_a_viewer_who_opened_the_page_counts_once(self, client):
        recording = RecordingFactory()
        page = reverse("recordings:detail", args=[recording.pk])
        url = reverse("recordings:play", args=[recording.pk])
        for _ in range(3):
            assert _post(client, url, page=page).json()["counted"] in (True, False)
        recording.refresh_from_db()
        assert recording.play_count == 1

    def test_one_address_opening_fresh_sessions_is_capped(self):
        recording = RecordingFactory()
        page = reverse("recordings:detail", args=[recording.pk])
        url = reverse("recordings:play", args=[recording.pk])
        for _ in range(15):
            _post(Client(), url, page=page)
        recording.refresh_from_db()
        assert recording.play_count == 10


class TestReportLimits:
    def test_ten_reports_an_hour(self, user):
        rooms = [RoomFactory() for _ in range(REPORTS_PER_HOUR + 1)]
        for room in rooms[:-1]:
            report_create(
                reporter=user, target_type="room", target_id=room.pk, reason="spam", note="n" * 1000
            )
        with pytest.raises(ServiceError) as error:
            report_create(reporter=user, target_type="room", target_id=rooms[-1].pk, reason="spam", note="")
        assert error.value.code == "rate_limited"
        assert Report.objects.count() == REPORTS_PER_HOUR

    def test_a_note_over_a_thousand_characters_is_refused(self, client, user, room):
        client.force_login(user)
        url = reverse("moderation:create", args=["room", room.pk])
        response = _post(client, url, {"reason": "spam", "note": "x" * 2000})
        assert response.status_code == 200 and not Report.objects.exists()

    def test_only_the_six_reasons_are_offered(self, client, user, room):
        client.force_login(user)
        html = client.get(reverse("moderation:create", args=["room", room.pk])).content.decode()
        values = re.findall(r'name="reason" value="([a-z_]+)"', html)
        assert values == ["spam", "harassment", "hate", "violence", "impersonation", "other"]


def test_a_blocked_person_deleting_the_hosts_recording_gets_404_not_403(client):
    recording = RecordingFactory()
    host = recording.room.host
    blocked, stranger = UserFactory(), UserFactory()
    block_create(blocker=host, blocked=blocked)
    url = reverse("recordings:delete", args=[recording.pk])
    client.force_login(blocked)
    assert _post(client, url, page="/").status_code == 404
    client.force_login(stranger)
    assert _post(client, url, page="/").status_code == 403
    recording.refresh_from_db()
    assert recording.status == Recording.Status.READY


class TestSuspended:
    @pytest.fixture
    def suspended(self, db):
        user = UserFactory()
        user_suspend(user=user)
        return user

    def test_cannot_follow(self, client, suspended, other_user):
        with pytest.raises(ServiceError):
            follow_create(follower=suspended, followee=other_user)
        client.force_login(suspended)
        _post(client, reverse("accounts:follow", args=[other_user.handle]), page="/")
        assert not Follow.objects.exists()

    def test_cannot_report(self, suspended, room):
        with pytest.raises(ServiceError) as error:
            report_create(reporter=suspended, target_type="room", target_id=room.pk, reason="spam", note="")
        assert error.value.code == "suspended"

    def test_cannot_edit_their_profile(self, client, suspended):
        with pytest.raises(ServiceError):
            user_edit_profile(user=suspended, display_name="New name", bio="")
        client.force_login(suspended)
        response = _post(client, reverse("accounts:profile_edit"), {"display_name": "New name", "bio": "Hi"})
        assert "suspended" in response.content.decode()
        suspended.refresh_from_db()
        assert suspended.display_name != "New name"

    def test_cannot_react(self, suspended, room):
        Participant.objects.create(room=room, user=suspended)
        with pytest.raises(ServiceError) as error:
            room_services.reaction_send(room_id=room.pk, actor=suspended, emoji=next(iter(_reactions())))
        assert error.value.code == "suspended"


def _reactions():
    return protocol.REACTIONS


def test_sign_in_with_password_still_works_for_the_csrf_client(csrf_client, user):
    # The CSP and the middleware order must leave allauth's sign-in form working.
    page = csrf_client.get(reverse("account_login"))
    assert page.status_code == 200 and "Content-Security-Policy" in page
    response = csrf_client.post(
        reverse("account_login"),
        {
            "login": user.email,
            "password": PASSWORD,
            "csrfmiddlewaretoken": csrf_client.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 302
