"""The replay's page and endpoints: its audio, images, captions and chapters, plays, the host's
download, deletion and transcript corrections. Thin: each calls one service or selector; refusals
are answered by spaces_project/refusals.py as each view declares."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from spaces_project import media
from spaces_project.refusals import refusal_json, refusal_page, refusal_redirect, refusal_text

from .. import selectors, services
from ..files import RecordingFiles
from ..models import Recording
from .common import REFUSED_PAGE

STATUS_POLL_MS = 2000


def _for_listener(request: HttpRequest, pk: int) -> Recording:
    return selectors.recording_get_for_listener(recording_id=pk, viewer=request.user)


@refusal_page(REFUSED_PAGE)
def recording_detail(request, pk):
    recording = _for_listener(request, pk)
    room = recording.room
    services.recording_note_view(recording=recording, session=request.session)
    turns = selectors.recording_turns(recording=recording)
    transcript = (
        selectors.transcript_of(recording=recording) if recording.status == Recording.Status.READY else None
    )
    lines = selectors.transcript_lines(transcript=transcript) if transcript else []
    is_host = request.user.is_authenticated and request.user.pk == room.host_id
    podcast_refusal = selectors.podcast_refusal(recording=recording) if is_host else None
    context = {
        "transcript": transcript,
        "lines": lines,
        "chapters": selectors.transcript_chapters(lines=lines),
        "questions": selectors.recording_questions(recording=recording),
        "recording": recording,
        "room": room,
        "topics": [rt.tag for rt in room.room_topics.select_related("tag")],
        "is_host": is_host,
        # Why this replay cannot be in the host's podcast ("" if it can).
        "podcast_refusal": podcast_refusal.message if podcast_refusal else "",
        "steps": selectors.recording_progress(recording=recording),
        "status": selectors.recording_status_payload(recording=recording),
        "speakers": selectors.recording_speakers(turns=turns, duration_ms=recording.duration_ms),
        "turns": turns,
        "poll_ms": STATUS_POLL_MS,
        "duration_label": selectors.clock(recording.duration_ms),
        "clips": selectors.clips_of_recording(recording=recording)
        if recording.status == Recording.Status.READY
        else [],
    }
    return render(request, "recordings/recording_detail.html", context)


@require_GET
@refusal_json
def recording_status(request, pk):
    recording = _for_listener(request, pk)
    return JsonResponse(selectors.recording_status_payload(recording=recording))


def _ready_file(request: HttpRequest, pk: int, which: str, content_type: str) -> HttpResponse:
    recording = _for_listener(request, pk)
    if recording.status != Recording.Status.READY:
        raise Http404("This replay is not ready yet.")
    name = getattr(RecordingFiles(recording.room_id), f"{which}_name")
    if not media.exists(name):
        raise Http404("This file is missing.")
    plays_s = recording.duration_ms / 1000 if which == "replay" else 0
    return media.serve(request, name, content_type=content_type, plays_s=plays_s)


@require_http_methods(["GET", "HEAD"])
@refusal_text
def recording_stream(request, pk):
    """The replay's audio for the player: permission checked on every request, Range supported."""
    return _ready_file(request, pk, "replay", "audio/mp4")


@require_http_methods(["GET", "HEAD"])
@refusal_text
def recording_cover(request, pk):
    return _ready_file(request, pk, "cover", "image/jpeg")


@require_http_methods(["GET", "HEAD"])
@refusal_text
def recording_waveform(request, pk):
    return _ready_file(request, pk, "waveform", "image/png")


@require_POST
@refusal_json
def recording_play(request, pk):
    """The player started: count one play per viewer session."""
    recording = _for_listener(request, pk)
    counted = services.recording_count_play(
        recording=recording, session=request.session, address=request.META.get("REMOTE_ADDR", "")
    )
    recording.refresh_from_db(fields=["play_count"])
    return JsonResponse({"counted": counted, "play_count": recording.play_count})


@login_required
@require_http_methods(["GET", "HEAD"])
@refusal_page(REFUSED_PAGE)
def recording_download(request, pk):
    recording = selectors.recording_get_for_host(recording_id=pk, actor=request.user)
    if recording.status != Recording.Status.READY:
        raise Http404("This replay is not ready yet.")
    files = RecordingFiles(recording.room_id)
    name = f"{slugify(recording.room.title) or 'replay'}-{recording.room.started_at:%Y-%m-%d}.m4a"
    return media.serve(
        request,
        files.replay_name,
        content_type="audio/mp4",
        plays_s=recording.duration_ms / 1000,
        attachment_name=name,
    )


@login_required
@require_POST
@refusal_page(REFUSED_PAGE)
def recording_delete(request, pk):
    recording = services.recording_delete(recording_id=pk, actor=request.user)
    messages.success(request, _("The recording is deleted."))
    return redirect(reverse("rooms:detail", args=[recording.room_id]))


def _vtt(request: HttpRequest, pk: int, build) -> HttpResponse:
    recording = _for_listener(request, pk)
    text = build(recording=recording) if recording.status == Recording.Status.READY else None
    if text is None:
        raise Http404("This replay has no transcript.")
    response = HttpResponse(text, content_type="text/vtt; charset=utf-8")
    response["Cache-Control"] = "private, no-cache"
    return response


@require_http_methods(["GET", "HEAD"])
@refusal_text
def recording_captions(request, pk):
    """The transcript as WebVTT captions, one cue per line with the speaker's voice tag."""
    return _vtt(request, pk, selectors.transcript_vtt)


@require_http_methods(["GET", "HEAD"])
@refusal_text
def recording_chapters(request, pk):
    """WebVTT chapters: one per change of speaker."""
    return _vtt(request, pk, selectors.transcript_chapters_vtt)


def _line_url(request, pk, line_id) -> str:
    return reverse("recordings:detail", args=[pk]) + f"#line-{line_id}"


@login_required
@require_POST
@refusal_redirect(to=_line_url, template=REFUSED_PAGE)
def transcript_line_edit(request, pk, line_id):
    services.transcript_line_correct(
        recording_id=pk, line_id=line_id, actor=request.user, text=request.POST.get("text", "")
    )
    messages.success(request, _("The line is corrected."))
    return redirect(_line_url(request, pk, line_id))


@login_required
@require_POST
@refusal_page(REFUSED_PAGE)
def transcript_delete(request, pk):
    services.transcript_delete(recording_id=pk, actor=request.user)
    messages.success(request, _("The transcript is deleted."))
    return redirect("recordings:detail", pk=pk)
