from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms

from .services import user_update_profile


class SignupForm(AllauthSignupForm):
    """allauth's sign-up, with the handle labelled as such and a display name."""

    display_name = forms.CharField(max_length=50, required=False, label="Display name")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "Handle"
        self.fields["username"].help_text = "Your @handle: letters, digits and underscores."
        self.fields["username"].widget.attrs["placeholder"] = "handle"

    def custom_signup(self, request, user):
        user_update_profile(user=user, display_name=self.cleaned_data.get("display_name", ""), bio="")
