"""Rooms and the people in them, in Django admin. What the services own (a room's state, host, who may
speak and times; who is on stage, muted or removed; pinned links) is read-only here: moderators change
it through the actions, which call moderation's services, so the room's sockets hear about it like any
other change. The inlines of a room's page are rooms' (rooms/admin.py)."""

from django.contrib import admin
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from rooms.admin import ParticipantInline, PinnedLinkInline, QuestionInline, RoomTopicInline
from rooms.models import Participant, Room
from spaces_project.refusals import for_each

from .. import services as moderation_services


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("title", "host", "state", "speaker_policy", "is_recorded", "started_at", "scheduled_for")
    list_filter = ("state", "speaker_policy", "is_recorded", "allow_anonymous")
    search_fields = ("title", "host__handle", "host__display_name")
    list_select_related = ("host",)
    # Only the title and the description (and topics) may be corrected here; the rest belongs to the
    # services: start, end, cancel, who may speak, the record switch.
    readonly_fields = (
        "host",
        "state",
        "speaker_policy",
        "is_recorded",
        "allow_anonymous",
        "qa_enabled",
        "backstage_opened_at",
        "large_audience",
        "scheduled_for",
        "started_at",
        "ended_at",
        "created_at",
    )
    date_hierarchy = "created_at"
    inlines = [RoomTopicInline, PinnedLinkInline, ParticipantInline, QuestionInline]
    actions = ["end_rooms", "unpin_links"]

    def has_add_permission(self, request):
        # A room is opened by its host through the site, which checks they may host.
        return False

    @admin.action(description=gettext_lazy("End the selected live rooms"), permissions=["change"])
    def end_rooms(self, request, queryset: QuerySet[Room]):
        def act(room: Room) -> str:
            moderation_services.moderation_end_room(moderator=request.user, room=room)
            return _("ended.")

        for_each(request, queryset, act, label=str)

    @admin.action(
        description=gettext_lazy("Unpin every link of the selected live rooms"), permissions=["change"]
    )
    def unpin_links(self, request, queryset: QuerySet[Room]):
        def act(room: Room) -> str:
            count = moderation_services.moderation_unpin_links(moderator=request.user, room=room)
            return ngettext("%(count)s link unpinned.", "%(count)s links unpinned.", count) % {"count": count}

        for_each(request, queryset, act, label=str)


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ("user", "room", "role", "is_muted", "is_removed", "joined_at")
    list_filter = ("role", "is_removed")
    search_fields = ("user__handle", "room__title")
    list_select_related = ("user", "room")
    fields = (
        "user",
        "room",
        "role",
        "is_muted",
        "is_removed",
        "hand_raised_at",
        "invited_to_speak_at",
        "joined_at",
        "updated_at",
    )
    # Every field is the live room's: change them through the actions.
    readonly_fields = fields
    actions = ["mute", "move_to_audience", "remove_from_room"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _each(self, request, queryset, service, done: str) -> None:
        def act(participant: Participant) -> str:
            service(moderator=request.user, participant=participant)
            return done

        for_each(
            request,
            queryset.select_related("user", "room"),
            act,
            label=lambda p: _("%(user)s in “%(room)s”") % {"user": p.user, "room": p.room},
        )

    @admin.action(description=gettext_lazy("Mute on stage"), permissions=["change"])
    def mute(self, request, queryset: QuerySet[Participant]):
        self._each(request, queryset, moderation_services.moderation_mute_participant, _("muted."))

    @admin.action(description=gettext_lazy("Move back to the audience"), permissions=["change"])
    def move_to_audience(self, request, queryset: QuerySet[Participant]):
        self._each(
            request, queryset, moderation_services.moderation_move_to_audience, _("moved to the audience.")
        )

    @admin.action(
        description=gettext_lazy("Remove from the room (they cannot come back)"), permissions=["change"]
    )
    def remove_from_room(self, request, queryset: QuerySet[Participant]):
        self._each(request, queryset, moderation_services.moderation_remove_participant, _("removed."))
