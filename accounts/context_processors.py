from .selectors import unread_notification_count


def header(request) -> dict:
    """The unread notification count shown in every page's header."""
    user = getattr(request, "user", None)
    return {"unread_notifications": unread_notification_count(user=user) if user else 0}
