"""moderation's part of a person's data archive (accounts/export.py): the reports they filed.
Reports about them, and what moderators did, are left out with the reasons below. ModerationConfig.ready
registers this section."""

import zipfile

from django.utils.translation import gettext_noop

from accounts.export import Section, iso, register, write_json
from accounts.models import User

from .models import Report


def write_reports(archive: zipfile.ZipFile, user: User) -> None:
    write_json(
        archive,
        "reports_filed.json",
        [
            {
                "target": f"{r.target_type} {r.target}",
                "reason": r.reason,
                "note": r.note,
                "status": r.status,
                "filed_at": iso(r.created_at),
            }
            for r in Report.objects.filter(reporter=user).select_related(
                "target_room", "target_user", "target_recording__room"
            )
        ],
    )


_REPORTS_ABOUT = "Reports are the moderators' record, and would name who filed them."

SECTIONS = (
    Section(
        gettext_noop("Reports you filed"),
        write_reports,
        {"moderation.Report.reporter": "reports_filed.json"},
        {"reports_filed.json": gettext_noop("the reports you filed")},
    ),
)

NOT_EXPORTED = {
    "moderation.Report.target_user": _REPORTS_ABOUT,
    "moderation.Report.target_room__host": _REPORTS_ABOUT,
    "moderation.Report.target_recording__room__host": _REPORTS_ABOUT,
    "moderation.Report.target_question__asker": _REPORTS_ABOUT,
    "moderation.Report.target_clip__created_by": _REPORTS_ABOUT,
    "moderation.Report.assignee": "The queue a moderator works through: staff work, not the person's data.",
    "moderation.AuditLogEntry.report__reporter": "What moderators did about a report is their record; the report is exported.",
    "moderation.AuditLogEntry.actor": "The log of what a moderator did, kept for accountability: staff work.",
}


def register_sections() -> None:
    """Add this section to the archive (ModerationConfig.ready)."""
    register(*SECTIONS, not_exported=NOT_EXPORTED)
