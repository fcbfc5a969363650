"""Reads about podcast feeds. A podcast episode is a replay its host published there that anybody may
play (selectors.replays.replays_anyone_may_play): an app downloads it without a session."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from accounts.models import User
from spaces_project.errors import NotFound, ServiceError

from ..models import Recording, Transcript
from .replays import clock, recording_refusal_for_anyone, replays_anyone_may_play
from .transcripts import transcript_chapters, transcript_lines


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
            _("A ticketed room cannot be published to your podcast: its replay is only for ticket holders."),
        )
    if not room.allow_anonymous:
        return ServiceError(
            "sign_in_only",
            _(
                "This room was only for signed-in listeners, so its replay cannot go to your podcast, "
                "where anyone can download it."
            ),
        )
    return ServiceError("not_public", _("Only a replay anyone may play can go to your podcast."))


def podcast_episodes(*, host: User) -> QuerySet[Recording]:
    """The host's replays in their podcast: published there, ready, playable by anyone; newest first."""
    return _episodes().filter(room__host=host).order_by("-room__started_at", "-pk")


def podcast_episode_get(*, recording_id: int) -> Recording:
    """A published episode, for anyone (a podcast app has no session); NotFound for anything else."""
    recording = _episodes().filter(pk=recording_id).first()
    if recording is None or recording.room.host.is_suspended or not recording.room.host.is_active:
        raise NotFound(_("This episode does not exist."))
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
