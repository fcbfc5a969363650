"""Pages and endpoints of clips and of the podcast feed. Thin: each calls one service or selector of
recordings.services and recordings.selectors; refusals are answered by spaces_project/refusals.py
as each view declares."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.selectors import profile_get_for_viewer
from spaces_project.refusals import (
    refusal_json_or_redirect,
    refusal_page,
    refusal_redirect,
    refusal_text,
    wants_json,
)

from . import artwork, podcast, selectors, services
from .models import Clip
from .selectors import clock
from .services import RecordingFiles
from .streaming import serve_file

REFUSED_PAGE = "recordings/refused.html"
STATUS_POLL_MS = 1000
# The card's player in an iframe elsewhere (twitter:player): any site may frame it; it runs no script.
EMBED_POLICY = (
    "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'self' 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors *"
)


def _absolute(path: str) -> str:
    return settings.SITE_URL + path


def _clip_context(request: HttpRequest, clip: Clip) -> dict:
    room = clip.recording.room
    return {
        "clip": clip,
        "room": room,
        "recording": clip.recording,
        "duration_label": services.seconds_label(clip.duration_ms),
        "starts_at": clock(clip.start_ms),
        # A transcript the host deleted (or a moderator removed) takes the clip's captions with it.
        "caption_lines": []
        if selectors.clip_captions_withdrawn(clip=clip)
        else [line for line in clip.caption_text.splitlines() if line.strip()],
        "may_delete": selectors.clip_may_delete(clip=clip, viewer=request.user),
        "page_url": _absolute(reverse("clips:detail", args=[clip.pk])),
        "audio_url": _absolute(reverse("clips:audio", args=[clip.pk])),
        "embed_url": _absolute(reverse("clips:embed", args=[clip.pk])),
        "image_url": _absolute(reverse("clips:waveform", args=[clip.pk])),
        "poll_ms": STATUS_POLL_MS,
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
    response["Content-Security-Policy"] = EMBED_POLICY
    return response


@require_GET
@refusal_json_or_redirect(to=lambda request, pk: reverse("clips:detail", args=[pk]))
def clip_status(request, pk):
    clip = selectors.clip_get_for_viewer(clip_id=pk, viewer=request.user)
    return JsonResponse(selectors.clip_status_payload(clip=clip))


def _clip_file(request: HttpRequest, pk: int, which: str, content_type: str) -> HttpResponse:
    clip = selectors.clip_get_for_viewer(clip_id=pk, viewer=request.user)
    if clip.status != Clip.Status.READY:
        raise Http404("This clip is not ready.")
    files = services.ClipFiles(clip.pk)
    path = getattr(files, which)
    if not path.exists():
        raise Http404("This file is missing.")
    return serve_file(request, path, content_type=content_type)


@require_http_methods(["GET", "HEAD"])
@refusal_text
def clip_audio(request, pk):
    """The clip's Ogg Opus: permission checked on every request (ticket holders only for a ticketed
    room), Range supported."""
    return _clip_file(request, pk, "audio", "audio/ogg")


@require_http_methods(["GET", "HEAD"])
@refusal_text
def clip_waveform(request, pk):
    return _clip_file(request, pk, "waveform", "image/png")


def _created(request: HttpRequest, clip: Clip) -> HttpResponse:
    url = reverse("clips:detail", args=[clip.pk])
    if wants_json(request):
        return JsonResponse({"id": clip.pk, "url": url, "status": clip.status}, status=201)
    messages.success(request, "Your clip is being cut; it is ready in a moment.")
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
    messages.success(request, "The clip is deleted.")
    return redirect("recordings:detail", pk=clip.recording_id)


def _back_to_replay(request: HttpRequest, pk: int) -> str:
    return reverse("recordings:detail", args=[pk])


@require_POST
@login_required
@refusal_redirect(to=_back_to_replay, template=REFUSED_PAGE)
def recording_clipping(request, pk):
    """The host turns clipping of their room on or off."""
    enabled = request.POST.get("enabled") == "1"
    recording = services.recording_set_clipping(recording_id=pk, actor=request.user, enabled=enabled)
    messages.success(
        request, "Listeners can clip this room." if enabled else "Clipping is off for this room."
    )
    if recording.status == recording.Status.CAPTURING:
        return redirect("rooms:detail", pk=recording.room_id)
    return redirect("recordings:detail", pk=pk)


# -- podcast ---------------------------------------------------------------------------------------------


@require_POST
@login_required
@refusal_redirect(to=_back_to_replay, template=REFUSED_PAGE)
def podcast_publish(request, pk):
    """The host publishes their replay to their podcast feed, or takes it out."""
    published = request.POST.get("published") == "1"
    services.recording_set_podcast(recording_id=pk, actor=request.user, published=published)
    messages.success(
        request, "Published to your podcast." if published else "This replay is no longer in your podcast."
    )
    return redirect("recordings:detail", pk=pk)


@require_http_methods(["GET", "HEAD"])
def podcast_feed(request, handle):
    """`/@handle/podcast.rss`: the host's published replays, for podcast apps (no session needed)."""
    host = profile_get_for_viewer(handle=handle, viewer=request.user)
    if host.handle != handle:
        return redirect("podcast:feed", handle=host.handle, permanent=True)
    episodes = []
    if host.is_active and not host.is_suspended:
        for recording in selectors.podcast_episodes(host=host):
            room = recording.room
            replay = RecordingFiles(room.pk).replay
            if not replay.exists():
                continue
            episodes.append(
                podcast.Episode(
                    guid=f"spaces-replay-{recording.pk}",
                    title=room.title,
                    link=_absolute(reverse("recordings:detail", args=[recording.pk])),
                    published=room.started_at or recording.published_at or recording.created_at,
                    audio_url=_absolute(reverse("podcast:audio", args=[recording.pk])),
                    audio_bytes=replay.stat().st_size,
                    duration_s=round(recording.duration_ms / 1000),
                    notes=selectors.podcast_show_notes(recording=recording).as_text()
                    or f"Recorded live on Spaces, hosted by {host.name}.",
                    image_url=_absolute(reverse("podcast:cover", args=[recording.pk])),
                )
            )
    channel = podcast.Channel(
        title=f"{host.name} on Spaces",
        link=_absolute(reverse("accounts:profile", args=[host.handle])),
        feed_url=_absolute(reverse("podcast:feed", args=[host.handle])),
        author=host.name,
        description=host.bio.strip()
        or f"Replays of the live rooms {host.name} (@{host.handle}) hosted on Spaces.",
        image_url=_absolute(reverse("podcast:image", args=[host.handle])),
        episodes=episodes,
    )
    response = HttpResponse(podcast.build_feed(channel), content_type="application/rss+xml; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    return response


@require_http_methods(["GET", "HEAD"])
def podcast_image(request, handle):
    """The show's square artwork (1400 px, as Apple asks), drawn from the host's name."""
    host = profile_get_for_viewer(handle=handle, viewer=request.user)
    body = artwork.render_cover(title=f"{host.name} on Spaces", host=host.name, topics=[], size=1400)
    response = HttpResponse(body, content_type="image/jpeg")
    response["Cache-Control"] = "public, max-age=3600"
    return response


def _episode_file(request: HttpRequest, pk: int, which: str, content_type: str) -> HttpResponse:
    recording = selectors.podcast_episode_get(recording_id=pk)
    files = RecordingFiles(recording.room_id)
    path = getattr(files, which)
    if not path.exists():
        raise Http404("This file is missing.")
    return serve_file(request, path, content_type=content_type)


@require_http_methods(["GET", "HEAD"])
def podcast_audio(request, pk):
    """A published episode's M4A: no session needed (podcast apps download it); 404 for anything
    that is not published in a feed."""
    return _episode_file(request, pk, "replay", "audio/mp4")


@require_http_methods(["GET", "HEAD"])
def podcast_cover(request, pk):
    return _episode_file(request, pk, "cover", "image/jpeg")
