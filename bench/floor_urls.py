"""The app's URLs and one more, for bench/tickets.py only (spaces_project/settings/bench.py mounts
this module when BENCH_URLCONF names it): `POST /bench/floor/`, a view that only answers.

It goes through everything a purchase goes through before its own work: daphne, the same middleware
(the session and the signed-in user read from the database, the CSRF check), and answers a redirect
as a purchase does. The rush sent to it is the floor a sale's p95 is compared with.
"""

from django.http import HttpResponseRedirect
from django.urls import path
from django.views.decorators.http import require_POST

from spaces_project.urls import urlpatterns as app_urls


@require_POST
def floor(request):
    if not request.user.is_authenticated:
        return HttpResponseRedirect("/accounts/login/")
    return HttpResponseRedirect(f"/?floor={request.user.pk}")


urlpatterns = [path("bench/floor/", floor), *app_urls]
