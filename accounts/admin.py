from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from moderation import services as moderation_services
from moderation.admin import suspend_with_reason
from spaces_project.refusals import for_each

from .models import Block, Follow, Notification, User

# What only an administrator may change: who is staff and what they may do. Moderators hold
# "change user" to fix a profile, which must not let them promote themselves.
ADMIN_ONLY_FIELDS = ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")
ALWAYS_READONLY = (
    "last_login",
    "date_joined",
    "is_suspended",
    "suspended_at",
    "avatar_64",
    "avatar_128",
    "avatar_256",
)


class _UniqueIgnoringCase:
    def _clean_unique_ci(self, name: str, label: str) -> str:
        value = self.cleaned_data.get(name, "")
        others = User.objects.filter(**{f"{name}__iexact": value})
        if self.instance.pk:
            others = others.exclude(pk=self.instance.pk)
        if value and others.exists():
            raise forms.ValidationError(f"A user with that {label} already exists.")
        return value

    def clean_handle(self) -> str:
        return self._clean_unique_ci("handle", "handle")

    def clean_email(self) -> str:
        return self._clean_unique_ci("email", "email address")


class SpacesUserCreationForm(_UniqueIgnoringCase, AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("handle", "email", "display_name")


class SpacesUserChangeForm(_UniqueIgnoringCase, UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = SpacesUserChangeForm
    add_form = SpacesUserCreationForm
    fieldsets = (
        (None, {"fields": ("handle", "email", "password")}),
        ("Profile", {"fields": ("display_name", "bio", "avatar_64", "avatar_128", "avatar_256")}),
        ("Moderation", {"fields": ("is_suspended", "suspended_at")}),
        ("Permissions", {"fields": ADMIN_ONLY_FIELDS}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("handle", "email", "display_name", "usable_password", "password1", "password2"),
            },
        ),
    )
    list_display = ("handle", "email", "display_name", "is_suspended", "is_staff", "is_active", "date_joined")
    list_filter = ("is_suspended", "is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("handle", "email", "display_name")
    ordering = ("handle",)
    date_hierarchy = "date_joined"
    actions = ["suspend_users", "unsuspend_users"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if request.user.is_superuser:
            return ALWAYS_READONLY
        return ALWAYS_READONLY + ADMIN_ONLY_FIELDS

    def has_change_permission(self, request, obj=None):
        # Staff accounts are an administrator's business; moderators may only view them.
        if obj is not None and (obj.is_staff or obj.is_superuser) and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def user_change_password(self, request, id, form_url=""):
        # Setting someone else's password is taking over their account: administrators only.
        if not request.user.is_superuser:
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    @admin.action(
        description="Suspend the selected users (no sign-in, sockets closed, live rooms ended)",
        permissions=["change"],
    )
    def suspend_users(self, request, queryset: QuerySet[User]):
        return suspend_with_reason(
            self, request, queryset, action="suspend_users", person_of=lambda u: u, report_of=lambda u: None
        )

    @admin.action(description="Lift the suspension of the selected users", permissions=["change"])
    def unsuspend_users(self, request, queryset: QuerySet[User]):
        def act(user: User) -> str:
            moderation_services.moderation_unsuspend_user(moderator=request.user, user=user)
            return f"Lifted the suspension of {user}."

        for_each(request, queryset, act)


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
