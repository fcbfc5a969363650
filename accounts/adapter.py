"""django-allauth's hooks: a suspended account cannot sign in."""

from allauth.account.adapter import DefaultAccountAdapter
from django.contrib import messages
from django.shortcuts import redirect


class AccountAdapter(DefaultAccountAdapter):
    def pre_login(self, request, user, **kwargs):
        # Suspension is decided in one place (accounts.services.user_suspend); this reads its flag.
        if getattr(user, "is_suspended", False):
            from allauth.account.internal.stagekit import clear_login

            clear_login(request)
            messages.error(request, "Your account is suspended.")
            return redirect("account_login")
        return super().pre_login(request, user, **kwargs)
