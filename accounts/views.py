"""A person's followers and following, follow and block buttons, profile editing, notifications and
account settings. Rules live in services and selectors. The profile page itself
(recordings/views/profiles.py) and the host's calendar (rooms.views.host_calendar) show other apps'
data: they live there, and are routed with these in the accounts namespace (spaces_project/urls.py)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import i18n
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from spaces_project import media
from spaces_project.refusals import into_form, refusal_page, refusal_redirect

from . import selectors, services
from .forms import DeleteAccountForm, NotificationSettingsForm, ProfileForm, TimeZoneForm
from .languages import remember_language
from .models import Notification, User
from .push_views import push_settings

PAGE_SIZE = 20


def _profile_or_404(request: HttpRequest, handle: str) -> User:
    """The profile `handle` names; a 404 (NotFound) when it does not exist for this viewer."""
    return selectors.profile_get_for_viewer(handle=handle, viewer=request.user)


def _page(request: HttpRequest, items, param: str = "page"):
    return Paginator(items, PAGE_SIZE).get_page(request.GET.get(param))


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _people_page(request: HttpRequest, handle: str, *, which: str) -> HttpResponse:
    person = _profile_or_404(request, handle)
    list_of = selectors.followers_of if which == "followers" else selectors.following_of
    page = _page(request, list_of(user=person, viewer=request.user))
    followed = selectors.followed_among(user=request.user, ids=[p.pk for p in page.object_list])
    context = {
        "person": person,
        "which": which,
        "page": page,
        "followed_ids": followed,
        "follower_count": selectors.follower_count(user=person),
        "following_count": selectors.following_count(user=person),
    }
    return render(request, "accounts/people.html", context)


def followers(request: HttpRequest, handle: str) -> HttpResponse:
    return _people_page(request, handle, which="followers")


def following(request: HttpRequest, handle: str) -> HttpResponse:
    return _people_page(request, handle, which="following")


def _graph_action(request: HttpRequest, handle: str, action) -> HttpResponse:
    """Run a follow/block action on `handle` and go back where the button was."""
    profile_url = reverse("accounts:profile", kwargs={"handle": handle})
    if not request.user.is_authenticated:
        # After signing in, land on the profile (the action itself is POST only).
        return redirect_to_login(profile_url)
    person = _profile_or_404(request, handle)
    messages.success(request, action(viewer=request.user, person=person))
    return redirect(_back(request, person.handle))


def _back(request: HttpRequest, handle: str) -> str:
    """Where a follow or block button sends the person back to: the page it was on, or the profile."""
    return _safe_next(request, reverse("accounts:profile", kwargs={"handle": handle}))


def _do_follow(*, viewer: User, person: User) -> str:
    services.follow_create(follower=viewer, followee=person)
    return _("You follow @%(handle)s.") % {"handle": person.handle}


def _do_unfollow(*, viewer: User, person: User) -> str:
    services.follow_delete(follower=viewer, followee=person)
    return _("You no longer follow @%(handle)s.") % {"handle": person.handle}


def _do_block(*, viewer: User, person: User) -> str:
    services.block_create(blocker=viewer, blocked=person)
    return _("You blocked @%(handle)s. Neither of you will see the other's rooms.") % {
        "handle": person.handle
    }


def _do_unblock(*, viewer: User, person: User) -> str:
    services.block_delete(blocker=viewer, blocked=person)
    return _("You unblocked @%(handle)s.") % {"handle": person.handle}


@require_POST
@refusal_redirect(to=_back)
def follow(request: HttpRequest, handle: str) -> HttpResponse:
    return _graph_action(request, handle, _do_follow)


@require_POST
@refusal_redirect(to=_back)
def unfollow(request: HttpRequest, handle: str) -> HttpResponse:
    return _graph_action(request, handle, _do_unfollow)


@require_POST
@refusal_redirect(to=_back)
def block(request: HttpRequest, handle: str) -> HttpResponse:
    return _graph_action(request, handle, _do_block)


@require_POST
@refusal_redirect(to=_back)
def unblock(request: HttpRequest, handle: str) -> HttpResponse:
    return _graph_action(request, handle, _do_unblock)


@login_required
def profile_edit(request: HttpRequest) -> HttpResponse:
    # Always the signed-in user's own profile: there is no way to name another one.
    user = request.user
    if request.method == "POST":
        form = ProfileForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["avatar"]
            saved = into_form(
                form,
                lambda: services.user_edit_profile(
                    user=user,
                    display_name=form.cleaned_data["display_name"],
                    bio=form.cleaned_data["bio"],
                    avatar=upload.read() if upload else None,
                    remove_avatar=form.cleaned_data["remove_avatar"],
                ),
            )
            if saved is not None:
                messages.success(request, _("Your profile is saved."))
                return redirect("accounts:profile", handle=user.handle)
            user.refresh_from_db()  # the page header shows the saved name, not the refused one
    else:
        form = ProfileForm(initial={"display_name": user.display_name, "bio": user.bio})
    return render(request, "accounts/profile_edit.html", {"form": form})


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    """The list. Opening it reads what it shows: those notifications are marked read (the page still
    shows them as new this once) and the badge clears on every page the person has open."""
    page = _page(request, selectors.notifications_for(user=request.user))
    allowed_hosts = {request.get_host()}
    for notification in page.object_list:
        # Links are written by our services, but never render a javascript: or foreign URL.
        notification.link = (
            notification.url if url_has_allowed_host_and_scheme(notification.url, allowed_hosts) else ""
        )
        notification.is_new = notification.read_at is None
    services.notifications_mark_seen(
        user=request.user, notification_ids=[n.pk for n in page.object_list if n.is_new]
    )
    return render(request, "accounts/notifications.html", {"page": page})


@require_POST
def notifications_seen(request: HttpRequest) -> HttpResponse:
    """The open list saw notifications arrive live (static/js/notifications.js): they are read."""
    if not request.user.is_authenticated:
        return JsonResponse({"ok": False}, status=403)
    ids = [int(pk) for pk in request.POST.getlist("id") if pk.isdigit()][:PAGE_SIZE]
    unread = services.notifications_mark_seen(user=request.user, notification_ids=ids)
    return JsonResponse({"ok": True, "unread_count": unread})


@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("accounts:notifications"))
    count = services.notifications_mark_read(user=request.user)
    if count:
        messages.success(request, _("All notifications are marked as read."))
    return redirect("accounts:notifications")


# -- your account: sessions, your data, deleting it ---------------------------------------------------


def _account_settings_page(request: HttpRequest, *, status: int = 200, **forms) -> HttpResponse:
    """The account page, with the forms given (a refused one with its errors) and the others fresh."""
    export = selectors.latest_data_export(user=request.user)
    context = {
        "export": export,
        "export_expired": export is not None and selectors.data_export_expired(export=export),
        "delete_form": forms.get("delete_form") or DeleteAccountForm(),
        "time_zone_form": forms.get("time_zone_form") or TimeZoneForm(current=request.user.time_zone),
    }
    return render(request, "accounts/account_settings.html", context, status=status)


@login_required
def account_settings(request: HttpRequest) -> HttpResponse:
    return _account_settings_page(request)


@login_required
@require_POST
def account_time_zone(request: HttpRequest) -> HttpResponse:
    form = TimeZoneForm(request.POST, current=request.user.time_zone)
    if form.is_valid():
        saved = into_form(
            form,
            lambda: services.user_set_time_zone(user=request.user, time_zone=form.cleaned_data["time_zone"]),
        )
        if saved is not None:
            messages.success(
                request,
                _("Times in emails and notifications are now in %(zone)s.") % {"zone": saved.time_zone},
            )
            return redirect(reverse("accounts:settings") + "#time-zone")
    return _account_settings_page(request, status=400, time_zone_form=form)


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Django's set_language (the language cookie, then back to `next`), which anyone may use from the
    footer; a signed-in person's choice is saved on their account too, so it follows them to every
    device they sign in on. An empty choice (account settings) goes back to the browser's language."""
    language = request.POST.get("language", "")
    response = i18n.set_language(request)
    if not language or language in dict(settings.LANGUAGES):
        remember_language(response, language)
        if request.user.is_authenticated:
            services.user_set_language(user=request.user, language=language)
    return response


@login_required
@require_POST
def sign_out_everywhere(request: HttpRequest) -> HttpResponse:
    services.user_sign_out_everywhere(user=request.user)
    logout(request)
    messages.success(request, _("You are signed out on every device."))
    return redirect("account_login")


@login_required
@require_POST
def data_export_start(request: HttpRequest) -> HttpResponse:
    services.data_export_request(user=request.user)
    messages.success(request, _("We are putting your archive together. It takes a moment."))
    return redirect(reverse("accounts:settings") + "#your-data")


def _own_export(request: HttpRequest, pk: int):
    """The archive `pk`, for its owner; everyone else gets a 404 (NotFound, refusals.py)."""
    return selectors.data_export_get_for_owner(export_id=pk, user=request.user)


@require_GET
def data_export_status(request: HttpRequest, pk: int) -> HttpResponse:
    export = _own_export(request, pk)
    return JsonResponse(
        {
            "status": export.status,
            "progress": export.progress,
            "step": _(export.step) if export.step else "",  # an English msgid (accounts/services/privacy.py)
            "ready": export.status == "ready",
        }
    )


@require_http_methods(["GET", "HEAD"])
def data_export_download(request: HttpRequest, pk: int) -> HttpResponse:
    export = _own_export(request, pk)
    if export.status != export.Status.READY or selectors.data_export_expired(export=export):
        return render(request, "accounts/export_expired.html", {}, status=410)
    stored = services.data_export_name(export)
    if not media.exists(stored):
        raise Http404(_("This archive is gone."))
    name = f"spaces-{request.user.handle}-{export.finished_at:%Y-%m-%d}.zip"
    return media.serve(request, stored, content_type="application/zip", attachment_name=name)


@login_required
@require_POST
def account_delete(request: HttpRequest) -> HttpResponse:
    form = DeleteAccountForm(request.POST)
    if form.is_valid():
        deleted = into_form(
            form,
            lambda: services.user_delete_account(user=request.user, password=form.cleaned_data["password"]),
        )
        if deleted:
            logout(request)
            messages.success(request, _("Your account and everything in it are deleted. Goodbye."))
            return redirect("home")
    return _account_settings_page(request, status=400, delete_form=form)


@login_required
def notification_settings(request: HttpRequest) -> HttpResponse:
    preferences = selectors.notification_preferences(user=request.user)
    form = NotificationSettingsForm(request.POST or None, preferences=preferences)
    if request.method == "POST" and form.is_valid():
        saved = into_form(
            form,
            lambda: services.notification_preferences_set(user=request.user, choices=form.choices()) or True,
        )
        if saved:
            messages.success(request, _("Your notification settings are saved."))
            return redirect("accounts:notification_settings")
    context = {"form": form, "rows": form.rows(), **push_settings(request)}
    return render(request, "accounts/notification_settings.html", context)


# A mail program's one-click unsubscribe (RFC 8058) POSTs with no session and no CSRF token: the
# signed link is the authorization. GET only shows a button, because link scanners follow GETs.
@csrf_exempt
@require_http_methods(["GET", "POST"])
@refusal_page("accounts/unsubscribe.html")
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    if request.method == "POST":
        person, kind = services.notification_unsubscribe(token=token)
    else:
        person, kind = services.unsubscribe_check(token=token)
    context = {
        "person": person,
        "kind_label": Notification.Kind(kind).label.lower(),
        "done": request.method == "POST",
        "token": token,
    }
    return render(request, "accounts/unsubscribe.html", context)
