"""Pages of the podcast feed: the host's switch, the feed and its episodes' files. The feed and the
files need no session (podcast apps download them); only published episodes anyone may play are
served (recordings.selectors.podcast_episodes)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.selectors import profile_get_for_viewer
from spaces_project import media
from spaces_project.refusals import refusal_redirect

from .. import artwork, podcast, selectors, services
from ..files import RecordingFiles
from .common import REFUSED_PAGE, absolute_url, back_to_replay


@require_POST
@login_required
@refusal_redirect(to=back_to_replay, template=REFUSED_PAGE)
def podcast_publish(request, pk):
    """The host publishes their replay to their podcast feed, or takes it out."""
    published = request.POST.get("published") == "1"
    services.recording_set_podcast(recording_id=pk, actor=request.user, published=published)
    messages.success(
        request,
        _("Published to your podcast.") if published else _("This replay is no longer in your podcast."),
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
            replay = RecordingFiles(room.pk).replay_name
            if not media.exists(replay):
                continue
            episodes.append(
                podcast.Episode(
                    guid=f"spaces-replay-{recording.pk}",
                    title=room.title,
                    link=absolute_url(reverse("recordings:detail", args=[recording.pk])),
                    published=room.started_at or recording.published_at or recording.created_at,
                    audio_url=absolute_url(reverse("podcast:audio", args=[recording.pk])),
                    audio_bytes=media.size(replay),
                    duration_s=round(recording.duration_ms / 1000),
                    notes=selectors.podcast_show_notes(recording=recording).as_text()
                    or f"Recorded live on Spaces, hosted by {host.name}.",
                    image_url=absolute_url(reverse("podcast:cover", args=[recording.pk])),
                )
            )
    channel = podcast.Channel(
        title=f"{host.name} on Spaces",
        link=absolute_url(reverse("accounts:profile", args=[host.handle])),
        feed_url=absolute_url(reverse("podcast:feed", args=[host.handle])),
        author=host.name,
        description=host.bio.strip()
        or f"Replays of the live rooms {host.name} (@{host.handle}) hosted on Spaces.",
        image_url=absolute_url(reverse("podcast:image", args=[host.handle])),
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
    name = getattr(RecordingFiles(recording.room_id), f"{which}_name")
    if not media.exists(name):
        raise Http404("This file is missing.")
    plays_s = recording.duration_ms / 1000 if which == "replay" else 0
    return media.serve(request, name, content_type=content_type, plays_s=plays_s)


@require_http_methods(["GET", "HEAD"])
def podcast_audio(request, pk):
    """A published episode's M4A: no session needed (podcast apps download it); 404 for anything
    that is not published in a feed."""
    return _episode_file(request, pk, "replay", "audio/mp4")


@require_http_methods(["GET", "HEAD"])
def podcast_cover(request, pk):
    return _episode_file(request, pk, "cover", "image/jpeg")
