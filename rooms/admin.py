"""Rooms' models in Django admin: topics, questions and tickets, and the read-only inlines of a room's
page. The rooms and participants lists are moderation's (moderation/admin/rooms.py): their actions
call moderation's services."""

from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy

from .models import Participant, PinnedLink, Question, RoomTopic, Tag, Ticket


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "room_count")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(room_count=Count("room_topics"))

    @admin.display(description=gettext_lazy("rooms"), ordering="room_count")
    def room_count(self, tag: Tag) -> int:
        return tag.room_count


class RoomTopicInline(admin.TabularInline):
    model = RoomTopic
    extra = 0
    max_num = 3
    autocomplete_fields = ("tag",)


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ParticipantInline(_ReadOnlyInline):
    model = Participant
    fields = ("user", "role", "is_muted", "is_removed", "hand_raised_at", "joined_at")
    readonly_fields = fields
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


class PinnedLinkInline(_ReadOnlyInline):
    model = PinnedLink
    fields = ("title", "url", "pinned_by", "created_at")
    readonly_fields = fields


class QuestionInline(_ReadOnlyInline):
    """The Q&A queue; a reported question is taken down from the report (moderation)."""

    model = Question
    fields = ("text", "asker", "state", "vote_count", "created_at", "answered_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("asker")


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    """Questions are read here; the host removes them in the room, a moderator from the report."""

    list_display = ("text", "room", "asker", "state", "vote_count", "created_at")
    list_filter = ("state",)
    search_fields = ("text", "asker__handle", "room__title")
    list_select_related = ("room", "asker")
    fields = ("room", "asker", "text", "state", "vote_count", "created_at", "answered_at", "closed_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    """Tickets for support, read-only: money moves only through rooms/services/tickets.py (a refund here
    would skip the provider)."""

    list_display = (
        "pk",
        "room",
        "buyer",
        "status",
        "amount",
        "currency",
        "provider",
        "created_at",
        "paid_at",
    )
    list_filter = ("status", "provider")
    search_fields = ("buyer__handle", "room__title", "checkout_id", "payment_id")
    list_select_related = ("room", "buyer")
    readonly_fields = [field.name for field in Ticket._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
