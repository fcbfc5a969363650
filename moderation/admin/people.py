"""The people list: the user model's admin, whose actions suspend people and lift suspensions through
moderation's services (its forms, handles and addresses unique ignoring case, are accounts')."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.forms import SpacesUserChangeForm, SpacesUserCreationForm
from accounts.models import User
from spaces_project.refusals import for_each

from .. import services
from .queue import suspend_with_reason

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


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = SpacesUserChangeForm
    add_form = SpacesUserCreationForm
    fieldsets = (
        (None, {"fields": ("handle", "email", "password")}),
        (
            gettext_lazy("Profile"),
            {"fields": ("display_name", "bio", "avatar_64", "avatar_128", "avatar_256")},
        ),
        (gettext_lazy("Moderation"), {"fields": ("is_suspended", "suspended_at")}),
        (gettext_lazy("Permissions"), {"fields": ADMIN_ONLY_FIELDS}),
        (gettext_lazy("Important dates"), {"fields": ("last_login", "date_joined")}),
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
        description=gettext_lazy("Suspend the selected users (no sign-in, sockets closed, live rooms ended)"),
        permissions=["change"],
    )
    def suspend_users(self, request, queryset: QuerySet[User]):
        return suspend_with_reason(
            self, request, queryset, action="suspend_users", person_of=lambda u: u, report_of=lambda u: None
        )

    @admin.action(
        description=gettext_lazy("Lift the suspension of the selected users"), permissions=["change"]
    )
    def unsuspend_users(self, request, queryset: QuerySet[User]):
        def act(user: User) -> str:
            services.moderation_unsuspend_user(moderator=request.user, user=user)
            return _("Lifted the suspension of %(user)s.") % {"user": user}

        for_each(request, queryset, act)
