"""A person's profile page, ``/@<handle>/``: who they are, their live, upcoming and past rooms, and
their replays. It lives in recordings, the highest app whose data it shows; it is routed as
``accounts:profile`` with the person's other pages (spaces_project/urls.py)."""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts import selectors as account_selectors
from rooms.selectors import rooms_of_user

from ..selectors import replays_of_user

PAGE_SIZE = 20


def _page(request: HttpRequest, items):
    return Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))


def profile(request: HttpRequest, handle: str) -> HttpResponse:
    # NotFound (a 404) when the profile does not exist for this viewer (spaces_project/refusals.py).
    person = account_selectors.profile_get_for_viewer(handle=handle, viewer=request.user)
    if person.handle != handle:
        return redirect("accounts:profile", handle=person.handle, permanent=True)
    viewer = request.user
    is_me = viewer.is_authenticated and viewer.pk == person.pk
    tab = "replays" if request.GET.get("tab") == "replays" else "rooms"
    context = {
        "person": person,
        "is_me": is_me,
        "follower_count": account_selectors.follower_count(user=person),
        "following_count": account_selectors.following_count(user=person),
        "viewer_follows": account_selectors.is_following(follower=viewer, followee=person),
        "viewer_blocked": account_selectors.has_blocked(blocker=viewer, blocked=person),
        "follows_viewer": viewer.is_authenticated
        and not is_me
        and account_selectors.is_following(follower=person, followee=viewer),
        "tab": tab,
        "calendar_url": request.build_absolute_uri(reverse("accounts:calendar", args=[person.handle])),
    }
    if tab == "replays":
        context["replays_page"] = _page(request, replays_of_user(user=person, viewer=viewer))
    else:
        rooms = rooms_of_user(user=person, viewer=viewer)
        context.update(
            live_rooms=rooms["live"],
            upcoming_rooms=rooms["upcoming"],
            ended_page=_page(request, rooms["ended"]),
        )
    return render(request, "accounts/profile.html", context)
