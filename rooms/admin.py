from django.contrib import admin, messages
from django.db.models import Count, QuerySet

from moderation import services as moderation_services
from spaces_project.errors import ServiceError

from .models import Participant, PinnedLink, Room, RoomTopic, Tag


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "room_count")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(room_count=Count("room_topics"))

    @admin.display(description="rooms", ordering="room_count")
    def room_count(self, tag: Tag) -> int:
        return tag.room_count


class RoomTopicInline(admin.TabularInline):
    model = RoomTopic
    extra = 0
    max_num = 3
    autocomplete_fields = ("tag",)


class ParticipantInline(admin.TabularInline):
    model = Participant
    extra = 0
    raw_id_fields = ("user",)
    fields = ("user", "role", "is_muted", "is_removed", "hand_raised_at", "joined_at")
    readonly_fields = ("hand_raised_at", "joined_at")
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


class PinnedLinkInline(admin.TabularInline):
    model = PinnedLink
    extra = 0
    fields = ("title", "url", "pinned_by", "created_at")
    raw_id_fields = ("pinned_by",)
    readonly_fields = ("created_at",)


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("title", "host", "state", "speaker_policy", "is_recorded", "started_at", "scheduled_for")
    list_filter = ("state", "speaker_policy", "is_recorded", "allow_anonymous")
    search_fields = ("title", "host__handle", "host__display_name")
    list_select_related = ("host",)
    raw_id_fields = ("host",)
    # The state and its times change only through the services (start, end, cancel).
    readonly_fields = ("state", "is_recorded", "scheduled_for", "started_at", "ended_at", "created_at")
    date_hierarchy = "created_at"
    inlines = [RoomTopicInline, PinnedLinkInline, ParticipantInline]
    actions = ["end_rooms"]

    def has_add_permission(self, request):
        # A room is opened by its host through the site, which checks they may host.
        return False

    @admin.action(description="End the selected live rooms", permissions=["change"])
    def end_rooms(self, request, queryset: QuerySet[Room]):
        for room in queryset:
            try:
                moderation_services.moderation_end_room(moderator=request.user, room=room)
            except ServiceError as error:
                messages.error(request, f"{room}: {error.message}")
            else:
                messages.success(request, f"Ended “{room}”.")


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ("user", "room", "role", "is_muted", "is_removed", "joined_at")
    list_filter = ("role", "is_removed")
    search_fields = ("user__handle", "room__title")
    raw_id_fields = ("user", "room")
    readonly_fields = ("joined_at", "updated_at", "hand_raised_at", "invited_to_speak_at")
    list_select_related = ("user", "room")
