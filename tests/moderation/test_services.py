import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction

from accounts.services import block_create
from moderation.models import AuditLogEntry, Report
from moderation.services import (
    moderation_end_room,
    moderation_remove_recording,
    moderation_suspend_user,
    report_assign,
    report_create,
    report_dismiss,
    report_resolve,
)
from recordings.models import Recording
from rooms.models import Room
from spaces_project.errors import NotFound, ServiceError
from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db


def _report(reporter, target_type, target_id, reason="spam", note=""):
    return report_create(
        reporter=reporter, target_type=target_type, target_id=target_id, reason=reason, note=note
    )


class TestReportCreate:
    def test_reports_a_room_user_and_recording(self, user):
        room = RoomFactory()
        recording = Recording.objects.create(room=RoomFactory(), status=Recording.Status.READY)
        other = UserFactory()

        on_room = _report(user, "room", room.pk, note="  shouting  ")
        on_user = _report(user, "user", other.pk, reason="harassment")
        on_recording = _report(user, "recording", recording.pk)

        assert on_room.target == room and on_room.note == "shouting"
        assert on_room.status == Report.Status.OPEN
        assert on_user.target == other and on_user.reason == "harassment"
        assert on_recording.target == recording

    def test_anonymous_cannot_report(self, room):
        with pytest.raises(ServiceError) as error:
            _report(AnonymousUser(), "room", room.pk)
        assert error.value.code == "not_signed_in"

    def test_unknown_target_type_is_not_found(self, user, room):
        with pytest.raises(NotFound):
            _report(user, "tag", room.pk)

    @pytest.mark.parametrize("target_type", ["room", "user", "recording"])
    def test_missing_target_is_not_found(self, user, target_type):
        with pytest.raises(NotFound):
            _report(user, target_type, 999_999)
        assert not Report.objects.exists()

    def test_inactive_user_cannot_be_reported(self, user):
        gone = UserFactory(is_active=False)
        with pytest.raises(NotFound):
            _report(user, "user", gone.pk)

    def test_removed_recording_cannot_be_reported(self, user):
        recording = Recording.objects.create(room=RoomFactory(), status=Recording.Status.REMOVED)
        with pytest.raises(NotFound):
            _report(user, "recording", recording.pk)

    def test_room_of_a_host_who_blocked_the_reporter_is_invisible(self, user):
        room = RoomFactory()
        block_create(blocker=room.host, blocked=user)
        with pytest.raises(NotFound):
            _report(user, "room", room.pk)
        recording = Recording.objects.create(room=room, status=Recording.Status.READY)
        with pytest.raises(NotFound):
            _report(user, "recording", recording.pk)

    def test_a_blocked_user_can_still_be_reported(self, user, other_user):
        block_create(blocker=user, blocked=other_user)
        assert _report(user, "user", other_user.pk).target == other_user

    def test_cannot_report_yourself(self, user):
        with pytest.raises(ServiceError) as error:
            _report(user, "user", user.pk)
        assert error.value.code == "self_report"

    def test_bad_reason_and_long_note_are_refused(self, user, room):
        with pytest.raises(ServiceError) as error:
            _report(user, "room", room.pk, reason="boring")
        assert error.value.field == "reason"
        with pytest.raises(ServiceError) as error:
            _report(user, "room", room.pk, note="x" * 2001)
        assert error.value.field == "note"
        assert not Report.objects.exists()

    def test_reporting_again_updates_the_open_report(self, user, room, moderator):
        first = _report(user, "room", room.pk)
        again = _report(user, "room", room.pk, reason="hate", note="They said it again.")
        assert again.pk == first.pk and Report.objects.count() == 1
        first.refresh_from_db()
        assert (first.reason, first.note) == ("hate", "They said it again.")

        # Someone else may report the same room, and once closed the first person may again.
        assert _report(UserFactory(), "room", room.pk)
        report_dismiss(moderator=moderator, report=first)
        assert _report(user, "room", room.pk).status == Report.Status.OPEN

    def test_database_refuses_a_second_open_report(self, user, room):
        _report(user, "room", room.pk)
        with pytest.raises(IntegrityError), transaction.atomic():
            Report.objects.create(reporter=user, target_type="room", target_room=room, reason="spam")


class TestQueue:
    def test_assign_resolve_dismiss_write_the_audit_log(self, moderator, user, room):
        report = _report(user, "room", room.pk)
        other = _report(user, "user", room.host.pk)

        report_assign(moderator=moderator, report=report)
        report_resolve(moderator=moderator, report=report, note="Talked to the host")
        report_dismiss(moderator=moderator, report=other)

        report.refresh_from_db()
        other.refresh_from_db()
        assert report.assignee == moderator
        assert report.status == Report.Status.RESOLVED and report.closed_at is not None
        assert report.resolution_note == "Talked to the host"
        assert other.status == Report.Status.DISMISSED
        assert list(AuditLogEntry.objects.order_by("pk").values_list("action", "actor", "report")) == [
            ("report_assigned", moderator.pk, report.pk),
            ("report_resolved", moderator.pk, report.pk),
            ("report_dismissed", moderator.pk, other.pk),
        ]

    def test_a_closed_report_cannot_be_closed_again(self, moderator, user, room):
        report = _report(user, "room", room.pk)
        report_dismiss(moderator=moderator, report=report)
        with pytest.raises(ServiceError) as error:
            report_resolve(moderator=moderator, report=report)
        assert error.value.code == "report_closed"
        report.refresh_from_db()
        assert report.status == Report.Status.DISMISSED

    def test_only_moderators_can_be_assigned(self, moderator, user, room):
        report = _report(user, "room", room.pk)
        with pytest.raises(ServiceError):
            report_assign(moderator=moderator, report=report, assignee=user)

    @pytest.mark.parametrize(
        "make_user",
        [
            lambda: UserFactory(),
            lambda: UserFactory(is_staff=True),  # staff, but not in the Moderators group
        ],
        ids=["member", "staff-not-moderator"],
    )
    def test_non_moderators_are_refused_every_action(self, make_user, user):
        outsider = make_user()
        room = RoomFactory()
        recording = Recording.objects.create(room=RoomFactory(), status=Recording.Status.READY)
        report = _report(user, "room", room.pk)
        calls = [
            lambda: report_assign(moderator=outsider, report=report),
            lambda: report_resolve(moderator=outsider, report=report),
            lambda: report_dismiss(moderator=outsider, report=report),
            lambda: moderation_end_room(moderator=outsider, room=room),
            lambda: moderation_suspend_user(moderator=outsider, user=room.host),
            lambda: moderation_remove_recording(moderator=outsider, recording=recording),
        ]
        for call in calls:
            with pytest.raises(ServiceError) as error:
                call()
            assert error.value.code == "not_moderator"
        room.refresh_from_db()
        room.host.refresh_from_db()
        recording.refresh_from_db()
        report.refresh_from_db()
        assert room.state == Room.State.LIVE
        assert not room.host.is_suspended
        assert recording.status == Recording.Status.READY
        assert report.status == Report.Status.OPEN and report.assignee is None
        assert not AuditLogEntry.objects.exists()

    def test_suspended_moderator_is_refused(self, moderator, room):
        moderator.is_suspended = True
        moderator.save()
        with pytest.raises(ServiceError):
            moderation_end_room(moderator=moderator, room=room)

    def test_superuser_is_a_moderator(self, superuser, room):
        assert moderation_end_room(moderator=superuser, room=room).state == Room.State.ENDED


class TestModeratorActions:
    def test_end_room_ends_it_resolves_the_report_and_is_audited(self, moderator, user, room):
        report = _report(user, "room", room.pk)
        moderation_end_room(moderator=moderator, room=room, report=report)

        room.refresh_from_db()
        report.refresh_from_db()
        assert room.state == Room.State.ENDED and room.ended_at is not None
        assert report.status == Report.Status.RESOLVED
        entry = AuditLogEntry.objects.get(action="room_ended")
        assert entry.actor == moderator and entry.report == report and room.title in entry.target_repr

    def test_ending_a_room_that_is_not_live_is_refused(self, moderator):
        room = RoomFactory(scheduled=True)
        with pytest.raises(ServiceError):
            moderation_end_room(moderator=moderator, room=room)
        assert not AuditLogEntry.objects.exists()

    def test_suspending_a_user_ends_their_live_room(self, moderator, user):
        live = RoomFactory()
        upcoming = RoomFactory(scheduled=True, host=live.host)
        someone_elses = RoomFactory()
        report = _report(user, "user", live.host.pk)

        moderation_suspend_user(moderator=moderator, user=live.host, report=report)

        live.refresh_from_db()
        upcoming.refresh_from_db()
        someone_elses.refresh_from_db()
        live.host.refresh_from_db()
        assert live.host.is_suspended and live.host.suspended_at is not None
        assert live.state == Room.State.ENDED
        assert upcoming.state == Room.State.SCHEDULED
        assert someone_elses.state == Room.State.LIVE
        entry = AuditLogEntry.objects.get(action="user_suspended")
        assert entry.report == report and f"room #{live.pk}" in entry.detail
        report.refresh_from_db()
        assert report.status == Report.Status.RESOLVED

    def test_moderator_cannot_suspend_staff_or_themself(self, moderator):
        with pytest.raises(ServiceError):
            moderation_suspend_user(moderator=moderator, user=moderator)
        with pytest.raises(ServiceError):
            moderation_suspend_user(moderator=moderator, user=UserFactory(is_staff=True))

    def test_remove_recording(self, moderator, user):
        recording = Recording.objects.create(room=RoomFactory(), status=Recording.Status.READY)
        report = _report(user, "recording", recording.pk)

        moderation_remove_recording(moderator=moderator, recording=recording, report=report)

        recording.refresh_from_db()
        assert recording.status == Recording.Status.REMOVED
        assert AuditLogEntry.objects.filter(action="recording_removed", report=report).exists()
        with pytest.raises(ServiceError):
            moderation_remove_recording(moderator=moderator, recording=recording)
