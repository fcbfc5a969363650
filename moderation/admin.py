"""The report queue and the audit log. Every action goes through moderation.services."""

from collections.abc import Callable

from django.contrib import admin
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.html import format_html

from spaces_project.errors import ServiceError
from spaces_project.refusals import for_each

from . import services
from .models import AuditLogEntry, Report


class AuditLogInline(admin.TabularInline):
    model = AuditLogEntry
    fields = ("created_at", "actor", "action", "target_repr", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "what moderators did"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "target_type",
        "target_link",
        "reason",
        "reporter",
        "status",
        "assignee",
        "created_at",
    )
    list_display_links = ("id",)
    list_filter = (
        "status",
        "reason",
        "target_type",
        ("assignee", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = (
        "note",
        "reporter__handle",
        "target_user__handle",
        "target_room__title",
        "target_room__host__handle",
        "target_recording__room__title",
    )
    list_select_related = ("reporter", "assignee", "target_room", "target_user", "target_recording__room")
    raw_id_fields = ("reporter", "assignee", "target_room", "target_user", "target_recording")
    # Reports change only through the actions below, so each change is audited.
    readonly_fields = (
        "target_type",
        "target_link",
        "reason",
        "note",
        "reporter",
        "status",
        "assignee",
        "resolution_note",
        "created_at",
        "updated_at",
        "closed_at",
    )
    fields = readonly_fields
    date_hierarchy = "created_at"
    inlines = [AuditLogInline]
    actions = [
        "assign_to_me",
        "resolve",
        "dismiss",
        "end_reported_room",
        "suspend_reported_user",
        "remove_reported_recording",
    ]

    def has_add_permission(self, request):
        # Reports come from the people using the site, through the report form.
        return False

    @admin.display(description="reported")
    def target_link(self, report: Report):
        target = report.target
        if target is None:
            return "—"
        opts = target._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[target.pk])
        return format_html('<a href="{}">{}</a>', url, target)

    def _each(self, request, queryset: QuerySet[Report], act: Callable[[Report], str]) -> None:
        """Run `act` on each selected report; one refusal does not stop the others."""
        for_each(request, queryset, act, label=lambda report: f"Report #{report.pk}")

    @admin.action(description="Assign to me", permissions=["change"])
    def assign_to_me(self, request, queryset):
        def act(report):
            services.report_assign(moderator=request.user, report=report)
            return "assigned to you."

        self._each(request, queryset, act)

    @admin.action(description="Resolve", permissions=["change"])
    def resolve(self, request, queryset):
        def act(report):
            services.report_resolve(moderator=request.user, report=report)
            return "resolved."

        self._each(request, queryset, act)

    @admin.action(description="Dismiss", permissions=["change"])
    def dismiss(self, request, queryset):
        def act(report):
            services.report_dismiss(moderator=request.user, report=report)
            return "dismissed."

        self._each(request, queryset, act)

    @admin.action(description="End the reported live room", permissions=["change"])
    def end_reported_room(self, request, queryset):
        def act(report):
            if report.target_room is None:
                raise ServiceError("not_a_room", "this report is not about a room.")
            room = services.moderation_end_room(
                moderator=request.user, room=report.target_room, report=report
            )
            return f"ended “{room}”."

        self._each(request, queryset, act)

    @admin.action(
        description="Suspend the reported user (or the reported room's host)", permissions=["change"]
    )
    def suspend_reported_user(self, request, queryset):
        def act(report):
            if report.target_user is not None:
                person = report.target_user
            elif report.target_room is not None:
                person = report.target_room.host
            else:
                person = report.target_recording.room.host
            user = services.moderation_suspend_user(moderator=request.user, user=person, report=report)
            return f"suspended {user}."

        self._each(request, queryset.select_related("target_room__host", "target_recording__room__host"), act)

    @admin.action(description="Remove the reported recording", permissions=["change"])
    def remove_reported_recording(self, request, queryset):
        def act(report):
            if report.target_recording is None:
                raise ServiceError("not_a_recording", "this report is not about a recording.")
            services.moderation_remove_recording(
                moderator=request.user, recording=report.target_recording, report=report
            )
            return f"removed the {report.target_recording}."

        self._each(request, queryset, act)


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(admin.ModelAdmin):
    """The audit log is written by the services only and never edited, not even by a superuser."""

    list_display = ("created_at", "actor", "action", "target_repr", "report_number")
    list_filter = ("action", ("actor", admin.RelatedOnlyFieldListFilter))
    search_fields = ("target_repr", "detail", "actor__handle")
    list_select_related = ("actor",)
    date_hierarchy = "created_at"
    fields = ("created_at", "actor", "action", "target_repr", "report", "detail")
    readonly_fields = fields

    @admin.display(description="report", ordering="report_id")
    def report_number(self, entry: AuditLogEntry):
        if entry.report_id is None:
            return "—"
        url = reverse("admin:moderation_report_change", args=[entry.report_id])
        return format_html('<a href="{}">#{}</a>', url, entry.report_id)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
