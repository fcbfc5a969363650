"""django-allauth's hooks: a suspended account cannot sign in."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.stagekit import clear_login
from django.contrib import messages
from django.shortcuts import redirect

from .selectors import suspension_message
from .services import user_lift_suspension_if_over, user_password_changed


class AccountAdapter(DefaultAccountAdapter):
    def pre_login(self, request, user, **kwargs):
        # Suspension is decided in one place (accounts.services.user_suspend); this reads its flag.
        if getattr(user, "is_suspended", False) and not user_lift_suspension_if_over(user=user):
            clear_login(request)
            messages.error(request, suspension_message(user=user))
            return redirect("account_login")
        return super().pre_login(request, user, **kwargs)

    def set_password(self, user, password: str) -> None:
        # Password change and reset both come through here: the person's other sessions stop
        # matching the new auth hash, and their open sockets close (accounts.services).
        super().set_password(user, password)
        user_password_changed(user=user)
