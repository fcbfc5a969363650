"""The archive of one person's data: what goes in it, section by section.

Each section is written by a function that gets the zip file and the user; `SECTIONS` is the
order the task follows, and the task reports progress after each. Other apps' data is read
through their models here, lazily imported, because rooms, recordings and moderation depend on
accounts and not the reverse.
"""

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

from .models import Block, Follow, Notification, User


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _write_json(archive: zipfile.ZipFile, name: str, data) -> None:
    archive.writestr(name, json.dumps(data, indent=2, ensure_ascii=False))


def write_profile(archive: zipfile.ZipFile, user: User) -> None:
    _write_json(
        archive,
        "profile.json",
        {
            "handle": user.handle,
            "email": user.email,
            "display_name": user.display_name,
            "bio": user.bio,
            "date_joined": _iso(user.date_joined),
            "last_login": _iso(user.last_login),
            "is_suspended": user.is_suspended,
        },
    )
    if user.avatar_256:
        try:
            with user.avatar_256.open("rb") as image:
                archive.writestr("avatar.jpg", image.read())
        except FileNotFoundError:
            pass


def write_social_graph(archive: zipfile.ZipFile, user: User) -> None:
    following = Follow.objects.filter(follower=user).select_related("followee")
    followers = Follow.objects.filter(followee=user).select_related("follower")
    _write_json(
        archive,
        "follows.json",
        {
            "following": [{"handle": f.followee.handle, "since": _iso(f.created_at)} for f in following],
            "followers": [{"handle": f.follower.handle, "since": _iso(f.created_at)} for f in followers],
        },
    )
    blocks = Block.objects.filter(blocker=user).select_related("blocked")
    _write_json(
        archive, "blocks.json", [{"handle": b.blocked.handle, "since": _iso(b.created_at)} for b in blocks]
    )


def write_rooms(archive: zipfile.ZipFile, user: User) -> None:
    from rooms.models import Participant, Room

    hosted = Room.objects.filter(host=user).prefetch_related("room_topics__tag").order_by("created_at")
    _write_json(
        archive,
        "rooms/hosted.json",
        [
            {
                "id": room.pk,
                "title": room.title,
                "description": room.description,
                "state": room.state,
                "topics": [rt.tag.name for rt in room.room_topics.all()],
                "recorded": room.is_recorded,
                "scheduled_for": _iso(room.scheduled_for),
                "started_at": _iso(room.started_at),
                "ended_at": _iso(room.ended_at),
            }
            for room in hosted
        ],
    )
    joined = Participant.objects.filter(user=user).exclude(room__host=user).select_related("room")
    _write_json(
        archive,
        "rooms/joined.json",
        [
            {"room": p.room.title, "room_id": p.room_id, "role": p.role, "joined_at": _iso(p.joined_at)}
            for p in joined
        ],
    )


def write_recordings(archive: zipfile.ZipFile, user: User) -> None:
    from recordings.models import Recording
    from recordings.services import RecordingFiles

    listing = []
    for recording in Recording.objects.filter(room__host=user).select_related("room").order_by("pk"):
        entry = {
            "room": recording.room.title,
            "status": recording.status,
            "duration_ms": recording.duration_ms,
            "plays": recording.play_count,
            "published_at": _iso(recording.published_at),
            "audio": None,
        }
        replay = RecordingFiles(recording.room_id).replay
        if recording.status == Recording.Status.READY and replay.exists():
            entry["audio"] = f"recordings/{recording.pk}.m4a"
            # Audio is already compressed: store it, do not spend CPU deflating it again.
            archive.write(replay, entry["audio"], compress_type=zipfile.ZIP_STORED)
        listing.append(entry)
    _write_json(archive, "recordings/recordings.json", listing)


def write_transcripts(archive: zipfile.ZipFile, user: User) -> None:
    """Transcripts of the replays the person hosts, and what they said in other people's replays."""
    from recordings.selectors import transcripts_for_export

    _write_json(archive, "transcripts.json", transcripts_for_export(user=user))


def write_clips(archive: zipfile.ZipFile, user: User) -> None:
    """The clips the person made, with their audio (Ogg Opus)."""
    from recordings.clip_selectors import clips_for_export
    from recordings.clip_services import ClipFiles

    listing = []
    for clip in clips_for_export(user=user):
        entry = {
            "title": clip.title,
            "room": clip.recording.room.title,
            "start_ms": clip.start_ms,
            "end_ms": clip.end_ms,
            "status": clip.status,
            "made_at": _iso(clip.created_at),
            "captions": clip.caption_text,
            "audio": None,
        }
        audio = ClipFiles(clip.pk).audio
        if clip.status == clip.Status.READY and audio.exists():
            entry["audio"] = f"clips/{clip.pk}.ogg"
            archive.write(audio, entry["audio"], compress_type=zipfile.ZIP_STORED)
        listing.append(entry)
    _write_json(archive, "clips/clips.json", listing)


def write_notifications(archive: zipfile.ZipFile, user: User) -> None:
    _write_json(
        archive,
        "notifications.json",
        [
            {
                "kind": n.kind,
                "text": n.text,
                "url": n.url,
                "at": _iso(n.created_at),
                "read_at": _iso(n.read_at),
            }
            for n in Notification.objects.filter(recipient=user)
        ],
    )


def write_reports(archive: zipfile.ZipFile, user: User) -> None:
    from moderation.models import Report

    _write_json(
        archive,
        "reports_filed.json",
        [
            {
                "target": f"{r.target_type} {r.target}",
                "reason": r.reason,
                "note": r.note,
                "status": r.status,
                "filed_at": _iso(r.created_at),
            }
            for r in Report.objects.filter(reporter=user).select_related(
                "target_room", "target_user", "target_recording__room"
            )
        ],
    )


@dataclass(frozen=True)
class Section:
    label: str
    write: Callable[[zipfile.ZipFile, User], None]


# Tickets join this list when that feature lands (its app adds a section).
SECTIONS = [
    Section("Your profile", write_profile),
    Section("Follows and blocks", write_social_graph),
    Section("Your rooms", write_rooms),
    Section("Your recordings", write_recordings),
    Section("Transcripts", write_transcripts),
    Section("Your clips", write_clips),
    Section("Notifications", write_notifications),
    Section("Reports you filed", write_reports),
]

README = """This archive holds the data Spaces keeps about you.

profile.json            your profile (and avatar.jpg, if you had one)
follows.json            who you follow and who follows you
blocks.json             who you blocked
rooms/hosted.json       the rooms you hosted or scheduled
rooms/joined.json       the rooms you joined
recordings/             your recordings: recordings.json and the audio of each replay
transcripts.json        the transcripts of your replays, and your lines in other people's replays
clips/                  the clips you made: clips.json and the audio of each clip
notifications.json      your notifications
reports_filed.json      the reports you filed
"""
