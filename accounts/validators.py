import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .timezones import is_time_zone

HANDLE_PATTERN = r"^[A-Za-z0-9_]{2,30}$"

handle_validators = [
    RegexValidator(
        HANDLE_PATTERN,
        gettext_lazy("A handle is 2 to 30 letters, digits or underscores."),
        code="invalid_handle",
    )
]

# Bidirectional embeddings, overrides and isolates: invisible, and they make a name read as another.
_BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def is_control_character(char: str) -> bool:
    """Line breaks, tabs, C0/C1 controls, Unicode line and paragraph separators, bidi controls.

    Format characters that emoji need (the zero-width joiner of 👩‍💻) are not control characters.
    """
    return unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI_CONTROLS


def validate_display_name(value: str) -> None:
    """A display name is one line of visible text: it goes into page titles and email headers."""
    if any(is_control_character(char) for char in value):
        raise ValidationError(
            _("A display name cannot contain line breaks, tabs or other control characters."),
            code="control_characters",
        )


def one_line(text: str) -> str:
    """`text` with every control character turned into a space and runs of spaces collapsed."""
    return " ".join("".join(" " if is_control_character(c) else c for c in text).split())


def validate_time_zone(value: str) -> None:
    """An IANA time zone name the server knows ("Europe/Paris")."""
    if not is_time_zone(value):
        raise ValidationError(_("Choose a time zone from the list."), code="bad_time_zone")
