"""Recordings, their transcripts and clips, in Django admin: made by the finalizing and clip tasks,
read here, removed by moderators through moderation's services (the finalizing chain run again through
recordings')."""

from django.contrib import admin
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from recordings import services
from recordings.models import Clip, Recording, Transcript, TranscriptLine
from spaces_project.refusals import for_each

from .. import services as moderation_services


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
        # The host's switches (services.clips, .podcast): moderators see them, only the host changes them.
        "clips_enabled",
        "podcast_published_at",
    )
    exclude = ("peaks", "turns")
    date_hierarchy = "created_at"
    actions = ["remove_recordings", "process_again"]

    def has_add_permission(self, request):
        return False

    @admin.display(description=gettext_lazy("host"), ordering="room__host__handle")
    def host(self, recording: Recording):
        return recording.room.host

    @admin.action(description=gettext_lazy("Remove the selected recordings"), permissions=["change"])
    def remove_recordings(self, request, queryset: QuerySet[Recording]):
        def act(recording: Recording) -> str:
            moderation_services.moderation_remove_recording(moderator=request.user, recording=recording)
            return _("Removed the recording of %(room)s.") % {"room": recording.room}

        for_each(request, queryset, act)

    @admin.action(
        description=gettext_lazy("Run the finalizing chain again (after a failure)"), permissions=["change"]
    )
    def process_again(self, request, queryset: QuerySet[Recording]):
        def act(recording: Recording) -> str:
            services.recording_retry(recording_id=recording.pk)
            return _("Processing the recording of %(room)s again.") % {"room": recording.room}

        for_each(request, queryset, act)


class TranscriptLineInline(admin.TabularInline):
    model = TranscriptLine
    fields = ("start_ms", "end_ms", "speaker_name", "text", "edited_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Transcript)
class TranscriptAdmin(admin.ModelAdmin):
    """Moderators read transcripts and remove them by action; only the host corrects lines."""

    list_display = ("__str__", "status", "source", "engine", "created_at", "ready_at")
    list_filter = ("status", "source")
    search_fields = ("recording__room__title", "recording__room__host__handle", "lines__text")
    list_select_related = ("recording__room",)
    readonly_fields = ("recording", "status", "source", "engine", "live_complete", "created_at", "ready_at")
    inlines = [TranscriptLineInline]
    actions = ["remove_transcripts"]

    def has_add_permission(self, request):
        return False

    def get_search_results(self, request, queryset, search_term):
        queryset, _ = super().get_search_results(request, queryset, search_term)
        return queryset.distinct(), False

    @admin.action(description=gettext_lazy("Remove the selected transcripts"), permissions=["change"])
    def remove_transcripts(self, request, queryset: QuerySet[Transcript]):
        def act(transcript: Transcript) -> str:
            moderation_services.moderation_remove_transcript(moderator=request.user, transcript=transcript)
            return _("Removed the transcript of %(room)s.") % {"room": transcript.recording.room}

        for_each(request, queryset, act)


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
    """Clips are made by people and cut by a task; moderators read them and remove them by action."""

    list_display = ("__str__", "title", "created_by", "status", "source", "duration_ms", "created_at")
    list_filter = ("status", "source")
    search_fields = ("title", "created_by__handle", "recording__room__title", "caption_text")
    list_select_related = ("recording__room", "created_by")
    readonly_fields = (
        "recording",
        "created_by",
        "title",
        "source",
        "status",
        "start_ms",
        "end_ms",
        "duration_ms",
        "size_bytes",
        "speakers",
        "caption_text",
        "failure_reason",
        "created_at",
        "ready_at",
    )
    exclude = ("peaks",)
    actions = ["remove_clips"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=gettext_lazy("Remove the selected clips"), permissions=["change"])
    def remove_clips(self, request, queryset: QuerySet[Clip]):
        def act(clip: Clip) -> str:
            moderation_services.moderation_remove_clip(moderator=request.user, clip=clip)
            return _("Removed clip #%(number)s of %(room)s.") % {
                "number": clip.pk,
                "room": clip.recording.room,
            }

        for_each(request, queryset, act)
