from django.contrib import admin
from django.db.models import QuerySet

from moderation import services as moderation_services
from spaces_project.refusals import for_each

from . import services
from .models import Recording


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_display = ("__str__", "host", "status", "duration_ms", "play_count", "created_at", "published_at")
    list_filter = ("status",)
    search_fields = ("room__title", "room__host__handle")
    list_select_related = ("room__host",)
    raw_id_fields = ("room",)
    # Recordings are made and published by the finalizing task; moderators remove them by action.
    readonly_fields = (
        "room",
        "status",
        "duration_ms",
        "play_count",
        "created_at",
        "published_at",
        "processing_started_at",
        "finalize_attempts",
        "finalized_at",
        "artwork_at",
        "size_bytes",
        "segment_count",
        "capture_notes",
        "failure_reason",
    )
    exclude = ("peaks", "turns")
    date_hierarchy = "created_at"
    actions = ["remove_recordings", "process_again"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="host", ordering="room__host__handle")
    def host(self, recording: Recording):
        return recording.room.host

    @admin.action(description="Remove the selected recordings", permissions=["change"])
    def remove_recordings(self, request, queryset: QuerySet[Recording]):
        def act(recording: Recording) -> str:
            moderation_services.moderation_remove_recording(moderator=request.user, recording=recording)
            return f"Removed the {recording}."

        for_each(request, queryset, act)

    @admin.action(description="Run the finalizing chain again (after a failure)", permissions=["change"])
    def process_again(self, request, queryset: QuerySet[Recording]):
        def act(recording: Recording) -> str:
            services.recording_retry(recording_id=recording.pk)
            return f"Processing the {recording} again."

        for_each(request, queryset, act)
