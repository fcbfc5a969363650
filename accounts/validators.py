from django.core.validators import RegexValidator

HANDLE_PATTERN = r"^[A-Za-z0-9_]{2,30}$"

handle_validators = [
    RegexValidator(
        HANDLE_PATTERN,
        "A handle is 2 to 30 letters, digits or underscores.",
        code="invalid_handle",
    )
]
