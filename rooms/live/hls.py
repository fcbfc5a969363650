"""HLS for the mass audience, the Django side: who listens how, where a room's files go, signed URLs.

The mixer writes the files (rooms/audio/hls.py); nginx (or a CDN in front of it) serves them
(deploy/nginx/spaces.conf); without nginx (``make run``) rooms/hls_views.py serves them with the same
checks. docs/hls.md has the design and the measurements.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from ..audio import hls
from ..models import Room
from . import hls_s3
from .presence import flag_is_set

logger = logging.getLogger(__name__)

WEBSOCKET = "websocket"
HLS = "hls"
# A room directory older than this with no live room is a leftover (a mixer that died as the room
# ended): the sweep removes it. A live room's directory changes every second.
LEFTOVER_AFTER_S = 30.0


def hls_secret() -> str:
    return settings.HLS_SIGNING_SECRET or hls.derive_secret(settings.SECRET_KEY)


def room_access(room: Room) -> str:
    """Whether the room's HLS is public (cacheable by anyone) or private (signed, expiring URLs)."""
    if not room.allow_anonymous or room.is_ticketed:
        return hls.PRIVATE
    return hls.PUBLIC


def is_private(room: Room) -> bool:
    """Whether the room's listeners get signed URLs of their own, renewed while they may stay."""
    return room_access(room) == hls.PRIVATE


def in_bucket() -> bool:
    """Whether HLS goes to object storage (settings.HLS_STORAGE), not under HLS_ROOT."""
    return settings.HLS_STORAGE == "s3"


def room_directory(room_id: int, access: str) -> Path:
    return hls.room_directory(Path(settings.HLS_ROOT), room_id, access)


# Rooms whose playlist this process found missing from the bucket, and when: asked at every stage
# reload (2 s) of every room without HLS, the bucket is asked once a minute per room instead (a
# request each is cheap, not free). A takeover is what it is for, and a room's HLS listeners keep
# its flag up meanwhile.
_NO_PLAYLIST_SEEN: dict[tuple[int, str], float] = {}
NO_PLAYLIST_RECHECK_S = 60.0


def room_has_files(room_id: int, access: str) -> bool:
    """Whether a mixer has been writing the room's HLS (its directory, or its playlist in the bucket)."""
    if not in_bucket():
        return room_directory(room_id, access).is_dir()
    now = time.monotonic()
    seen = _NO_PLAYLIST_SEEN.get((room_id, access))
    if seen is not None and now - seen < NO_PLAYLIST_RECHECK_S:
        return False
    if hls_s3.playlist_exists(room_id, access):
        _NO_PLAYLIST_SEEN.pop((room_id, access), None)
        return True
    if len(_NO_PLAYLIST_SEEN) > 10_000:
        _NO_PLAYLIST_SEEN.clear()
    _NO_PLAYLIST_SEEN[(room_id, access)] = now
    return False


def read_file(room_id: int, access: str, name: str) -> bytes | None:
    """One of the room's HLS files (`name` already checked against rooms.audio.hls.FILE_NAME), or
    None when it is not there: for rooms/hls_views.py, which serves them when no nginx is in front."""
    if in_bucket():
        return hls_s3.read(room_id, access, name)
    try:
        return (room_directory(room_id, access) / name).read_bytes()
    except OSError:
        return None


def playlist_url(room: Room, *, listener: str, now: float | None = None) -> str:
    """The URL a listener's page plays: plain for public rooms; for the others signed for this
    listener (the token of their socket) and expiring after `url_lifetime()`."""
    if room_access(room) == hls.PUBLIC:
        return f"{settings.HLS_URL_PREFIX}{room.pk}/{hls.PLAYLIST}"
    return signed_playlist_url(room.pk, listener=listener, now=now)[0]


def signed_playlist_url(room_id: int, *, listener: str, now: float | None = None) -> tuple[str, int]:
    """A private room's playlist URL for one listener, and when it expires (Unix seconds). Issue it
    only to someone the room's door would let in now, or a renewal period ago (rooms/consumers.py)."""
    expires = int((time.time() if now is None else now) + url_lifetime())
    path = hls.signed_path(room_id=room_id, listener=listener, expires=expires, secret=hls_secret())
    return settings.HLS_URL_PREFIX + path, expires


def url_lifetime() -> int:
    """Seconds a signed playlist URL works (settings.HLS_SIGNED_URL_SECONDS, 90 by default)."""
    return int(settings.HLS_SIGNED_URL_SECONDS)


def renewal_seconds() -> float:
    """How often a listener's socket brings a fresh URL: a third of its life, so two renewals can
    be lost before the page notices. Access taken back ends within the life plus this (the URL
    issued on the last check before the refusal): 90 + 30 s at the default."""
    return url_lifetime() / 3


@dataclass(frozen=True)
class Route:
    mode: str  # WEBSOCKET | HLS
    playlist: str | None = None


def listener_route(
    *, on_stage: bool, invited: bool, large_audience: bool, listeners_now: int, websocket_listeners: int
) -> str:
    """How one person hears the room: the stage, whoever is invited to it, and the first
    `websocket_listeners` listeners (counting this one in `listeners_now`) over the websocket;
    everyone else, and every listener of a room marked for a large audience, over HLS."""
    if on_stage or invited:
        return WEBSOCKET
    if large_audience or listeners_now > websocket_listeners:
        return HLS
    return WEBSOCKET


def hls_flag(room_id: int) -> str:
    """The presence flag a web process raises when it sends a listener of the room to HLS."""
    return f"hls:{int(room_id)}"


def hls_wanted(room_id: int) -> str | None:
    """For the mixer: the access of the room's HLS when the room needs it, else None. It does when
    marked for a large audience, when a web process sent a listener to HLS (the one decision is the
    socket's, rooms/consumers.py), or when another mixer was writing it (a takeover continues it).
    Once started, a room's HLS goes on until the room ends."""
    room = Room.objects.filter(pk=room_id, state=Room.State.LIVE).first()
    if room is None:
        return None
    access = room_access(room)
    if room.large_audience or flag_is_set(hls_flag(room_id)) or room_has_files(room_id, access):
        return access
    return None


def open_writer(room_id: int) -> hls.HlsWriter | None:
    """An HLS writer for the room when it needs one (see hls_wanted), continuing its playlist."""
    access = hls_wanted(room_id)
    if access is None:
        return None
    frames = int(settings.HLS_SEGMENT_SECONDS) * 1000 // hls.FRAME_MS
    if in_bucket():
        return hls.HlsWriter(hls_s3.open_store(room_id, access), segment_frames=frames)
    return hls.HlsWriter(room_directory(room_id, access), segment_frames=frames)


def remove_ended(*, now: float | None = None) -> list[int]:
    """Remove the HLS files of rooms that are not live any more and have not changed for
    LEFTOVER_AFTER_S; return their ids. Periodic."""
    now = time.time() if now is None else now
    if in_bucket():
        found = [(room_id, prefix) for room_id, _, prefix in hls_s3.room_prefixes()]
    else:
        found = hls.room_directories(Path(settings.HLS_ROOT))
    live = set(
        Room.objects.filter(pk__in={room_id for room_id, _ in found}, state=Room.State.LIVE).values_list(
            "pk", flat=True
        )
    )
    removed = []
    for room_id, place in found:
        if room_id in live:
            continue
        changed = _last_change(place)
        if changed is not None and now - changed > LEFTOVER_AFTER_S:
            if in_bucket():
                hls_s3.remove_prefix(place)
            else:
                hls.remove_directory(place)
            removed.append(room_id)
    return removed


def _last_change(place: Path | str) -> float | None:
    if isinstance(place, str):
        return hls_s3.newest_change(place)
    try:
        return place.stat().st_mtime
    except OSError:
        return None
