"""The events of a room's socket, and the shapes they carry. No Django here."""

from __future__ import annotations

from typing import Any, TypedDict

from .events import ServerEvent, event, optional

# Where a room is in its life, as pages show it: a scheduled room whose backstage is open is "backstage".
ROOM_STATUSES = ("scheduled", "backstage", "live", "ended", "cancelled")

# -- the shapes events carry -----------------------------------------------------------------------
# TypedDicts: call them like constructors (``ParticipantInfo(user_id=..., ...)``) to get the dict.


class ParticipantInfo(TypedDict):
    """A signed-in person in the room."""

    user_id: int
    handle: str
    name: str
    avatar: str  # URL of the 128 px avatar, or ""
    role: str  # one of ROLES
    muted: bool
    hand_raised: bool
    invited: bool  # invited to speak, not yet answered


class RoomInfo(TypedDict):
    """The room, as the live page needs it."""

    id: int
    title: str
    state: str  # the room's state ("live" whenever a socket is open)
    host_id: int
    speaker_policy: str  # "everyone" | "followed" | "invited"
    is_recorded: bool
    captions: bool  # live captions are on (each listener may still hide them)
    backstage: bool  # a scheduled room whose backstage is open: only the stage hears the stage
    qa: bool  # the Q&A queue is on
    started_at: str | None  # ISO 8601: when it went live (null before), for "Live since …"


class QuestionInfo(TypedDict):
    """A question in the Q&A queue."""

    id: int
    text: str
    asker_id: int
    asker_name: str
    asker_handle: str
    votes: int
    state: str  # "open" | "answering"
    created_at: str  # ISO 8601


class LinkInfo(TypedDict):
    """A link the host or a co-host pinned."""

    id: int
    title: str
    url: str


@event("room.snapshot")
class RoomSnapshot(ServerEvent):
    """The whole state, for one viewer; sent on connect and on request."""

    room: RoomInfo
    you: ParticipantInfo | None  # null for an anonymous listener
    stage: list[ParticipantInfo]  # present stage members (the host always), host first
    listeners: list[ParticipantInfo]  # present signed-in listeners, at most 100
    listener_count: int  # everyone in the audience, anonymous listeners included
    hands: list[int]  # user ids of raised hands, oldest first
    links: list[LinkInfo]
    questions: list[QuestionInfo]  # the open questions, most votes first, then the oldest
    answering: QuestionInfo | None  # the question being answered now, shown under the stage
    my_votes: list[int]  # ids of the questions the viewer upvoted
    heartbeat_seconds: float  # send a heartbeat this often


@event("room.participant_updated")
class ParticipantUpdated(ServerEvent):
    """Someone's role, mute, hand or invitation changed."""

    participant: ParticipantInfo


@event("room.participant_left")
class ParticipantLeft(ServerEvent):
    """A signed-in person left (not sent for a quiet leave; a stage member who leaves quietly is still
    shown stepping down, through ``room.participant_updated``), or a stage member's last connection
    closed."""

    user_id: int


@event("room.listeners")
class Listeners(ServerEvent):
    """The audience, at most twice a second. While it keeps changing (a web process's listeners
    moving to another all at once) an event carries the count only, unless the list is empty: the
    list follows when the audience has been still for one interval, and every few seconds while it
    is not."""

    listener_count: int
    listeners: list[ParticipantInfo] | None = optional()  # present signed-in listeners, at most 100


@event("room.speak_invited")
class SpeakInvited(ServerEvent):
    """Only the invited person receives it; ``recorded`` tells them the room is recorded before they
    take the stage."""

    to_user_id: int
    by: str  # the inviter's name
    recorded: bool


@event("room.request_declined")
class RequestDeclined(ServerEvent):
    """Only the person whose hand was declined receives it."""

    to_user_id: int


@event("room.reaction")
class Reaction(ServerEvent):
    """Someone reacted; the page floats the emoji over their avatar."""

    user_id: int
    emoji: str  # one of REACTIONS


@event("room.links")
class Links(ServerEvent):
    """The pinned links, after a pin or an unpin."""

    links: list[LinkInfo]


@event("room.settings")
class Settings(ServerEvent):
    """Who may speak changed while the room is live."""

    speaker_policy: str  # "everyone" | "followed" | "invited"


@event("room.ended")
class Ended(ServerEvent):
    """The host (or a moderator) ended the room; the socket then closes with ``CLOSE_ENDED``."""

    room_id: int


@event("room.levels")
class Levels(ServerEvent):
    """Who is speaking how loudly, [[user_id, 0..1], ...] in quarter steps, twice a second and only
    when it changes (people whose level rounds to 0 are left out)."""

    levels: list[tuple[int, float]]


@event("room.captions")
class CaptionsChanged(ServerEvent):
    """The host or a co-host turned live captions on or off for everyone in the room."""

    enabled: bool


@event("room.caption")
class CaptionLine(ServerEvent):
    """One speaker's caption line. Partials (every 2 s of their speech, by default) refine the line
    ``line`` in place until its final arrives at their pause; a final with ``skipped`` (and no text)
    marks a stretch the recognizer could not keep up with. A final with neither text nor ``skipped``
    withdraws the line (nothing was made of the sound)."""

    user_id: int
    name: str  # the speaker's display name
    line: str  # identifies the line: partials and the final of one utterance share it
    final: bool
    text: str
    skipped: bool


@event("room.questions")
class Questions(ServerEvent):
    """The Q&A queue changed (asked, voted, answered, dismissed, withdrawn, removed, turned on or off)."""

    enabled: bool
    questions: list[QuestionInfo]  # the open questions, most votes first, then the oldest
    answering: QuestionInfo | None


@event("room.my_votes")
class MyVotes(ServerEvent):
    """Only the person who voted receives it: the questions they upvote now."""

    to_user_id: int
    question_ids: list[int]


@event("room.went_live")
class WentLive(ServerEvent):
    """The host took the room from its backstage to live, the stage as it was; listeners start hearing
    it and the recording (if any) starts now."""

    room_id: int
    started_at: str  # ISO 8601


@event("room.status")
class StatusChanged(ServerEvent):
    """The room moved on in its life: every page of it gets this, the pages in the room and the pages
    of a scheduled room that only watch it (a socket to a room whose backstage is not open gets this
    event with the status at once and stays open to hear the next one, without joining). The page shows
    the parts of that status and only those; a watching page reconnects to join when the status is
    "backstage" or "live". Sent before ``room.ended`` when the room ends, and before the close of a
    cancelled room's backstage."""

    status: str  # one of ROOM_STATUSES
    started_at: str | None = optional()  # ISO 8601, while live


@event("room.audio_route")
class AudioRoute(ServerEvent):
    """How this page hears the room, sent to one socket after each snapshot and when it changes.
    "websocket": audio bundles arrive on this socket. "hls": none do; the page plays ``playlist``
    (docs/hls.md), a few seconds late, and asks for a snapshot (hence a fresh URL) when the playlist
    answers 403 or 410. A listener invited to the stage is moved to "websocket" first."""

    mode: str  # "websocket" | "hls"
    playlist: str | None = optional()  # the HLS playlist URL (signed and expiring for private rooms)


@event("room.hls_url")
class HlsUrl(ServerEvent):
    """A fresh signed playlist URL for a page hearing a private room over HLS, sent to that one socket
    about every third of a URL's life while the person may still be in the room (docs/hls.md,
    "Taking access back"). The page plays on from it at its next reload; after a refund, a block or
    a removal none comes, and the socket closes with the code a new connection would get."""

    playlist: str
    expires: int  # Unix time (s): the last second the URL works


@event("room.resync")
class Resync(ServerEvent):
    """The server lost events (for example Redis restarted); ask for a snapshot."""


@event("room.batch")
class Batch(ServerEvent):
    """Several of the other events, in order, in one frame. The server batches only when delivery falls
    behind, never by waiting."""

    events: list[dict[str, Any]]  # event payloads, each one valid on its own


@event("error")
class Error(ServerEvent):
    """A message was refused (or the person is being disconnected: a close follows)."""

    code: str
    message: str
    ref: str | None = optional()  # the ``ref`` of the message it answers, if it had one


def levels_event(levels: dict[int, float]) -> Levels:
    return Levels(levels=[(user, level) for user, level in sorted(levels.items())])
