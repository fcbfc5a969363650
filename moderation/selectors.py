"""Reads for moderation: who is a moderator, and what a person may report."""

from accounts.models import User
from recordings.models import Recording
from rooms.models import Room
from rooms.selectors import room_get_for_viewer
from spaces_project.errors import NotFound

from .models import Report

MODERATORS_GROUP = "Moderators"

ReportTarget = Room | User | Recording


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
            raise NotFound("This account does not exist.")
        return user
    if target_type == Report.TargetType.RECORDING:
        recording = (
            Recording.objects.exclude(status=Recording.Status.REMOVED)
            .select_related("room__host")
            .filter(pk=target_id)
            .first()
        )
        if recording is None:
            raise NotFound("This recording does not exist.")
        # A replay is visible to whoever may see its room.
        room_get_for_viewer(room_id=recording.room_id, viewer=viewer)
        return recording
    raise NotFound("There is nothing of that kind to report.")


def has_open_report(*, reporter: User, target_type: str, target: ReportTarget) -> bool:
    return Report.objects.filter(
        reporter=reporter, status=Report.Status.OPEN, **{f"target_{target_type}": target}
    ).exists()
