"""The one error type that services raise; views and consumers translate it."""


class ServiceError(Exception):
    """A rule of the product refused an action.

    `code` is a short machine-readable reason ("not_allowed", "stage_full", ...);
    `message` is a sentence fit to show the person who tried. `field`, when set,
    names the form field the message belongs to.
    """

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class NotFound(ServiceError):
    """The object does not exist for this viewer (missing, or they may not see it)."""

    def __init__(self, message: str = "Not found.") -> None:
        super().__init__("not_found", message)


class Invalid(ServiceError):
    """The request's data is malformed or out of bounds (not a rule refusing the person): answered
    400 rather than 403."""
