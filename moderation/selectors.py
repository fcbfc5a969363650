"""Reads for moderation: who is a moderator, and what a person may report."""

from datetime import timedelta

from django.db.models import Case, Count, IntegerField, Min, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from recordings.models import Clip, Recording
from rooms.models import Question, Room
from rooms.selectors import room_get_for_viewer, room_roster, ticketed_room_admits
from spaces_project.errors import NotFound

from .models import TARGET_FIELDS, Report

MODERATORS_GROUP = "Moderators"

ReportTarget = Room | User | Recording | Clip | Question


def user_is_moderator(*, user) -> bool:
    """A superuser, or an active staff member of the Moderators group who is not suspended."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    if not user.is_staff or user.is_suspended:
        return False
    return user.groups.filter(name=MODERATORS_GROUP).exists()


def report_target_for_viewer(*, target_type: str, target_id: int, viewer) -> ReportTarget:
    """Return what `viewer` wants to report; raise NotFound if it is unknown or hidden from them."""
    if target_type == Report.TargetType.ROOM:
        return room_get_for_viewer(room_id=target_id, viewer=viewer)
    if target_type == Report.TargetType.USER:
        # Reporting someone you blocked (or who blocked you) must stay possible: that is
        # often exactly when a report is needed.
        user = User.objects.filter(pk=target_id, is_active=True).first()
        if user is None:
            raise NotFound(_("This account does not exist."))
        return user
    if target_type == Report.TargetType.RECORDING:
        recording = (
            Recording.objects.exclude(status=Recording.Status.REMOVED)
            .select_related("room__host")
            .filter(pk=target_id)
            .first()
        )
        if recording is None:
            raise NotFound(_("This recording does not exist."))
        # A replay is visible to whoever may see its room.
        room_get_for_viewer(room_id=recording.room_id, viewer=viewer)
        return recording
    if target_type == Report.TargetType.CLIP:
        clip = (
            Clip.objects.exclude(status__in=[Clip.Status.DELETED, Clip.Status.REMOVED])
            .exclude(recording__status=Recording.Status.REMOVED)
            .select_related("recording__room__host", "created_by")
            .filter(pk=target_id)
            .first()
        )
        if clip is None:
            raise NotFound(_("This clip does not exist."))
        # A clip is visible to whoever may see its room; a ticketed room's, to those it admits.
        room = room_get_for_viewer(room_id=clip.recording.room_id, viewer=viewer)
        if room.is_ticketed and not ticketed_room_admits(room=room, user=viewer):
            raise NotFound(_("This clip does not exist."))
        return clip
    if target_type == Report.TargetType.QUESTION:
        question = (
            Question.objects.exclude(state=Question.State.REMOVED)
            .select_related("room", "asker")
            .filter(pk=target_id)
            .first()
        )
        if question is None:
            raise NotFound(_("This question does not exist."))
        # A question is visible to whoever may see its room.
        room_get_for_viewer(room_id=question.room_id, viewer=viewer)
        return question
    raise NotFound(_("There is nothing of that kind to report."))


def open_report_by(*, reporter: User, target_type: str, target: ReportTarget) -> Report | None:
    return Report.objects.filter(
        reporter=reporter, status=Report.Status.OPEN, **{f"target_{target_type}": target}
    ).first()


def reports_touched_recently(*, reporter: User, hours: int = 1) -> int:
    """Reports `reporter` filed or changed in the last `hours`."""
    since = timezone.now() - timedelta(hours=hours)
    return Report.objects.filter(reporter=reporter, updated_at__gte=since).count()


def _with_target_id(reports: QuerySet[Report]) -> QuerySet[Report]:
    return reports.annotate(target_id=Coalesce(*(field + "_id" for field in TARGET_FIELDS)))


def report_queue(reports: QuerySet[Report]) -> QuerySet[Report]:
    """The moderators' queue: each report with the number of open reports on its target, open
    reports first, targets whose oldest open report is oldest first, a target's reports together."""
    open_on_same_target = _with_target_id(Report.objects.filter(status=Report.Status.OPEN)).filter(
        target_type=OuterRef("target_type"), target_id=OuterRef("target_id")
    )
    count = open_on_same_target.values("target_type").annotate(n=Count("pk")).values("n")
    oldest = open_on_same_target.values("target_type").annotate(first=Min("created_at")).values("first")
    return (
        _with_target_id(reports)
        .annotate(
            target_open=Coalesce(Subquery(count, output_field=IntegerField()), Value(0)),
            target_oldest_open=Subquery(oldest),
            is_closed=Case(When(status=Report.Status.OPEN, then=Value(0)), default=Value(1)),
        )
        .order_by(*REPORT_QUEUE_ORDER)
    )


REPORT_QUEUE_ORDER = ["is_closed", "target_oldest_open", "target_type", "target_id", "created_at"]


def report_target_summary(*, report: Report) -> dict:
    """What the report's detail page shows of its target, for the moderator to judge."""
    context: dict = {"report": report, "kind": report.target_type}
    if report.target_room is not None:
        room = report.target_room
        context["room"] = room
        context["roster"] = room_roster(room=room) if room.is_live else None
    elif report.target_recording is not None:
        context["recording"] = report.target_recording
    elif report.target_clip is not None:
        context["clip"] = report.target_clip
    elif report.target_question is not None:
        context["question"] = report.target_question
    elif report.target_user is not None:
        person = report.target_user
        context["person"] = person
        context["recent_rooms"] = list(Room.objects.filter(host=person).order_by("-created_at")[:10])
        context["reports_against"] = list(
            Report.objects.filter(target_user=person).select_related("reporter").order_by("-created_at")[:20]
        )
    return context
