from django.conf import settings
from django.utils.functional import SimpleLazyObject

from accounts.selectors import blocked_user_ids_of_request

from .selectors import live_bar


def header(request) -> dict:
    """The live row in every page's header (templates/rooms/_live_bar.html). Read only when a page
    shows it: pages that do not extend base.html (the admin, JSON) pay nothing."""
    user = getattr(request, "user", None)
    return {
        "live_bar": SimpleLazyObject(
            lambda: live_bar(viewer=user, hidden=blocked_user_ids_of_request(request))
        ),
        "live_bar_refresh_ms": int(settings.LIVE_BAR_REFRESH_S * 1000),
    }
