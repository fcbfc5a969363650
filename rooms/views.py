from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.selectors import blocked_user_ids_of_request, profile_get_for_viewer
from recordings import selectors as recording_selectors
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
from .models import Room, Tag

ROOMS_PER_PAGE = 24
# The home page shows a dozen cards a section, like the products' "live now" rows; each section
# pages on. Every card costs render time, and home is the page everyone loads.
HOME_ROOMS_PER_SECTION = 12
POPULAR_TOPICS_SHOWN = 12


def _paginate(
    request: HttpRequest, rooms: QuerySet[Room], param: str = "page", per_page: int = ROOMS_PER_PAGE
) -> Page:
    """One page of `rooms`, read from `?<param>=`, with links that keep the other query parameters."""
    page = Paginator(rooms, per_page).get_page(request.GET.get(param))

    def url_for(number: int) -> str:
        query = request.GET.copy()
        query[param] = str(number)
        return "?" + query.urlencode()

    page.previous_url = url_for(page.previous_page_number()) if page.has_previous() else ""
    page.next_url = url_for(page.next_page_number()) if page.has_next() else ""
    return page


def home(request):
    sections = selectors.home_sections(
        viewer=request.user,
        followed_limit=HOME_ROOMS_PER_SECTION,
        replays_limit=HOME_ROOMS_PER_SECTION,
        hidden=blocked_user_ids_of_request(request),
    )
    context = {
        "followed_live": sections.followed_live,
        "replays": sections.replays,
        "live_page": _paginate(request, sections.live, "page", HOME_ROOMS_PER_SECTION),
        "upcoming_page": _paginate(request, sections.upcoming, "upcoming_page", HOME_ROOMS_PER_SECTION),
        "popular_topics": selectors.tags_popular(limit=POPULAR_TOPICS_SHOWN),
    }
    return render(request, "rooms/home.html", context)


@require_GET
@never_cache
def live_bar(request):
    """The header's live row alone, for static/js/live-bar.js to refresh it without a reload."""
    bar = selectors.live_bar(viewer=request.user, hidden=blocked_user_ids_of_request(request))
    return render(request, "rooms/_live_bar.html", {"live_bar": bar})


def topic(request, slug):
    tag = get_object_or_404(Tag, slug=slug)
    rooms = selectors.rooms_for_topic(tag=tag, viewer=request.user)
    return render(request, "rooms/topic.html", {"tag": tag, "page_obj": _paginate(request, rooms)})


def search(request):
    query = request.GET.get("q", "").strip()
    rooms = selectors.search_rooms(query=query, viewer=request.user)
    said = recording_selectors.transcript_search(query=query, viewer=request.user) if query else []
    context = {"query": query, "page_obj": _paginate(request, rooms), "said": said}
    return render(request, "rooms/search.html", context)


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
            ),
        )
        if room is not None:
            messages.success(request, "Your room is live." if room.is_live else "Your room is scheduled.")
            return redirect("rooms:detail", pk=room.pk)
    return render(request, "rooms/room_form.html", {"form": form, "room": None})


@login_required
@refusal_page()
def room_edit(request, pk):
    room = selectors.room_get_for_host(room_id=pk, actor=request.user)
    if room.is_over:
        messages.error(request, "An ended or cancelled room cannot be edited.")
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
            messages.success(request, "Room updated.")
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
    return _host_action(request, pk, services.room_start, "Your room is live.")


@require_POST
@login_required
@refusal_redirect(to=_back_to_room)
def room_backstage(request, pk):
    return _host_action(
        request, pk, services.room_open_backstage, "The backstage is open: your speakers can join you."
    )


@require_POST
@login_required
@refusal_redirect(to=_back_to_room)
def room_end(request, pk):
    return _host_action(request, pk, services.room_end, "The room has ended.")


@require_POST
@login_required
@refusal_redirect(to=_back_to_room)
def room_cancel(request, pk):
    return _host_action(request, pk, services.room_cancel, "The room is cancelled.")


def room_detail(request, pk):
    room = selectors.room_get_for_viewer(room_id=pk, viewer=request.user)
    open_now = room.is_live or room.in_backstage
    refusal = services.participant_join_refusal(room=room, user=request.user) if open_now else None
    join_refusal = refusal.message if refusal else ""
    # Whoever may not join does not see who is in the room either (the socket would refuse them).
    may_see_roster = open_now and refusal is None
    roster = selectors.room_roster(room=room) if may_see_roster else {"stage": [], "listeners": []}
    is_host = request.user.is_authenticated and request.user.pk == room.host_id
    scheduled = room.state == Room.State.SCHEDULED
    can_invite = selectors.may_invite(room=room, user=request.user)
    # The recording (absent for a room that is not recorded) promises, and then links, the replay.
    recording = selectors.room_recording(room=room)
    context = {
        "room": room,
        "recording": recording,
        "live_for_s": int((timezone.now() - room.started_at).total_seconds()) if room.is_live else 0,
        "topics": [rt.tag for rt in room.room_topics.select_related("tag")],
        "stage": roster["stage"],
        "listeners": roster["listeners"],
        "join_refusal": join_refusal,
        "is_host": is_host,
        "share_url": request.build_absolute_uri(reverse("rooms:detail", args=[room.pk])),
        "ws_path": f"/ws/rooms/{room.pk}/",
        "reminder_count": selectors.reminder_count(room=room) if scheduled and is_host else 0,
        "has_reminder": scheduled and selectors.has_reminder(room=room, user=request.user),
        "backstage_opens_at": services.backstage_opens_at(room) if scheduled and is_host else None,
        "can_invite": can_invite,
        "invite_suggestions": selectors.invite_suggestions(room=room, actor=request.user)
        if can_invite
        else [],
        "invitees": selectors.room_invitees(room=room) if can_invite else [],
        "ticket_refused": refusal is not None and refusal.code == "ticket_required",
        "currency": settings.CURRENCY,
    }
    if room.is_ticketed:
        context["my_ticket"] = selectors.ticket_of(room=room, user=request.user)
        context["ticket_sales"] = selectors.ticket_sales(room=room) if is_host else None
    return render(request, "rooms/room_detail.html", context)


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
        request, pk, services.reminder_set, "Reminder set: you will be notified when the room starts."
    )


@require_POST
@refusal_redirect(to=_back_to_room)
def reminder_delete(request, pk):
    return _room_action(request, pk, services.reminder_delete, "Reminder removed.")


@require_POST
@refusal_json_or_redirect(to=_back_to_room)
def room_invite(request, pk):
    """Invite someone by @handle. The live room page posts with fetch (a reload would cut the
    host's audio) and reads a JSON answer; without script the form posts and comes back."""
    if not request.user.is_authenticated:
        if wants_json(request):
            return JsonResponse({"ok": False, "message": "Sign in to invite people."}, status=403)
        return redirect_to_login(reverse("rooms:detail", args=[pk]))
    handle = request.POST.get("handle", "")
    invitee, invited_now = services.room_invite(room_id=pk, actor=request.user, handle=handle)
    message = (
        f"Invited @{invitee.handle}: they will get a notification with the link."
        if invited_now
        else f"@{invitee.handle} is already invited."
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
    body = calendar_ics(rooms, name=f"Spaces: rooms by {person.name} (@{person.handle})")
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{person.handle}.ics"'
    return response
