"""Every write about reports and moderator actions. The report form and Django admin both call these."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from accounts.models import User
from accounts.services import user_suspend, user_unsuspend
from recordings.models import Clip, Recording, Transcript
from recordings.services import clip_remove, recording_remove, transcript_remove
from rooms import services as room_services
from rooms.models import Participant, Room
from spaces_project.errors import ServiceError

from .models import MAX_NOTE_LENGTH, REPORTS_PER_HOUR, AuditLogEntry, Report
from .selectors import open_report_by, report_target_for_viewer, reports_touched_recently, user_is_moderator


def _require_moderator(moderator) -> None:
    if not user_is_moderator(user=moderator):
        raise ServiceError("not_moderator", _("Only moderators can do this."))


def _audit(*, actor: User, action: str, target, report: Report | None = None, detail: str = "") -> None:
    AuditLogEntry.objects.create(
        actor=actor, action=action, target_repr=str(target)[:200], report=report, detail=detail
    )


def _check_may_report(reporter) -> None:
    if not getattr(reporter, "is_authenticated", False):
        raise ServiceError("not_signed_in", _("Sign in to report something."))
    if reporter.is_suspended:
        raise ServiceError("suspended", _("Your account is suspended."))


@transaction.atomic
def report_create(*, reporter, target_type: str, target_id: int, reason: str, note: str) -> Report:
    """File a report on a room, a user or a recording that `reporter` can see.

    Reporting the same target again while the first report is open updates that report (its reason
    and note) instead of filing another. At most REPORTS_PER_HOUR reports filed or changed an hour.
    """
    _check_may_report(reporter)
    target = report_target_for_viewer(target_type=target_type, target_id=target_id, viewer=reporter)
    if target_type == Report.TargetType.USER and target.pk == reporter.pk:
        raise ServiceError("self_report", _("You cannot report yourself."))
    if reason not in Report.Reason.values:
        raise ServiceError("bad_reason", _("Choose a reason."), field="reason")
    note = note.strip()
    if len(note) > MAX_NOTE_LENGTH:
        raise ServiceError(
            "note_too_long",
            _("A note has at most %(count)s characters.")
            % {"count": number_format(MAX_NOTE_LENGTH, force_grouping=True)},
            field="note",
        )
    # One reporter's submissions are serialized, so the hourly limit holds under a burst.
    User.objects.select_for_update().filter(pk=reporter.pk).first()
    if reports_touched_recently(reporter=reporter) >= REPORTS_PER_HOUR:
        raise ServiceError(
            "rate_limited",
            _("You can send at most %(count)s reports an hour. Please try again later.")
            % {"count": REPORTS_PER_HOUR},
        )
    existing = open_report_by(reporter=reporter, target_type=target_type, target=target)
    if existing is not None:
        existing.reason = reason
        existing.note = note
        existing.save(update_fields=["reason", "note", "updated_at"])
        return existing
    return Report.objects.create(
        reporter=reporter,
        target_type=target_type,
        reason=reason,
        note=note,
        **{f"target_{target_type}": target},
    )


def _locked_report(report: Report) -> Report:
    return Report.objects.select_for_update().get(pk=report.pk)


@transaction.atomic
def report_assign(*, moderator: User, report: Report, assignee: User | None = None) -> Report:
    """Give an open report to `assignee` (by default the moderator themself)."""
    _require_moderator(moderator)
    assignee = assignee or moderator
    if not user_is_moderator(user=assignee):
        raise ServiceError(
            "assignee_not_moderator", _("%(assignee)s is not a moderator.") % {"assignee": assignee}
        )
    report = _locked_report(report)
    if report.status != Report.Status.OPEN:
        raise ServiceError("report_closed", _("Report #%(pk)s is already closed.") % {"pk": report.pk})
    report.assignee = assignee
    report.save(update_fields=["assignee", "updated_at"])
    _audit(actor=moderator, action="report_assigned", target=report, report=report, detail=f"to {assignee}")
    return report


def _report_close(*, moderator: User, report: Report, status: str, note: str, action: str) -> Report:
    _require_moderator(moderator)
    report = _locked_report(report)
    if report.status != Report.Status.OPEN:
        raise ServiceError("report_closed", _("Report #%(pk)s is already closed.") % {"pk": report.pk})
    report.status = status
    report.resolution_note = note.strip()
    report.closed_at = timezone.now()
    if report.assignee_id is None:
        report.assignee = moderator
    report.save(update_fields=["status", "resolution_note", "closed_at", "assignee", "updated_at"])
    _audit(actor=moderator, action=action, target=report, report=report, detail=report.resolution_note)
    return report


@transaction.atomic
def report_resolve(*, moderator: User, report: Report, note: str = "") -> Report:
    """Close an open report as acted upon."""
    return _report_close(
        moderator=moderator, report=report, status=Report.Status.RESOLVED, note=note, action="report_resolved"
    )


@transaction.atomic
def report_dismiss(*, moderator: User, report: Report, note: str = "") -> Report:
    """Close an open report as needing no action."""
    return _report_close(
        moderator=moderator,
        report=report,
        status=Report.Status.DISMISSED,
        note=note,
        action="report_dismissed",
    )


def _acted_on(
    *, moderator: User, action: str, target, report: Report | None, detail: str = "", outcome: str
) -> None:
    """Audit a moderator's action. Acting on a report settles it with `outcome`; a report already
    closed keeps its own."""
    _audit(actor=moderator, action=action, target=target, report=report, detail=detail)
    if report is not None and Report.objects.filter(pk=report.pk, status=Report.Status.OPEN).exists():
        report_resolve(moderator=moderator, report=report, note=outcome)


@transaction.atomic
def moderation_end_room(*, moderator: User, room: Room, report: Report | None = None) -> Room:
    """End a live room on a moderator's decision."""
    _require_moderator(moderator)
    room = room_services.room_force_end(room=room)
    _acted_on(
        moderator=moderator,
        action="room_ended",
        target=f"room #{room.pk} {room}",
        report=report,
        outcome="Room ended.",
    )
    return room


@transaction.atomic
def moderation_suspend_user(
    *,
    moderator: User,
    user: User,
    report: Report | None = None,
    reason: str = "",
    until: datetime | None = None,
) -> User:
    """Suspend an account (everything that follows is `accounts.services.user_suspend`), audited."""
    _require_moderator(moderator)
    if user.pk == moderator.pk:
        raise ServiceError("self_suspend", _("You cannot suspend yourself."))
    # Moderators cannot silence each other; only a superuser may suspend staff.
    if (user.is_staff or user.is_superuser) and not moderator.is_superuser:
        raise ServiceError(
            "staff_account",
            _("Only an administrator can suspend the staff account %(user)s.") % {"user": user},
        )
    suspension = user_suspend(user=user, reason=reason, until=until)
    user = suspension.user
    detail = "; ".join(
        [
            f"reason: {user.suspension_reason or '(none given)'}",
            f"until: {user.suspended_until:%Y-%m-%d %H:%M} UTC" if until else "until lifted",
            *(f"ended room #{room.pk} {room}" for room in suspension.ended_rooms),
        ]
    )
    _acted_on(
        moderator=moderator,
        action="user_suspended",
        target=f"user #{user.pk} {user}",
        report=report,
        detail=detail,
        outcome="Account suspended.",
    )
    return user


@transaction.atomic
def moderation_unsuspend_user(*, moderator: User, user: User) -> User:
    """Lift a suspension."""
    _require_moderator(moderator)
    if (user.is_staff or user.is_superuser) and not moderator.is_superuser:
        raise ServiceError(
            "staff_account",
            _("Only an administrator can change the staff account %(user)s.") % {"user": user},
        )
    if not user.is_suspended:
        raise ServiceError("not_suspended", _("%(user)s is not suspended.") % {"user": user})
    user = user_unsuspend(user=user)
    _audit(actor=moderator, action="user_unsuspended", target=f"user #{user.pk} {user}")
    return user


@transaction.atomic
def moderation_remove_recording(
    *, moderator: User, recording: Recording, report: Report | None = None
) -> Recording:
    """Take a replay down for everyone; its files are deleted once this commits."""
    _require_moderator(moderator)
    recording = Recording.objects.select_for_update().select_related("room").get(pk=recording.pk)
    if recording.status == Recording.Status.REMOVED:
        raise ServiceError(
            "already_removed",
            _("The recording of %(room)s is already removed.") % {"room": recording.room},
        )
    previous = recording.status
    recording = recording_remove(recording=recording)
    _acted_on(
        moderator=moderator,
        action="recording_removed",
        target=f"recording #{recording.pk} of room #{recording.room_id} {recording.room}",
        report=report,
        detail=f"was {previous}",
        outcome="Recording removed.",
    )
    return recording


@transaction.atomic
def moderation_remove_question(*, moderator: User, question, report: Report | None = None):
    """Take a question down from its room's queue and record."""
    _require_moderator(moderator)
    question = room_services.question_force_remove(question=question)
    _acted_on(
        moderator=moderator,
        action="question_removed",
        target=f"question #{question.pk} in room #{question.room_id}",
        report=report,
        detail=question.text,
        outcome="Question removed.",
    )
    return question


@transaction.atomic
def moderation_remove_transcript(
    *, moderator: User, transcript: Transcript, report: Report | None = None
) -> Transcript:
    """Take a replay's transcript (and its captions) down for everyone; the replay itself stays."""
    _require_moderator(moderator)
    if transcript.is_gone:
        raise ServiceError(
            "already_removed",
            _("The transcript of %(room)s is already gone.") % {"room": transcript.recording.room},
        )
    previous = transcript.status
    transcript = transcript_remove(transcript=transcript)
    _acted_on(
        moderator=moderator,
        action="transcript_removed",
        target=f"transcript of recording #{transcript.recording_id}",
        report=report,
        detail=f"was {previous}",
        outcome="Transcript removed.",
    )
    return transcript


@transaction.atomic
def moderation_remove_clip(*, moderator: User, clip: Clip, report: Report | None = None) -> Clip:
    """Take a clip down for everyone; its files are deleted once this commits."""
    _require_moderator(moderator)
    if clip.is_gone:
        raise ServiceError(
            "already_removed",
            _("Clip #%(number)s of %(room)s is already gone.")
            % {"number": clip.pk, "room": clip.recording.room},
        )
    previous = clip.status
    clip = clip_remove(clip=clip)
    _acted_on(
        moderator=moderator,
        action="clip_removed",
        target=f"clip #{clip.pk} of recording #{clip.recording_id}",
        report=report,
        detail=f"was {previous}",
        outcome="Clip removed.",
    )
    return clip


# -- a live room's people, from Django admin: the room's sockets hear each change like any other -------


def _act_on_participant(*, moderator: User, participant: Participant, change, action: str) -> Participant:
    _require_moderator(moderator)
    participant = change(participant=participant)
    _audit(
        actor=moderator,
        action=action,
        target=f"{participant.user} in room #{participant.room_id} {participant.room}",
    )
    return participant


@transaction.atomic
def moderation_mute_participant(*, moderator: User, participant: Participant) -> Participant:
    """Mute someone on a live room's stage (the host too)."""
    return _act_on_participant(
        moderator=moderator,
        participant=participant,
        change=room_services.participant_force_mute,
        action="participant_muted",
    )


@transaction.atomic
def moderation_move_to_audience(*, moderator: User, participant: Participant) -> Participant:
    """Move a co-host or speaker of a live room back to the audience."""
    return _act_on_participant(
        moderator=moderator,
        participant=participant,
        change=room_services.participant_force_to_audience,
        action="participant_moved_to_audience",
    )


@transaction.atomic
def moderation_remove_participant(*, moderator: User, participant: Participant) -> Participant:
    """Remove someone from a live room for good; their sockets close."""
    return _act_on_participant(
        moderator=moderator,
        participant=participant,
        change=room_services.participant_force_remove,
        action="participant_removed",
    )


@transaction.atomic
def moderation_unpin_links(*, moderator: User, room: Room) -> int:
    """Unpin every link of a live room (spam, abuse)."""
    _require_moderator(moderator)
    count = room_services.links_force_unpin(room=room)
    _audit(
        actor=moderator, action="links_unpinned", target=f"room #{room.pk} {room}", detail=f"{count} link(s)"
    )
    return count
