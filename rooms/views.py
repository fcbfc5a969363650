from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from recordings import selectors as recording_selectors
from spaces_project.errors import NotFound, ServiceError

from . import selectors, services
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


def _forbidden(request: HttpRequest, error: ServiceError) -> HttpResponse:
    return render(request, "rooms/forbidden.html", {"message": error.message}, status=403)


def home(request):
    sections = selectors.home_sections(viewer=request.user, followed_limit=HOME_ROOMS_PER_SECTION)
    context = {
        "followed_live": sections.followed_live,
        "live_page": _paginate(request, sections.live, "page", HOME_ROOMS_PER_SECTION),
        "upcoming_page": _paginate(request, sections.upcoming, "upcoming_page", HOME_ROOMS_PER_SECTION),
        "popular_topics": selectors.tags_popular(limit=POPULAR_TOPICS_SHOWN),
    }
    return render(request, "rooms/home.html", context)


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
        try:
            room = services.room_create(
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
            )
        except ServiceError as error:
            form.add_service_error(error)
        else:
            messages.success(request, "Your room is live." if room.is_live else "Your room is scheduled.")
            return redirect("rooms:detail", pk=room.pk)
    return render(request, "rooms/room_form.html", {"form": form, "room": None})


@login_required
def room_edit(request, pk):
    try:
        room = selectors.room_get_for_host(room_id=pk, actor=request.user)
    except NotFound:
        raise Http404 from None
    except ServiceError as error:
        return _forbidden(request, error)
    if room.is_over:
        messages.error(request, "An ended or cancelled room cannot be edited.")
        return redirect("rooms:detail", pk=room.pk)
    form = RoomForm(request.POST or None, room=room)
    if request.method == "POST" and form.is_valid():
        try:
            services.room_update(
                room=room,
                actor=request.user,
                title=form.cleaned_data["title"],
                description=form.cleaned_data["description"],
                topics=form.topic_names(),
                speaker_policy=form.cleaned_data["speaker_policy"],
                allow_anonymous=form.cleaned_data["allow_anonymous"],
                scheduled_for=form.scheduled_for_aware() if "scheduled_for" in form.fields else None,
                is_recorded=form.cleaned_data["is_recorded"] if "is_recorded" in form.fields else None,
            )
        except ServiceError as error:
            form.add_service_error(error)
        else:
            messages.success(request, "Room updated.")
            return redirect("rooms:detail", pk=room.pk)
    return render(request, "rooms/room_form.html", {"form": form, "room": room})


def _host_action(request: HttpRequest, pk: int, action, done: str) -> HttpResponse:
    """Run a host-only state change. Hidden rooms 404, anyone but the host gets 403."""
    try:
        room = selectors.room_get_for_viewer(room_id=pk, viewer=request.user)
    except NotFound:
        raise Http404 from None
    try:
        action(room=room, actor=request.user)
    except ServiceError as error:
        if error.code == "not_allowed":
            return _forbidden(request, error)
        messages.error(request, error.message)
    else:
        messages.success(request, done)
    return redirect("rooms:detail", pk=room.pk)


@require_POST
@login_required
def room_start(request, pk):
    return _host_action(request, pk, services.room_start, "Your room is live.")


@require_POST
@login_required
def room_end(request, pk):
    return _host_action(request, pk, services.room_end, "The room has ended.")


@require_POST
@login_required
def room_cancel(request, pk):
    return _host_action(request, pk, services.room_cancel, "The room is cancelled.")


def room_detail(request, pk):
    try:
        room = selectors.room_get_for_viewer(room_id=pk, viewer=request.user)
    except NotFound:
        raise Http404 from None
    roster = selectors.room_roster(room=room) if room.is_live else {"stage": [], "listeners": []}
    join_refusal = ""
    if room.is_live:
        try:
            services.participant_check_may_join(room=room, user=request.user)
        except ServiceError as error:
            join_refusal = error.message
    context = {
        "room": room,
        "topics": [rt.tag for rt in room.room_topics.select_related("tag")],
        "stage": roster["stage"],
        "listeners": roster["listeners"],
        "join_refusal": join_refusal,
        "is_host": request.user.is_authenticated and request.user.pk == room.host_id,
        "share_url": request.build_absolute_uri(reverse("rooms:detail", args=[room.pk])),
        "ws_path": f"/ws/rooms/{room.pk}/",
    }
    return render(request, "rooms/room_detail.html", context)
