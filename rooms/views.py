"""rooms' pages and endpoints: create and edit a room, the host's and a person's actions on it, topics,
the header's live row, calendars. The pages that show replays too (home, search, a room's page) are
recordings' (recordings/views/room_pages.py), routed in the rooms namespace by spaces_project/urls.py."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.selectors import blocked_user_ids_of_request, profile_get_for_viewer
from spaces_project.pagination import paginate
from spaces_project.refusals import (
    into_form,
    refusal_json_or_redirect,
    refusal_page,
    refusal_redirect,
    wants_json,
)

from . import selectors, services
from .calendar import calendar_ics
from .forms import RoomForm
from .models import Tag

ROOMS_PER_PAGE = 24


@require_GET
@never_cache
def live_bar(request):
    """The header's live row alone, for static/js/live-bar.js to refresh it without a reload."""
    bar = selectors.live_bar(viewer=request.user, hidden=blocked_user_ids_of_request(request))
    return render(request, "rooms/_live_bar.html", {"live_bar": bar})


def topic(request, slug):
    tag = get_object_or_404(Tag, slug=slug)
    rooms = selectors.rooms_for_topic(tag=tag, viewer=request.user)
    page = paginate(request, rooms, per_page=ROOMS_PER_PAGE)
    return render(request, "rooms/topic.html", {"tag": tag, "page_obj": page})


def _created_message(room) -> str:
    if room.is_live:
        return _("Your room is live.")
    if room.is_ticketed:
        return _("Your room is scheduled, with tickets on sale: %(price)s, %(capacity)s seats.") % {
            "price": services.price_label(room.ticket_price),
            "capacity": number_format(room.ticket_capacity, force_grouping=True),
        }
    return _("Your room is scheduled.")


@login_required
def room_create(request):
    form = RoomForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        room = into_form(
            form,
            lambda: services.room_create(
                host=request.user,
                title=form.cleaned_data["title"],
                description=form.cleaned_data["description"],
                topics=form.topic_names(),
                start_now=form.starts_now(),
                scheduled_for=None if form.starts_now() else form.scheduled_for_aware(),
                speaker_policy=form.cleaned_data["speaker_policy"],
                is_recorded=form.cleaned_data["is_recorded"],
                allow_anonymous=form.cleaned_data["allow_anonymous"],
                captions_enabled=form.cleaned_data["captions_enabled"],
                large_audience=form.cleaned_data["large_audience"],
                ticket_price=None if form.starts_now() else form.cleaned_data["price"],
                ticket_capacity=None if form.starts_now() else form.cleaned_data["capacity"],
            ),
        )
        if room is not None:
            messages.success(request, _created_message(room))
            return redirect("rooms:detail", pk=room.pk)
    return render(request, "rooms/room_form.html", {"form": form, "room": None})


@login_required
@refusal_page()
def room_edit(request, pk):
    room = selectors.room_get_for_host(room_id=pk, actor=request.user)
    if room.is_over:
        messages.error(request, _("An ended or cancelled room cannot be edited."))
        return redirect("rooms:detail", pk=room.pk)
    form = RoomForm(request.POST or None, room=room)
    if request.method == "POST" and form.is_valid():
        updated = into_form(
            form,
            lambda: services.room_update(
                room=room,
                actor=request.user,
                title=form.cleaned_data["title"],
                description=form.cleaned_data["description"],
                topics=form.topic_names(),
                speaker_policy=form.cleaned_data["speaker_policy"],
                allow_anonymous=form.cleaned_data["allow_anonymous"],
                scheduled_for=form.scheduled_for_aware() if "scheduled_for" in form.fields else None,
                is_recorded=form.cleaned_data["is_recorded"] if "is_recorded" in form.fields else None,
                large_audience=form.cleaned_data["large_audience"],
            ),
        )
        if updated is not None:
            messages.success(request, _("Room updated."))
            return redirect("rooms:detail", pk=room.pk)
    return render(request, "rooms/room_form.html", {"form": form, "room": room})


def _host_action(request: HttpRequest, pk: int, action, done: str) -> HttpResponse:
    """Run a host-only state change. Hidden rooms 404, anyone but the host gets 403."""
    room = selectors.room_get_for_viewer(room_id=pk, viewer=request.user)
    action(room=room, actor=request.user)
    messages.success(request, done)
    return redirect("rooms:detail", pk=room.pk)


def _back_to_room(request: HttpRequest, pk: int) -> str:
    return reverse("rooms:detail", args=[pk])


@require_POST
@login_required
@refusal_redirect(to=_back_to_room)
def room_start(request, pk):
    return _host_action(request, pk, services.room_start, _("Your room is live."))


@require_POST
@login_required
@refusal_redirect(to=_back_to_room)
def room_backstage(request, pk):
    return _host_action(
        request, pk, services.room_open_backstage, _("The backstage is open: your speakers can join you.")
    )


@require_POST
@login_required
@refusal_redirect(to=_back_to_room)
def room_end(request, pk):
    return _host_action(request, pk, services.room_end, _("The room has ended."))


@require_POST
@login_required
@refusal_redirect(to=_back_to_room)
def room_cancel(request, pk):
    return _host_action(request, pk, services.room_cancel, _("The room is cancelled."))


def _room_action(request: HttpRequest, pk: int, action, done) -> HttpResponse:
    """Run a person's action on a room they can see, then go back to the room page."""
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("rooms:detail", args=[pk]))
    result = action(room_id=pk, user=request.user)
    messages.success(request, done(result) if callable(done) else done)
    return redirect("rooms:detail", pk=pk)


@require_POST
@refusal_redirect(to=_back_to_room)
def reminder_set(request, pk):
    return _room_action(
        request, pk, services.reminder_set, _("Reminder set: you will be notified when the room starts.")
    )


@require_POST
@refusal_redirect(to=_back_to_room)
def reminder_delete(request, pk):
    return _room_action(request, pk, services.reminder_delete, _("Reminder removed."))


@require_POST
@refusal_json_or_redirect(to=_back_to_room)
def room_invite(request, pk):
    """Invite someone by @handle. The live room page posts with fetch (a reload would cut the
    host's audio) and reads a JSON answer; without script the form posts and comes back."""
    if not request.user.is_authenticated:
        if wants_json(request):
            return JsonResponse({"ok": False, "message": _("Sign in to invite people.")}, status=403)
        return redirect_to_login(reverse("rooms:detail", args=[pk]))
    handle = request.POST.get("handle", "")
    invitee, invited_now = services.room_invite(room_id=pk, actor=request.user, handle=handle)
    message = (
        _("Invited @%(handle)s: they will get a notification with the link.") % {"handle": invitee.handle}
        if invited_now
        else _("@%(handle)s is already invited.") % {"handle": invitee.handle}
    )
    if wants_json(request):
        return JsonResponse(
            {"ok": True, "invited": invited_now, "handle": invitee.handle, "message": message}
        )
    messages.success(request, message)
    return redirect("rooms:detail", pk=pk)


def invite_suggestions(request, pk):
    """People the inviter follows who could be invited, for the invite field (JSON)."""
    room = selectors.room_get_for_viewer(room_id=pk, viewer=request.user)
    if not selectors.may_invite(room=room, user=request.user):
        return JsonResponse({"people": []}, status=403)
    people = selectors.invite_suggestions(room=room, actor=request.user, query=request.GET.get("q", ""))
    return JsonResponse({"people": [{"handle": p.handle, "name": p.name} for p in people]})


def room_calendar(request, pk):
    """The room as an .ics file, to add to a calendar."""
    room = selectors.room_for_calendar(room_id=pk, viewer=request.user)
    response = HttpResponse(calendar_ics([room]), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="room-{room.pk}.ics"'
    return response


def host_calendar(request: HttpRequest, handle: str) -> HttpResponse:
    """A subscribable iCalendar feed of the host's scheduled rooms (calendar apps fetch it anonymously).
    Routed as ``accounts:calendar``, ``/@<handle>/calendar.ics``, with the person's other pages."""
    person = profile_get_for_viewer(handle=handle, viewer=request.user)  # NotFound: a 404
    rooms = selectors.calendar_rooms_of_host(host=person, viewer=request.user)
    body = calendar_ics(
        rooms,
        name=_("Spaces: rooms by %(name)s (@%(handle)s)") % {"name": person.name, "handle": person.handle},
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{person.handle}.ics"'
    return response
