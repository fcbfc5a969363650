"""recordings' part of a person's data archive (accounts/export.py): their recordings with the audio
of each replay, the transcripts of their replays and their lines in other people's, and the clips
they made with their audio. RecordingsConfig.ready registers these sections."""

import zipfile

from django.utils.translation import gettext_noop

from accounts.export import Section, iso, register, write_json
from accounts.models import User
from spaces_project import media

from .files import ClipFiles, RecordingFiles
from .models import Recording
from .selectors import clips_for_export, transcripts_for_export


def write_recordings(archive: zipfile.ZipFile, user: User) -> None:
    listing = []
    for recording in Recording.objects.filter(room__host=user).select_related("room").order_by("pk"):
        entry = {
            "room": recording.room.title,
            "status": recording.status,
            "duration_ms": recording.duration_ms,
            "plays": recording.play_count,
            "published_at": iso(recording.published_at),
            "audio": None,
        }
        replay = RecordingFiles(recording.room_id).replay_name
        if recording.status == Recording.Status.READY and media.exists(replay):
            entry["audio"] = f"recordings/{recording.pk}.m4a"
            # Audio is already compressed: store it, do not spend CPU deflating it again.
            with media.fetched(replay) as path:  # in the bucket: a temporary copy, one at a time
                archive.write(path, entry["audio"], compress_type=zipfile.ZIP_STORED)
        listing.append(entry)
    write_json(archive, "recordings/recordings.json", listing)


def write_transcripts(archive: zipfile.ZipFile, user: User) -> None:
    """Transcripts of the replays the person hosts, and what they said in other people's replays."""
    write_json(archive, "transcripts.json", transcripts_for_export(user=user))


def write_clips(archive: zipfile.ZipFile, user: User) -> None:
    """The clips the person made, with their audio (Ogg Opus)."""
    listing = []
    for clip in clips_for_export(user=user):
        entry = {
            "title": clip.title,
            "room": clip.recording.room.title,
            "start_ms": clip.start_ms,
            "end_ms": clip.end_ms,
            "status": clip.status,
            "made_at": iso(clip.created_at),
            "captions": clip.caption_text,
            "audio": None,
        }
        audio = ClipFiles(clip.pk).audio_name
        if clip.status == clip.Status.READY and media.exists(audio):
            entry["audio"] = f"clips/{clip.pk}.ogg"
            with media.fetched(audio) as path:
                archive.write(path, entry["audio"], compress_type=zipfile.ZIP_STORED)
        listing.append(entry)
    write_json(archive, "clips/clips.json", listing)


SECTIONS = (
    Section(
        gettext_noop("Your recordings"),
        write_recordings,
        {"recordings.Recording.room__host": "recordings/recordings.json"},
        {"recordings/": gettext_noop("your recordings: recordings.json and the audio of each replay")},
    ),
    Section(
        gettext_noop("Transcripts"),
        write_transcripts,
        {
            "recordings.Transcript.recording__room__host": "transcripts.json",
            "recordings.TranscriptLine.transcript__recording__room__host": "transcripts.json",
            "recordings.TranscriptLine.speaker": "transcripts.json",
        },
        {
            "transcripts.json": gettext_noop(
                "the transcripts of your replays, and your lines in other people's replays"
            )
        },
    ),
    Section(
        gettext_noop("Your clips"),
        write_clips,
        {"recordings.Clip.created_by": "clips/clips.json"},
        {"clips/": gettext_noop("the clips you made: clips.json and the audio of each clip")},
    ),
)

NOT_EXPORTED = {
    "recordings.Clip.recording__room__host": "Clips other people made of the person's replays are theirs; the person's own are exported.",
    "recordings.ReplayPlay.recording__room__host": "Plays of the person's replays are tied to no one: counted, and shown as aggregates in the room's report.",
}


def register_sections() -> None:
    """Add these sections to the archive (RecordingsConfig.ready)."""
    register(*SECTIONS, not_exported=NOT_EXPORTED)
