"""The hosts' reports (docs/analytics.md): a room's (``/rooms/<id>/analytics/`` and its CSV, in the
rooms namespace) and a host's (``/@<handle>/analytics/``, in the accounts namespace). They live with
recordings, the highest app whose data they show (replay and clip plays); rooms' figures come from
rooms.analytics. Also the player's endpoints that feed them: how long a replay play lasted, a clip
play. Thin: each calls one selector or service."""

import csv
from datetime import UTC, datetime

from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from rooms.analytics import charts
from rooms.analytics import selectors as analytics
from spaces_project.refusals import refusal_json

from .. import selectors
from ..selectors.analytics import replay_figures, replay_plays_by_room
from ..services.analytics import clip_count_play, replay_note_listened


def _moment(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


@require_GET
def room_analytics(request, pk):
    room = analytics.room_for_report(room_id=pk, viewer=request.user)
    report = analytics.room_report(room=room)
    rows = [
        {**m, "at": _moment(m["minute"]), "offset": int((m["minute"] - room.started_at.timestamp()) // 60)}
        for m in report.minutes
    ]
    context = {
        "room": room,
        "report": report,
        "figures": report.figures,
        "peak_at": _moment(report.figures.get("peak_at")),
        "listener_minutes": report.figures.get("listener_seconds", 0) / 60,
        "median_minutes": report.figures.get("median_seconds", 0) / 60,
        "rows": rows,
        "chart": charts.line_chart([m["listeners"] for m in report.minutes]),
        "sources": sorted(report.figures.get("sources", {}).items(), key=lambda kv: -kv[1]),
        "replay": replay_figures(room=room),
        "sales_chart": charts.bar_chart([(day.isoformat(), n) for day, n, _ in report.sales]),
    }
    return render(request, "recordings/room_analytics.html", context)


@require_GET
def room_analytics_csv(request, pk):
    """One row per minute: minute (UTC, ISO 8601), listeners, joins, leaves, reactions."""
    room = analytics.room_for_report(room_id=pk, viewer=request.user)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="room-{room.pk}-minutes.csv"'
    writer = csv.writer(response)
    writer.writerow(["minute", "listeners", "joins", "leaves", "reactions"])
    for m in analytics.room_minutes(room=room):
        writer.writerow(
            [_moment(m["minute"]).isoformat(), m["listeners"], m["joins"], m["leaves"], m["reactions"]]
        )
    return response


@require_GET
def host_analytics(request, handle):
    host = analytics.host_for_report(handle=handle, viewer=request.user)
    period = analytics.report_period(start=request.GET.get("from"), end=request.GET.get("to"))
    report = analytics.host_report(host=host, first=period.first, last=period.last)
    plays = replay_plays_by_room(room_ids=[row.room.pk for row in report.rows])
    for row in report.rows:
        row.replay_plays = plays.get(row.room.pk, 0)
    context = {
        "host": host,
        "period": period,
        "report": report,
        "totals": report.totals,
        "chart": charts.bar_chart([(row.room.title, row.unique) for row in report.rows]),
        "asked_from": request.GET.get("from", period.first.isoformat()),
        "asked_to": request.GET.get("to", period.last.isoformat()),
    }
    return render(request, "recordings/host_analytics.html", context, status=400 if period.error else 200)


@require_POST
@refusal_json
def replay_listened(request, pk):
    """The player reports how long this session's counted play has played (ms)."""
    recording = selectors.recording_get_for_listener(recording_id=pk, viewer=request.user)
    try:
        listened_ms = int(request.POST.get("ms", "0"))
    except ValueError:
        listened_ms = 0
    noted = replay_note_listened(recording=recording, session=request.session, listened_ms=listened_ms)
    return JsonResponse({"noted": noted})


@csrf_exempt
@require_POST
@refusal_json
def clip_embed_play(request, pk):
    """The embed's player started (static/js/play-report.js). A frame on another site carries none of
    our cookies, so no CSRF token either: the clip page's rules count it (once per session where the
    browser sends ours, otherwise at most so many an hour from one address), and counting a play is
    all a forged request could do."""
    clip = selectors.clip_get_for_viewer(clip_id=pk, viewer=request.user)
    session = request.session if request.session.session_key else None
    counted = clip_count_play(clip=clip, session=session, address=request.META.get("REMOTE_ADDR", ""))
    return JsonResponse({"counted": counted})


@require_POST
@refusal_json
def clip_play(request, pk):
    """The clip's player started: count one play per viewer session."""
    clip = selectors.clip_get_for_viewer(clip_id=pk, viewer=request.user)
    counted = clip_count_play(clip=clip, session=request.session, address=request.META.get("REMOTE_ADDR", ""))
    return JsonResponse({"counted": counted})
