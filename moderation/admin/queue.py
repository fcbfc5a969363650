"""The report queue and the audit log, and the suspend page the queue and the people list share."""

from collections.abc import Callable

from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from spaces_project.errors import ServiceError
from spaces_project.refusals import for_each

from .. import selectors, services
from ..models import AuditLogEntry, Report


class AuditLogInline(admin.TabularInline):
    model = AuditLogEntry
    fields = ("created_at", "actor", "action", "target_repr", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = gettext_lazy("what moderators did")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"


class SuspendForm(forms.Form):
    """What a moderator tells a person they suspend: shown to them when sign-in is refused."""

    reason = forms.CharField(max_length=300, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))
    until = forms.DateTimeField(
        label=gettext_lazy("Until (UTC, optional)"),
        required=False,
        help_text=gettext_lazy(
            "Leave empty to suspend until a moderator lifts it. Format: 2026-12-31 18:00."
        ),
        widget=DateTimeLocalInput(format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    """The queue: reports of one target together, the target whose oldest open report is oldest first."""

    list_display = (
        "id",
        "target_type",
        "target_link",
        "open_on_target",
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
        "target_clip__title",
    )
    list_select_related = (
        "reporter",
        "assignee",
        "target_room",
        "target_user",
        "target_recording__room",
        "target_clip__recording__room",
        "target_question",
    )
    raw_id_fields = (
        "reporter",
        "assignee",
        "target_room",
        "target_user",
        "target_recording",
        "target_clip",
        "target_question",
    )
    # Reports change only through the actions below, so each change is audited.
    readonly_fields = (
        "target_type",
        "target_link",
        "target_summary",
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
        "lift_suspension_of_reported_user",
        "remove_reported_recording",
        "remove_reported_clip",
        "remove_reported_question",
    ]

    def get_queryset(self, request):
        # Not super(): it orders by get_ordering() before the queue's annotations exist.
        return selectors.report_queue(self.model._default_manager.get_queryset())

    def get_ordering(self, request):
        # The queue's own order (selectors.report_queue); a column header still sorts by that column.
        return selectors.REPORT_QUEUE_ORDER

    @admin.display(description=gettext_lazy("open on target"), ordering="target_open")
    def open_on_target(self, report: Report):
        return getattr(report, "target_open", 0)

    @admin.display(description=gettext_lazy("what was reported"))
    def target_summary(self, report: Report):
        return render_to_string(
            "admin/moderation/report_target.html", selectors.report_target_summary(report=report)
        )

    def has_add_permission(self, request):
        # Reports come from the people using the site, through the report form.
        return False

    @admin.display(description=gettext_lazy("reported"))
    def target_link(self, report: Report):
        target = report.target
        if target is None:
            return "—"
        opts = target._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[target.pk])
        return format_html('<a href="{}">{}</a>', url, target)

    def _each(self, request, queryset: QuerySet[Report], act: Callable[[Report], str]) -> None:
        """Run `act` on each selected report; one refusal does not stop the others."""
        for_each(request, queryset, act, label=_report_label)

    @admin.action(description=gettext_lazy("Assign to me"), permissions=["change"])
    def assign_to_me(self, request, queryset):
        def act(report):
            services.report_assign(moderator=request.user, report=report)
            return _("assigned to you.")

        self._each(request, queryset, act)

    @admin.action(description=gettext_lazy("Resolve"), permissions=["change"])
    def resolve(self, request, queryset):
        def act(report):
            services.report_resolve(moderator=request.user, report=report)
            return _("resolved.")

        self._each(request, queryset, act)

    @admin.action(description=gettext_lazy("Dismiss"), permissions=["change"])
    def dismiss(self, request, queryset):
        def act(report):
            services.report_dismiss(moderator=request.user, report=report)
            return _("dismissed.")

        self._each(request, queryset, act)

    @admin.action(description=gettext_lazy("End the reported live room"), permissions=["change"])
    def end_reported_room(self, request, queryset):
        def act(report):
            if report.target_room is None:
                raise ServiceError("not_a_room", _("this report is not about a room."))
            room = services.moderation_end_room(
                moderator=request.user, room=report.target_room, report=report
            )
            return _("ended “%(room)s”.") % {"room": room}

        self._each(request, queryset, act)

    @admin.action(
        description=gettext_lazy("Suspend the reported person (or the reported room's or recording's host)…"),
        permissions=["change"],
    )
    def suspend_reported_user(self, request, queryset):
        """Ask for the reason and the end date first (an intermediate page), then suspend."""
        queryset = queryset.select_related(
            "target_user", "target_room__host", "target_recording__room__host", "target_clip__created_by"
        )
        return suspend_with_reason(
            self,
            request,
            queryset,
            action="suspend_reported_user",
            person_of=_reported_person,
            report_of=lambda r: r,
        )

    @admin.action(
        description=gettext_lazy("Lift the suspension of the reported person"), permissions=["change"]
    )
    def lift_suspension_of_reported_user(self, request, queryset):
        def act(report):
            user = services.moderation_unsuspend_user(moderator=request.user, user=_reported_person(report))
            return _("lifted the suspension of %(user)s.") % {"user": user}

        self._each(
            request,
            queryset.select_related(
                "target_user", "target_room__host", "target_recording__room__host", "target_clip__created_by"
            ),
            act,
        )

    @admin.action(description=gettext_lazy("Remove the reported recording"), permissions=["change"])
    def remove_reported_recording(self, request, queryset):
        def act(report):
            if report.target_recording is None:
                raise ServiceError("not_a_recording", _("this report is not about a recording."))
            services.moderation_remove_recording(
                moderator=request.user, recording=report.target_recording, report=report
            )
            return _("removed the recording of %(room)s.") % {"room": report.target_recording.room}

        self._each(request, queryset, act)

    @admin.action(description=gettext_lazy("Remove the reported clip"), permissions=["change"])
    def remove_reported_clip(self, request, queryset):
        def act(report):
            if report.target_clip is None:
                raise ServiceError("not_a_clip", _("this report is not about a clip."))
            clip = services.moderation_remove_clip(
                moderator=request.user, clip=report.target_clip, report=report
            )
            return _("removed clip #%(number)s of %(room)s.") % {
                "number": clip.pk,
                "room": clip.recording.room,
            }

        self._each(request, queryset, act)

    @admin.action(description=gettext_lazy("Remove the reported question"), permissions=["change"])
    def remove_reported_question(self, request, queryset):
        def act(report):
            if report.target_question is None:
                raise ServiceError("not_a_question", _("this report is not about a question."))
            services.moderation_remove_question(
                moderator=request.user, question=report.target_question, report=report
            )
            return _("removed the question.")

        self._each(request, queryset, act)


def _report_label(report: Report) -> str:
    return _("Report #%(number)s") % {"number": report.pk}


def suspend_with_reason(modeladmin, request, queryset, *, action: str, person_of, report_of):
    """The suspend action of the queue and of the people list: an intermediate page asks for the reason
    and an optional end date; its submission suspends each selected person through the service."""
    form = SuspendForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():

        def act(obj) -> str:
            user = services.moderation_suspend_user(
                moderator=request.user,
                user=person_of(obj),
                report=report_of(obj),
                reason=form.cleaned_data["reason"],
                until=form.cleaned_data["until"],
            )
            return _("suspended %(user)s.") % {"user": user}

        for_each(
            request,
            queryset,
            act,
            label=lambda obj: _report_label(obj) if isinstance(obj, Report) else str(obj),
        )
        return None
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Suspend",
        "form": form,
        "objects": queryset,
        "reports": [report_of(obj) for obj in queryset if report_of(obj) is not None],
        "people": sorted({str(person_of(obj)) for obj in queryset}),
        "action": action,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "opts": opts,
        "cancel_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
    }
    return TemplateResponse(request, "admin/moderation/suspend.html", context)


def _reported_person(report: Report):
    if report.target_user is not None:
        return report.target_user
    if report.target_room is not None:
        return report.target_room.host
    if report.target_clip is not None:
        # The clip's maker: what a clip says is the room's, but choosing it is theirs.
        return report.target_clip.created_by
    if report.target_question is not None:
        return report.target_question.asker
    return report.target_recording.room.host


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

    @admin.display(description=gettext_lazy("report"), ordering="report_id")
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
