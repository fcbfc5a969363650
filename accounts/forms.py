from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms
from django.conf import settings
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .models import User
from .services import user_set_language, user_set_time_zone, user_update_profile
from .timezones import is_time_zone, time_zone_choices
from .validators import validate_display_name


class SignupForm(AllauthSignupForm):
    """allauth's sign-up, with the handle labelled as such and a display name."""

    display_name = forms.CharField(
        max_length=50, required=False, label=gettext_lazy("Display name"), validators=[validate_display_name]
    )

    # The browser's IANA zone, filled by static/js/time-zone.js; without script (or a zone the server
    # does not know) the person stays in UTC until they choose on the account page.
    time_zone = forms.CharField(
        required=False, max_length=64, widget=forms.HiddenInput(attrs={"data-browser-time-zone": ""})
    )

    field_order = ["email", "username", "display_name", "password1", "password2"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].label = _("Handle")
        self.fields["username"].help_text = _("Your @handle: letters, digits and underscores.")
        self.fields["username"].widget.attrs["placeholder"] = _("handle")
        self.fields["display_name"].help_text = _("Shown above your @handle. You can change it later.")
        self.fields["display_name"].widget.attrs.setdefault("autocomplete", "name")
        self.order_fields(self.field_order)

    def custom_signup(self, request, user):
        user_update_profile(user=user, display_name=self.cleaned_data.get("display_name", ""), bio="")
        # The language they signed up in is their emails' and notices' (and their pages' elsewhere).
        if translation.get_language() in dict(settings.LANGUAGES):
            user_set_language(user=user, language=translation.get_language())
        guessed = self.cleaned_data.get("time_zone", "")
        if is_time_zone(guessed):
            user_set_time_zone(user=user, time_zone=guessed)


class ProfileForm(forms.Form):
    display_name = forms.CharField(
        max_length=User._meta.get_field("display_name").max_length,
        required=False,
        label=gettext_lazy("Display name"),
        validators=[validate_display_name],
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    bio = forms.CharField(
        max_length=User._meta.get_field("bio").max_length,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("A line or two about you, shown on your profile."),
    )
    # A plain FileField: the image itself is judged by the avatar service, not by the form.
    avatar = forms.FileField(
        required=False,
        label=gettext_lazy("New avatar"),
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png,image/gif,image/webp"}),
        help_text=gettext_lazy("JPEG, PNG, GIF or WebP. It is cropped to a square."),
    )
    remove_avatar = forms.BooleanField(required=False, label=gettext_lazy("Remove my avatar"))

    def clean_avatar(self):
        upload = self.cleaned_data.get("avatar")
        # Judge the size from the upload's metadata, before reading a byte of it into memory.
        if upload and upload.size > settings.AVATAR_MAX_BYTES:
            limit_mb = settings.AVATAR_MAX_BYTES // (1024 * 1024)
            raise forms.ValidationError(
                _("The image is too large: at most %(limit_mb)s MB.") % {"limit_mb": limit_mb},
                code="too_large",
            )
        return upload


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(
        label=gettext_lazy("Your time zone"),
        choices=time_zone_choices,
        help_text=gettext_lazy("Emails and notifications write times in it. Pages use your device's own."),
    )

    def __init__(self, *args, current: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if current and current not in dict(time_zone_choices()):
            # A name the browser gave at sign-up that the list does not show ("US/Eastern"): keep it.
            self.fields["time_zone"].choices = [(current, current), *time_zone_choices()]
        self.fields["time_zone"].initial = current


class DeleteAccountForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        error_messages={"required": gettext_lazy("Type your password to delete your account.")},
    )
    confirm = forms.BooleanField(
        label=gettext_lazy("I understand that this cannot be undone."),
        error_messages={
            "required": gettext_lazy("Tick this box to confirm that you want your account deleted.")
        },
    )


class NotificationSettingsForm(forms.Form):
    """Two switches per kind of notification: in the app, and by email."""

    def __init__(self, *args, preferences, **kwargs):
        super().__init__(*args, **kwargs)
        self.kinds = [(kind, label) for kind, label, _ in preferences]
        for kind, label, choice in preferences:
            self.fields[f"{kind}_in_app"] = forms.BooleanField(
                required=False, initial=choice.in_app, label=_("%(label)s: in the app") % {"label": label}
            )
            self.fields[f"{kind}_email"] = forms.BooleanField(
                required=False, initial=choice.email, label=_("%(label)s: by email") % {"label": label}
            )

    def rows(self) -> list[tuple[str, forms.BoundField, forms.BoundField]]:
        return [(label, self[f"{kind}_in_app"], self[f"{kind}_email"]) for kind, label in self.kinds]

    def choices(self) -> dict[str, tuple[bool, bool]]:
        return {
            kind: (self.cleaned_data[f"{kind}_in_app"], self.cleaned_data[f"{kind}_email"])
            for kind, _ in self.kinds
        }


# The admin's forms for the user model (its admin is registered by moderation/admin/people.py, whose
# actions suspend people): handles and email addresses are unique ignoring case, as at sign-up.
class _UniqueIgnoringCase:
    def _clean_unique_ci(self, name: str, refusal: str) -> str:
        """`refusal` is the whole translated sentence, one msgid per field."""
        value = self.cleaned_data.get(name, "")
        others = User.objects.filter(**{f"{name}__iexact": value})
        if self.instance.pk:
            others = others.exclude(pk=self.instance.pk)
        if value and others.exists():
            raise forms.ValidationError(refusal)
        return value

    def clean_handle(self) -> str:
        return self._clean_unique_ci("handle", _("A user with that handle already exists."))

    def clean_email(self) -> str:
        return self._clean_unique_ci("email", _("A user with that email address already exists."))


class SpacesUserCreationForm(_UniqueIgnoringCase, AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("handle", "email", "display_name")


class SpacesUserChangeForm(_UniqueIgnoringCase, UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
