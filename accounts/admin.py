"""The admin of accounts' models: follows, blocks, notifications. The user model's admin, whose
actions suspend and lift suspensions, is moderation's (moderation/admin/people.py)."""

from django.contrib import admin

from .models import Block, Follow, Notification


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ("follower", "followee", "created_at")
    search_fields = ("follower__handle", "followee__handle")
    raw_id_fields = ("follower", "followee")
    readonly_fields = ("created_at",)
    list_select_related = ("follower", "followee")
    date_hierarchy = "created_at"


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ("blocker", "blocked", "created_at")
    search_fields = ("blocker__handle", "blocked__handle")
    raw_id_fields = ("blocker", "blocked")
    readonly_fields = ("created_at",)
    list_select_related = ("blocker", "blocked")
    date_hierarchy = "created_at"


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("recipient", "kind", "text", "created_at", "read_at")
    list_filter = ("kind", ("read_at", admin.EmptyFieldListFilter))
    search_fields = ("recipient__handle", "text")
    raw_id_fields = ("recipient", "actor", "room")
    readonly_fields = ("created_at",)
    list_select_related = ("recipient",)
    date_hierarchy = "created_at"
