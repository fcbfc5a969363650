"""Every write about the podcast feed: the host publishes a ready replay that anyone may play, signed in
or not (not a ticketed room's, nor one of a room only for signed-in listeners:
selectors.podcast_refusal); a replay is in no feed until its host publishes it."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from spaces_project.errors import ServiceError

from ..models import Recording
from ..selectors import podcast_refusal
from .access import locked_for_host


@transaction.atomic
def recording_set_podcast(*, recording_id: int, actor, published: bool) -> Recording:
    """The host publishes a ready replay to their podcast feed, or takes it out again."""
    recording = locked_for_host(recording_id, actor, _("Only the host can publish this replay."))
    if not published:
        recording.podcast_published_at = None
        recording.save(update_fields=["podcast_published_at"])
        return recording
    refusal = podcast_refusal(recording=recording)
    if refusal is not None:
        raise refusal
    if recording.status != Recording.Status.READY:
        raise ServiceError("not_ready", _("This replay is not ready yet."))
    if recording.podcast_published_at is None:
        recording.podcast_published_at = timezone.now()
        recording.save(update_fields=["podcast_published_at"])
    return recording
