"""Reads about clips and podcast feeds. Who may see a clip is who may listen to its room: one rule,
recordings.selectors.recording_get_for_listener (a ticketed room's clips: its ticket holders). A podcast
episode is a replay that rule lets anybody play."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from accounts.models import User
from spaces_project.errors import NotFound, ServiceError

from .models import Clip, Recording, Transcript
from .selectors import (
    clock,
    recording_get_for_listener,
    recording_refusal_for_anyone,
    replays_anyone_may_play,
    transcript_chapters,
    transcript_lines,
)


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
        raise NotFound("This clip does not exist.")
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


def clip_directories_of(*, user: User) -> list:
    """The file directories of the clips `user` made and of the clips of rooms they hosted (their
    account is being deleted: the rows cascade, the files must go too)."""
    from django.db.models import Q

    from .clip_services import ClipFiles

    ids = Clip.objects.filter(Q(created_by=user) | Q(recording__room__host=user)).values_list("pk", flat=True)
    return [ClipFiles(clip_id).directory for clip_id in ids]


def clips_for_export(*, user: User) -> list[Clip]:
    """The clips `user` made that still exist, oldest first, for their data export."""
    return list(
        Clip.objects.filter(created_by=user)
        .exclude(status__in=[Clip.Status.DELETED, Clip.Status.REMOVED])
        .select_related("recording__room")
        .order_by("pk")
    )


# -- podcast ---------------------------------------------------------------------------------------------


def _episodes() -> QuerySet[Recording]:
    """What may be a podcast episode: a replay its host published there that anybody may play (an
    app downloads it without a session). One published before its room stopped being open to
    everyone, or by a stray write, is not served."""
    return replays_anyone_may_play().filter(podcast_published_at__isnull=False)


def podcast_refusal(*, recording: Recording) -> ServiceError | None:
    """Why `recording` cannot be an episode of its host's podcast, said to the host; None if it can
    (it still has to be ready). Anyone can download an episode, so only a replay anyone may play can
    be one: recording_get_for_listener's rule for a visitor nobody knows."""
    if recording_refusal_for_anyone(recording_id=recording.pk) is None:
        return None
    room = recording.room
    if room.is_ticketed:
        return ServiceError(
            "ticketed",
            "A ticketed room cannot be published to your podcast: its replay is only for ticket holders.",
        )
    if not room.allow_anonymous:
        return ServiceError(
            "sign_in_only",
            "This room was only for signed-in listeners, so its replay cannot go to your podcast, "
            "where anyone can download it.",
        )
    return ServiceError("not_public", "Only a replay anyone may play can go to your podcast.")


def podcast_episodes(*, host: User) -> QuerySet[Recording]:
    """The host's replays in their podcast: published there, ready, playable by anyone; newest first."""
    return _episodes().filter(room__host=host).order_by("-room__started_at", "-pk")


def podcast_episode_get(*, recording_id: int) -> Recording:
    """A published episode, for anyone (a podcast app has no session); NotFound for anything else."""
    recording = _episodes().filter(pk=recording_id).first()
    if recording is None or recording.room.host.is_suspended or not recording.room.host.is_active:
        raise NotFound("This episode does not exist.")
    return recording


@dataclass
class ShowNotes:
    description: str
    chapters: list[tuple[str, str, str]]  # (start label, speaker, preview)

    def as_text(self) -> str:
        parts = [self.description] if self.description else []
        if self.chapters:
            parts.append("Chapters:\n" + "\n".join(f"{at} {who}: {text}" for at, who, text in self.chapters))
        return "\n\n".join(parts)


def podcast_show_notes(*, recording: Recording) -> ShowNotes:
    """The room's description and the replay's chapters (one per change of speaker)."""
    transcript = Transcript.objects.filter(recording=recording, status=Transcript.Status.READY).first()
    chapters = []
    if transcript is not None:
        for chapter in transcript_chapters(lines=transcript_lines(transcript=transcript)):
            chapters.append((clock(chapter.start_ms), chapter.speaker_name, chapter.preview))
    return ShowNotes(recording.room.description.strip(), chapters)
