"""Pages and endpoints of clips. Thin: each calls one service or selector (recordings.services,
recordings.selectors); refusals are answered by spaces_project/refusals.py as each view declares."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from spaces_project import media
from spaces_project.refusals import (
    refusal_json_or_redirect,
    refusal_page,
    refusal_redirect,
    refusal_text,
    wants_json,
)

from .. import selectors, services
from ..files import ClipFiles
from ..models import Clip
from .common import REFUSED_PAGE, absolute_url, back_to_replay

STATUS_POLL_MS = 1000


# The card's player in an iframe elsewhere (twitter:player): any site may frame it; it runs one script
# of ours (static/js/play-report.js: the play it counts for the room's host) and nothing inline.
# With media in object storage the audio and images come from the bucket too (docs/production.md).
def embed_policy() -> str:
    media_sources = " ".join(["'self'", *media.origins()])
    return (
        f"default-src 'none'; img-src {media_sources}; media-src {media_sources}; "
        "style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors *"
    )


def _clip_context(request: HttpRequest, clip: Clip) -> dict:
    room = clip.recording.room
    return {
        "clip": clip,
        "room": room,
        "recording": clip.recording,
        "duration_label": services.seconds_label(clip.duration_ms),
        "starts_at": selectors.clock(clip.start_ms),
        # A transcript the host deleted (or a moderator removed) takes the clip's captions with it.
        "caption_lines": []
        if selectors.clip_captions_withdrawn(clip=clip)
        else [line for line in clip.caption_text.splitlines() if line.strip()],
        "may_delete": selectors.clip_may_delete(clip=clip, viewer=request.user),
        "page_url": absolute_url(reverse("clips:detail", args=[clip.pk])),
        "audio_url": absolute_url(reverse("clips:audio", args=[clip.pk])),
        "embed_url": absolute_url(reverse("clips:embed", args=[clip.pk])),
        "image_url": absolute_url(reverse("clips:waveform", args=[clip.pk])),
        "poll_ms": STATUS_POLL_MS,
        # Where the room's listeners came from, for its host (rooms/analytics/): this clip, or its embed.
        "room_src": "embed" if request.GET.get("src") == "embed" else "clip",
    }


@require_GET
@refusal_page(REFUSED_PAGE)
def clip_detail(request, pk):
    clip = selectors.clip_get_for_viewer(clip_id=pk, viewer=request.user)
    return render(request, "recordings/clip_detail.html", _clip_context(request, clip))


@require_GET
@xframe_options_exempt
@refusal_page(REFUSED_PAGE)
def clip_embed(request, pk):
    """The small player a card shows (twitter:player): the clip, its title and a link to its page."""
    clip = selectors.clip_get_for_viewer(clip_id=pk, viewer=request.user)
    if clip.status != Clip.Status.READY:
        raise Http404("This clip is not ready.")
    response = render(request, "recordings/clip_embed.html", _clip_context(request, clip))
    response["Content-Security-Policy"] = embed_policy()
    return response


@require_GET
@refusal_json_or_redirect(to=lambda request, pk: reverse("clips:detail", args=[pk]))
def clip_status(request, pk):
    clip = selectors.clip_get_for_viewer(clip_id=pk, viewer=request.user)
    return JsonResponse(selectors.clip_status_payload(clip=clip))


def _clip_file(request: HttpRequest, clip: Clip, which: str, content_type: str) -> HttpResponse:
    if clip.status != Clip.Status.READY:
        raise Http404("This clip is not ready.")
    name = getattr(ClipFiles(clip.pk), f"{which}_name")
    if not media.exists(name):
        raise Http404("This file is missing.")
    return media.serve(request, name, content_type=content_type)


@require_http_methods(["GET", "HEAD"])
@refusal_text
def clip_audio(request, pk):
    """The clip's Ogg Opus: permission checked on every request (ticket holders only for a ticketed
    room), Range supported. Plays are counted by the players' scripts (views/analytics.py), not here:
    a player that preloads the clip's length asks for the same bytes as one that starts it."""
    clip = selectors.clip_get_for_viewer(clip_id=pk, viewer=request.user)
    return _clip_file(request, clip, "audio", "audio/ogg")


@require_http_methods(["GET", "HEAD"])
@refusal_text
def clip_waveform(request, pk):
    clip = selectors.clip_get_for_viewer(clip_id=pk, viewer=request.user)
    return _clip_file(request, clip, "waveform", "image/png")


def _created(request: HttpRequest, clip: Clip) -> HttpResponse:
    url = reverse("clips:detail", args=[clip.pk])
    if wants_json(request):
        return JsonResponse({"id": clip.pk, "url": url, "status": clip.status}, status=201)
    messages.success(request, _("Your clip is being cut; it is ready in a moment."))
    return redirect(url)


@require_POST
@login_required
@refusal_json_or_redirect(to=lambda request, pk: reverse("recordings:detail", args=[pk]))
def clip_create_from_replay(request, pk):
    """Clip [start, end] seconds of a replay (the replay page sends the player's positions)."""
    clip = services.clip_create_from_replay(
        recording_id=pk,
        actor=request.user,
        start=request.POST.get("start", ""),
        end=request.POST.get("end", ""),
        title=request.POST.get("title", ""),
    )
    return _created(request, clip)


@require_POST
@login_required
@refusal_json_or_redirect(to=lambda request, pk: reverse("rooms:detail", args=[pk]))
def clip_create_live(request, pk):
    """Clip the last 30 or 60 s of a live recorded room."""
    clip = services.clip_create_live(
        room_id=pk,
        actor=request.user,
        seconds=request.POST.get("seconds", ""),
        title=request.POST.get("title", ""),
    )
    return _created(request, clip)


@require_POST
@login_required
@refusal_page(REFUSED_PAGE)
def clip_delete(request, pk):
    clip = services.clip_delete(clip_id=pk, actor=request.user)
    messages.success(request, _("The clip is deleted."))
    return redirect("recordings:detail", pk=clip.recording_id)


@require_POST
@login_required
@refusal_redirect(to=back_to_replay, template=REFUSED_PAGE)
def recording_clipping(request, pk):
    """The host turns clipping of their room on or off."""
    enabled = request.POST.get("enabled") == "1"
    recording = services.recording_set_clipping(recording_id=pk, actor=request.user, enabled=enabled)
    messages.success(
        request, _("Listeners can clip this room.") if enabled else _("Clipping is off for this room.")
    )
    if recording.status == recording.Status.CAPTURING:
        return redirect("rooms:detail", pk=recording.room_id)
    return redirect("recordings:detail", pk=pk)
