"""The pages of rooms that show their replays too: home (the Replays row), search (what was said in a
replay's transcript) and a room's page (the promise, then the link, of its replay). They live in
recordings, the highest app whose data they show; spaces_project/urls.py routes them where they have
always been: ``home``, ``rooms:search`` and ``rooms:detail``."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from accounts.selectors import blocked_user_ids_of_request
from rooms import selectors as room_selectors
from rooms import services as room_services
from rooms.analytics import charts, collect
from rooms.analytics import selectors as analytics
from rooms.models import Room
from spaces_project.pagination import paginate

from ..selectors import recording_of_room, replays_for_home, transcript_search

ROOMS_PER_PAGE = 24
# The home page shows a dozen cards a section, like the products' "live now" rows; each section
# pages on. Every card costs render time, and home is the page everyone loads.
HOME_ROOMS_PER_SECTION = 12
POPULAR_TOPICS_SHOWN = 12


def home(request: HttpRequest) -> HttpResponse:
    hidden = blocked_user_ids_of_request(request)
    sections = room_selectors.home_sections(
        viewer=request.user, followed_limit=HOME_ROOMS_PER_SECTION, hidden=hidden
    )
    context = {
        "followed_live": sections.followed_live,
        "replays": replays_for_home(viewer=request.user, limit=HOME_ROOMS_PER_SECTION, hidden=hidden),
        "live_page": paginate(request, sections.live, per_page=HOME_ROOMS_PER_SECTION),
        "upcoming_page": paginate(
            request, sections.upcoming, per_page=HOME_ROOMS_PER_SECTION, param="upcoming_page"
        ),
        "popular_topics": room_selectors.tags_popular(limit=POPULAR_TOPICS_SHOWN),
    }
    return render(request, "rooms/home.html", context)


def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    rooms = room_selectors.search_rooms(query=query, viewer=request.user)
    said = transcript_search(query=query, viewer=request.user) if query else []
    context = {"query": query, "page_obj": paginate(request, rooms, per_page=ROOMS_PER_PAGE), "said": said}
    return render(request, "rooms/search.html", context)


def room_detail(request: HttpRequest, pk: int) -> HttpResponse:
    room = room_selectors.room_get_for_viewer(room_id=pk, viewer=request.user)
    open_now = room.is_live or room.in_backstage
    refusal = room_services.participant_join_refusal(room=room, user=request.user) if open_now else None
    join_refusal = refusal.message if refusal else ""
    # Whoever may not join does not see who is in the room either (the socket would refuse them).
    may_see_roster = open_now and refusal is None
    roster = room_selectors.room_roster(room=room) if may_see_roster else {"stage": [], "listeners": []}
    is_host = request.user.is_authenticated and request.user.pk == room.host_id
    scheduled = room.state == Room.State.SCHEDULED
    can_invite = room_selectors.may_invite(room=room, user=request.user)
    # The recording (absent for a room that is not recorded, or removed) promises, then links, the replay.
    recording = recording_of_room(room=room) if room.is_recorded else None
    context = {
        "room": room,
        "recording": recording,
        "live_for_s": int((timezone.now() - room.started_at).total_seconds()) if room.is_live else 0,
        "topics": [rt.tag for rt in room.room_topics.select_related("tag")],
        "stage": roster["stage"],
        "listeners": roster["listeners"],
        "join_refusal": join_refusal,
        "is_host": is_host,
        "share_url": request.build_absolute_uri(reverse("rooms:detail", args=[room.pk])) + "?src=share",
        # Where this visitor came from rides on the socket that counts them (rooms/analytics/).
        "ws_path": f"/ws/rooms/{room.pk}/?src={_source(request, room)}",
        "may_see_analytics": analytics.may_see_room_report(room=room, viewer=request.user)
        if room.started_at
        else False,
        # The host's sparkline of the last 10 minutes, while live (static/js/sparkline.js keeps it going).
        "sparkline": _sparkline(room) if is_host and room.is_live else None,
        "reminder_count": room_selectors.reminder_count(room=room) if scheduled and is_host else 0,
        "has_reminder": scheduled and room_selectors.has_reminder(room=room, user=request.user),
        "backstage_opens_at": room_services.backstage_opens_at(room) if scheduled and is_host else None,
        "can_invite": can_invite,
        "invite_suggestions": room_selectors.invite_suggestions(room=room, actor=request.user)
        if can_invite
        else [],
        "invitees": room_selectors.room_invitees(room=room) if can_invite else [],
        "ticket_refused": refusal is not None and refusal.code == "ticket_required",
        "currency": settings.CURRENCY,
    }
    if room.is_ticketed:
        context["my_ticket"] = room_selectors.ticket_of(room=room, user=request.user)
        context["ticket_sales"] = room_selectors.ticket_sales(room=room) if is_host else None
    return render(request, "rooms/room_detail.html", context)


def _source(request: HttpRequest, room: Room) -> str:
    source = collect.source_of(
        src=request.GET.get("src"), referer=request.headers.get("Referer"), site_host=request.get_host()
    )
    if source == "notification" and analytics.was_invited(room=room, user=request.user):
        return "invite"
    return source


def _sparkline(room: Room) -> dict:
    values = [m["listeners"] for m in analytics.sparkline_minutes(room=room)]
    return {"values": values, "chart": charts.line_chart(values, width=160, height=36, padded=False)}
