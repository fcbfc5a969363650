"""django-allauth's hooks: a suspended account cannot sign in; signing out of a browser turns push
off for the devices turned on in it."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.stagekit import clear_login
from django.contrib import messages
from django.shortcuts import redirect

from .languages import remember_language
from .selectors import suspension_message
from .services import push_subscriptions_sign_out, user_lift_suspension_if_over, user_password_changed
from .services.push import SESSION_ENDPOINTS


class AccountAdapter(DefaultAccountAdapter):
    def pre_login(self, request, user, **kwargs):
        # Suspension is decided in one place (accounts.services.user_suspend); this reads its flag.
        if getattr(user, "is_suspended", False) and not user_lift_suspension_if_over(user=user):
            clear_login(request)
            messages.error(request, suspension_message(user=user))
            return redirect("account_login")
        return super().pre_login(request, user, **kwargs)

    def post_login(self, request, user, **kwargs):
        # The language the person chose on their account is this browser's from now on.
        response = super().post_login(request, user, **kwargs)
        if getattr(user, "language", ""):
            remember_language(response, user.language)
        return response

    def set_password(self, user, password: str) -> None:
        # Password change and reset both come through here: the person's other sessions stop
        # matching the new auth hash, and their open sockets close (accounts.services).
        super().set_password(user, password)
        user_password_changed(user=user)

    def logout(self, request) -> None:
        # A shared phone: whoever signs in next must not get this person's notices. The page also
        # unsubscribes the browser itself (static/js/sw-register.js) before the form is sent.
        push_subscriptions_sign_out(user=request.user, endpoints=request.session.get(SESSION_ENDPOINTS))
        super().logout(request)
