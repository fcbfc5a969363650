"""The moderators' queue in Django admin (issue 12): grouped by target, oldest open first, the target
shown on the report's page, suspensions with a reason and an end date, lifting them, the audit log,
and what the Moderators group may not do."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from moderation.models import AuditLogEntry, Report
from moderation.services import moderation_end_room, moderation_suspend_user, report_create
from rooms.models import Participant, Room
from tests.factories import PASSWORD, RecordingFactory, RoomFactory, UserFactory

from .test_admin import _action

pytestmark = pytest.mark.django_db


def _report(target_type, target, reporter=None, **kwargs):
    return report_create(
        reporter=reporter or UserFactory(),
        target_type=target_type,
        target_id=target.pk,
        reason=kwargs.get("reason", "spam"),
        note=kwargs.get("note", ""),
    )


def _age(report, minutes):
    Report.objects.filter(pk=report.pk).update(created_at=timezone.now() - timedelta(minutes=minutes))


def test_the_queue_groups_reports_by_target_with_counts_oldest_open_first(client, moderator):
    loud, quiet = RoomFactory(title="Loud"), RoomFactory(title="Quiet")
    troll = UserFactory(handle="troll")
    loud_reports = [_report("room", loud) for _ in range(3)]
    quiet_report = _report("room", quiet)
    troll_report = _report("user", troll)
    _age(quiet_report, 60)  # the oldest open report of all: its target comes first
    _age(loud_reports[0], 30)
    _age(troll_report, 10)
    client.force_login(moderator)
    response = client.get(reverse("admin:moderation_report_changelist"))
    rows = list(response.context["cl"].result_list)
    assert [r.pk for r in rows] == [quiet_report.pk, *[r.pk for r in loud_reports], troll_report.pk]
    assert [r.target_open for r in rows] == [1, 3, 3, 3, 1]
    html = response.content.decode()
    assert "open on target" in html.lower()
    # Filters and search still work on the grouped queue.
    assert (
        client.get(reverse("admin:moderation_report_changelist") + "?q=troll").context["cl"].result_count == 1
    )
    filtered = client.get(reverse("admin:moderation_report_changelist") + "?target_type__exact=user")
    assert filtered.context["cl"].result_count == 1


def test_the_report_page_shows_the_target(client, moderator):
    room = RoomFactory(title="Chaos hour")
    listener = UserFactory(handle="ear")
    Participant.objects.create(room=room, user=listener)
    recording = RecordingFactory()
    troll = UserFactory(handle="troll")
    RoomFactory(host=troll, title="Troll's den", state=Room.State.ENDED, ended_at=timezone.now())
    earlier = _report("user", troll, note="First time")
    client.force_login(moderator)

    def page(report):
        return client.get(reverse("admin:moderation_report_change", args=[report.pk])).content.decode()

    html = page(_report("room", room))
    assert "Chaos hour" in html and "Listening (1)" in html and "@ear" in html and "On stage (1)" in html
    html = page(_report("recording", recording))
    assert "<audio" in html and reverse("recordings:stream", args=[recording.pk]) in html
    html = page(earlier)
    assert "Troll&#x27;s den" in html and f"#{earlier.pk} Spam" in html and "First time" in html


def test_suspending_with_a_reason_and_an_end_date(csrf_client, moderator, django_capture_on_commit_callbacks):
    troll = UserFactory()
    troll_room = RoomFactory(host=troll)
    report = _report("user", troll)
    troll_browser = Client()
    troll_browser.force_login(troll)
    csrf_client.force_login(moderator)
    until = (timezone.now() + timedelta(days=7)).replace(second=0, microsecond=0)
    with django_capture_on_commit_callbacks(execute=True):
        _action(
            csrf_client,
            Report,
            "suspend_reported_user",
            [report],
            extra={"apply": "1", "reason": "Harassing speakers", "until": until.strftime("%Y-%m-%d %H:%M")},
        )
    troll.refresh_from_db()
    assert troll.is_suspended and troll.suspension_reason == "Harassing speakers"
    assert troll.suspended_until == until
    troll_room.refresh_from_db()
    assert troll_room.state == Room.State.ENDED
    entry = AuditLogEntry.objects.get(action="user_suspended")
    assert entry.actor == moderator and "Harassing speakers" in entry.detail and entry.report == report
    report.refresh_from_db()
    assert report.status == Report.Status.RESOLVED
    # Their session is over, and signing in is refused with the reason and the end date.
    assert troll_browser.get(reverse("accounts:settings")).status_code == 302
    login = Client()
    login.get(reverse("account_login"))
    response = login.post(
        reverse("account_login"),
        {"login": troll.email, "password": PASSWORD, "csrfmiddlewaretoken": login.cookies["csrftoken"].value},
        follow=True,
    )
    text = response.content.decode()
    assert "suspended until" in text and "Harassing speakers" in text and until.strftime("%d %B %Y") in text
    assert "_auth_user_id" not in login.session


def test_a_suspension_whose_end_has_passed_is_lifted_at_sign_in(moderator):
    person = UserFactory()
    moderation_suspend_user(
        moderator=moderator, user=person, reason="Cool down", until=timezone.now() + timedelta(minutes=5)
    )
    User.objects.filter(pk=person.pk).update(suspended_until=timezone.now() - timedelta(seconds=1))
    login = Client()
    login.get(reverse("account_login"))
    response = login.post(
        reverse("account_login"),
        {
            "login": person.email,
            "password": PASSWORD,
            "csrfmiddlewaretoken": login.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 302
    person.refresh_from_db()
    assert not person.is_suspended


def test_lifting_a_suspension_from_the_queue_is_audited(csrf_client, moderator):
    troll = UserFactory()
    report = _report("user", troll)
    moderation_suspend_user(moderator=moderator, user=troll, reason="x")
    csrf_client.force_login(moderator)
    response = _action(csrf_client, Report, "lift_suspension_of_reported_user", [report])
    troll.refresh_from_db()
    assert not troll.is_suspended
    assert any("lifted" in str(m) for m in response.context["messages"])
    assert AuditLogEntry.objects.filter(action="user_unsuspended", actor=moderator).exists()


def test_the_moderators_group_can_do_exactly_the_queue_and_no_more():
    permissions = set(
        Group.objects.get(name="Moderators").permissions.values_list("content_type__app_label", "codename")
    )
    assert ("moderation", "view_report") in permissions and ("moderation", "change_report") in permissions
    forbidden = {
        ("moderation", "change_auditlogentry"),
        ("moderation", "delete_auditlogentry"),
        ("moderation", "add_auditlogentry"),
        ("moderation", "delete_report"),
        ("auth", "change_group"),
        ("auth", "add_permission"),
        ("auth", "change_permission"),
        ("accounts", "delete_user"),
        ("accounts", "add_user"),
    }
    assert permissions & forbidden == set()


def test_a_moderator_cannot_set_passwords_or_flags_or_edit_the_audit_log(csrf_client, moderator, user):
    moderation_end_room(moderator=moderator, room=RoomFactory())
    entry = AuditLogEntry.objects.get()
    csrf_client.force_login(moderator)
    assert csrf_client.get(reverse("admin:auth_user_password_change", args=[user.pk])).status_code == 403
    change = csrf_client.get(reverse("admin:accounts_user_change", args=[user.pk])).content.decode()
    assert 'name="is_superuser"' not in change and 'name="is_staff"' not in change
    assert 'name="user_permissions"' not in change and 'name="groups"' not in change
    page = csrf_client.get(reverse("admin:moderation_auditlogentry_change", args=[entry.pk]))
    assert page.status_code == 200 and 'name="detail"' not in page.content.decode()
    assert (
        csrf_client.get(reverse("admin:moderation_auditlogentry_delete", args=[entry.pk])).status_code == 403
    )
    assert csrf_client.get(reverse("admin:auth_group_changelist")).status_code == 403
