"""Reads about clips. Who may see a clip is who may listen to its room: one rule,
selectors.replays.recording_get_for_listener (a ticketed room's clips: its ticket holders)."""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext as _

from accounts.models import User
from spaces_project.errors import NotFound

from ..files import ClipFiles
from ..models import Clip, Recording, Transcript
from .replays import recording_get_for_listener


def clip_get_for_viewer(*, clip_id: int, viewer) -> Clip:
    """Return the clip if `viewer` may listen to its room; raise NotFound (or the listener rule's
    refusal: sign in, ticket required) otherwise. Deleted and removed clips do not exist."""
    clip = (
        Clip.objects.select_related("recording__room__host", "created_by")
        .exclude(status__in=[Clip.Status.DELETED, Clip.Status.REMOVED])
        .filter(pk=clip_id)
        .first()
    )
    if clip is None:
        raise NotFound(_("This clip does not exist."))
    recording_get_for_listener(recording_id=clip.recording_id, viewer=viewer)
    return clip


def clips_of_recording(*, recording: Recording, limit: int = 20) -> list[Clip]:
    """The ready clips of a recording the viewer may already listen to, newest first."""
    return list(
        Clip.objects.filter(recording=recording, status=Clip.Status.READY)
        .select_related("created_by")
        .order_by("-created_at")[:limit]
    )


def clip_may_delete(*, clip: Clip, viewer) -> bool:
    if not getattr(viewer, "is_authenticated", False):
        return False
    return viewer.pk in (clip.created_by_id, clip.recording.room.host_id)


def clip_captions_withdrawn(*, clip: Clip) -> bool:
    return Transcript.objects.filter(
        recording_id=clip.recording_id, status__in=[Transcript.Status.DELETED, Transcript.Status.REMOVED]
    ).exists()


def clip_status_payload(*, clip: Clip) -> dict:
    return {
        "status": clip.status,
        "ready": clip.status == Clip.Status.READY,
        "failed": clip.status == "failed",
    }


def clip_prefixes_of(*, user: User) -> list[str]:
    """The media prefixes of the clips `user` made and of the clips of rooms they hosted (their
    account is being deleted: the rows cascade, the files must go too)."""
    ids = Clip.objects.filter(Q(created_by=user) | Q(recording__room__host=user)).values_list("pk", flat=True)
    return [ClipFiles(clip_id).prefix for clip_id in ids]


def clips_for_export(*, user: User) -> list[Clip]:
    """The clips `user` made that still exist, oldest first, for their data export."""
    return list(
        Clip.objects.filter(created_by=user)
        .exclude(status__in=[Clip.Status.DELETED, Clip.Status.REMOVED])
        .select_related("recording__room")
        .order_by("pk")
    )
