"""The realtime contract between the server and the room page, in one place. No Django here.

Everything the server and the browsers say to each other over a room's websocket is declared in this
module, once: the messages a client may send, every event the server sends (each with a typed
constructor that fixes its fields), the nested shapes events carry, the close codes, which roles are on
the stage, and the envelope in which events travel between processes on the room bus. The binary audio
frames are declared in ``rooms/audio/wire.py``. ``static/js/room.js`` and ``static/js/audio.js`` repeat
a few constants, which ``tests/browser/test_room_js_in_step.py`` keeps in step; ``tests/rooms/test_protocol.py``
holds the code to these declarations, and every frame the socket tests receive is checked against them
(``check_event``). ``docs/protocol.md`` is generated from this module (``python -m rooms.protocol >
docs/protocol.md``; a test checks it is current).

Connecting
    ``/ws/rooms/<room_id>/`` with the site's session cookie and an allowed ``Origin``. A refused
    connection is accepted and then closed at once with one of the close codes below, so the page
    can tell the person why. A connection from a foreign Origin is refused at the handshake (403).
    A connection to a path that no socket serves is accepted and closed at once with
    ``CLOSE_UNKNOWN_PATH`` (4404), and the log gets one line.

Frames
    Text frames are JSON objects with a ``type`` and, optionally, a ``ref`` (any string up to 64
    characters) that the server copies into an error frame about that message. Text frames longer
    than ``MAX_TEXT_FRAME_BYTES`` get an ``error`` frame with code ``too_large``; daphne itself closes
    the connection (1009) for a message over 1 MiB. More than 20 messages a second on one socket are
    refused with ``rate_limited``.

Audio
    Binary frames carry audio, in the format of ``rooms/audio/wire.py``. A stage member who is not
    muted sends one uplink frame per 20 ms; every other binary frame (a listener's, a muted
    speaker's, a malformed or oversized one, more than 50 a second beyond a burst of 100) is
    dropped and counted, with no reply. The server sends downlink bundles: the program mix to
    listeners (200 ms each), and to each stage member the mix without their own voice (60 ms each).
    Silence is not sent.

The per-person channel
    Every signed-in page also keeps one socket to ``/ws/me/`` (``USER_SOCKET_PATH``), which carries
    that person's own events (``USER_EVENTS``): new notifications, the unread count, a host's reminder
    counts. The page sends nothing on it. An anonymous connection is closed with
    ``CLOSE_SIGN_IN_REQUIRED``. The server delivers the events through the channel layer group
    ``user.<id>`` (``user_group``, ``user_envelope``); ``static/js/notifications.js`` reads them.
    When the person's sessions end, every such socket closes (``user_close_envelope``): with
    ``CLOSE_SIGNED_OUT`` after signing out everywhere, a password change or the account's deletion,
    with ``CLOSE_SUSPENDED`` after a suspension.

Adding an event
    Declare one class below with ``@event("room.something")`` and its fields; build it where the
    service decides to send it (``rooms.events.publish_on_commit(room_id, SomethingHappened(...))``),
    handle it in ``room.js`` and regenerate ``docs/protocol.md``. The contract tests then cover it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypedDict

MAX_TEXT_FRAME_BYTES = 64 * 1024
MAX_REF_LENGTH = 64

# -- close codes (4000-4999 are the application's own) ----------------------------------------------

CLOSE_SIGN_IN_REQUIRED = 4001  # anonymous visitor; the host does not allow anonymous listeners
CLOSE_TICKET_REQUIRED = 4002  # a ticketed room, and the person holds no valid ticket
CLOSE_REMOVED = 4003  # removed from this room by the host or a co-host
CLOSE_NOT_FOUND = 4004  # no such room, or one the person may not see (blocked)
CLOSE_SUSPENDED = 4005  # the account is suspended
CLOSE_HEARTBEAT_TIMEOUT = 4008  # no heartbeat for two intervals
CLOSE_NOT_LIVE = 4009  # the room is scheduled, ended or cancelled
CLOSE_ENDED = 4010  # the host ended the room while you were in it
CLOSE_SIGNED_OUT = 4011  # the person signed out everywhere or changed their password; reconnect
# No socket at this path (spaces_project/websocket.py): accepted, then closed with this code.
CLOSE_UNKNOWN_PATH = 4404

CLOSE_REASONS = {
    CLOSE_SIGN_IN_REQUIRED: "Sign in to listen to this room.",
    CLOSE_TICKET_REQUIRED: "This room is for ticket holders.",
    CLOSE_REMOVED: "You were removed from this room.",
    CLOSE_NOT_FOUND: "This room does not exist.",
    CLOSE_SUSPENDED: "Your account is suspended.",
    CLOSE_HEARTBEAT_TIMEOUT: "The connection stopped responding.",
    CLOSE_NOT_LIVE: "This room is not live.",
    CLOSE_ENDED: "The room has ended.",
    CLOSE_SIGNED_OUT: "You were signed out.",
}

# Closes after which reconnecting cannot help: the answer would be the same. The page stops there.
FINAL_CLOSE_CODES = frozenset(
    {
        CLOSE_SIGN_IN_REQUIRED,
        CLOSE_TICKET_REQUIRED,
        CLOSE_REMOVED,
        CLOSE_NOT_FOUND,
        CLOSE_SUSPENDED,
        CLOSE_NOT_LIVE,
        CLOSE_ENDED,
    }
)

# A refusal (a ServiceError's code) while connecting becomes this close code; any other refusal
# closes with CLOSE_NOT_FOUND, which reveals nothing.
CLOSE_FOR_REFUSAL = {
    "sign_in_required": CLOSE_SIGN_IN_REQUIRED,
    "ticket_required": CLOSE_TICKET_REQUIRED,
    "removed": CLOSE_REMOVED,
    "not_found": CLOSE_NOT_FOUND,
    "suspended": CLOSE_SUSPENDED,
    "not_live": CLOSE_NOT_LIVE,
}


def close_code_for(refusal_code: str) -> int:
    """The close code that answers a connection refused for `refusal_code`."""
    return CLOSE_FOR_REFUSAL.get(refusal_code, CLOSE_NOT_FOUND)


# -- roles -----------------------------------------------------------------------------------------

ROLE_HOST = "host"
ROLE_COHOST = "cohost"
ROLE_SPEAKER = "speaker"
ROLE_LISTENER = "listener"
ROLES = (ROLE_HOST, ROLE_COHOST, ROLE_SPEAKER, ROLE_LISTENER)
# Who is on the stage (may be heard, gets a mix-minus), in the order the stage shows them.
STAGE_ROLES = (ROLE_HOST, ROLE_COHOST, ROLE_SPEAKER)
# Who runs the stage: approves hands, invites, mutes, moves people, pins links.
MODERATOR_ROLES = (ROLE_HOST, ROLE_COHOST)


def is_on_stage(role: str) -> bool:
    return role in STAGE_ROLES


def stage_position(role: str) -> int:
    """Sort key of a stage member: the host first, then co-hosts, then speakers."""
    return STAGE_ROLES.index(role)


# -- reactions -------------------------------------------------------------------------------------

REACTIONS = ("😂", "😲", "😢", "💜", "💯", "👏", "✊", "👍", "👎", "👋")
REACTION_RATE_PER_SECOND = 1.0
REACTION_BURST = 5

# -- the Q&A queue ---------------------------------------------------------------------------------

MAX_QUESTION_CHARS = 280
QUESTIONS_PER_HOUR = 5
# The queue as events carry it: the open questions, most votes first, at most this many.
QUESTIONS_SHOWN = 50


# -- client -> server messages ---------------------------------------------------------------------


@dataclass(frozen=True)
class MessageSpec:
    fields: dict[str, type]
    doc: str
    needs_user: bool = True


MESSAGES: dict[str, MessageSpec] = {
    "heartbeat": MessageSpec({}, "every `heartbeat_seconds` (told in the snapshot)", needs_user=False),
    "snapshot.request": MessageSpec({}, "ask for a fresh `room.snapshot`", needs_user=False),
    "leave": MessageSpec(
        {"quiet": bool}, "leave the room; `quiet` announces nothing to the others", needs_user=False
    ),
    "hand.raise": MessageSpec({}, "a listener asks to speak"),
    "hand.lower": MessageSpec({}, "a listener withdraws the request"),
    "request.approve": MessageSpec({"user_id": int}, "host or co-host brings a raised hand on stage"),
    "request.decline": MessageSpec({"user_id": int}, "host or co-host declines a raised hand"),
    "speaker.invite": MessageSpec({"user_id": int}, "host or co-host invites a listener to speak"),
    "invite.accept": MessageSpec({}, "the invited listener takes the stage"),
    "invite.decline": MessageSpec({}, "the invited listener says no"),
    "mic.mute": MessageSpec({}, "a stage member mutes themself"),
    "mic.unmute": MessageSpec({}, "a stage member unmutes themself"),
    "speaker.mute": MessageSpec({"user_id": int}, "host or co-host mutes a stage member (cannot unmute)"),
    "speakers.mute_all": MessageSpec({}, "host or co-host mutes everyone else on stage"),
    "speaker.to_audience": MessageSpec(
        {"user_id": int}, "host or co-host moves a speaker back (or a speaker steps down)"
    ),
    "participant.remove": MessageSpec(
        {"user_id": int}, "host or co-host removes someone; they cannot rejoin"
    ),
    "cohost.add": MessageSpec({"user_id": int}, "host only; at most 2 co-hosts"),
    "cohost.remove": MessageSpec(
        {"user_id": int}, "host only; the co-host stays on stage as a speaker if there is room"
    ),
    "room.speaker_policy": MessageSpec(
        {"policy": str}, '"everyone" | "followed" | "invited"; host or co-host'
    ),
    "reaction.send": MessageSpec({"emoji": str}, "one of `REACTIONS`; at most 1 a second, burst of 5"),
    "link.pin": MessageSpec({"title": str, "url": str}, "host or co-host; http(s) only; at most 3 pinned"),
    "link.unpin": MessageSpec({"link_id": int}, "host or co-host"),
    "captions.set": MessageSpec(
        {"enabled": bool}, "host or co-host turns live captions on or off for the room"
    ),
    "room.end": MessageSpec({}, "host only"),
    "room.go_live": MessageSpec({}, "host only, from the backstage: the stage goes live as it is"),
    "question.ask": MessageSpec(
        {"text": str},
        f"ask the Q&A queue; at most {MAX_QUESTION_CHARS} characters, {QUESTIONS_PER_HOUR} an hour",
    ),
    "question.withdraw": MessageSpec({"question_id": int}, "the asker takes their open question back"),
    "question.vote": MessageSpec(
        {"question_id": int}, "upvote an open question, once (a second vote is refused)"
    ),
    "question.unvote": MessageSpec({"question_id": int}, "take back your upvote"),
    "question.answer": MessageSpec(
        {"question_id": int}, "host or co-host: answering this one now (the one before becomes answered)"
    ),
    "question.done": MessageSpec(
        {"question_id": int}, "host or co-host: the question being answered is answered"
    ),
    "question.dismiss": MessageSpec({"question_id": int}, "host or co-host sets an open question aside"),
    "question.remove": MessageSpec(
        {"question_id": int}, "host or co-host takes a question down, from the record too"
    ),
    "question.invite": MessageSpec({"question_id": int}, "host or co-host invites the asker to speak"),
    "qa.set": MessageSpec({"enabled": bool}, "host only: turn the Q&A queue on or off"),
}


class ProtocolError(Exception):
    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


def parse_message(text: str) -> tuple[str, dict, str | None]:
    """Validate one text frame; return (type, fields, ref) or raise ProtocolError."""
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_TEXT_FRAME_BYTES:
        raise ProtocolError("too_large", f"Messages are limited to {MAX_TEXT_FRAME_BYTES // 1024} KiB.")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("malformed", "Messages must be JSON objects.") from None
    if not isinstance(data, dict):
        raise ProtocolError("malformed", "Messages must be JSON objects.")
    ref = data.get("ref")
    if ref is not None and (not isinstance(ref, str) or len(ref) > MAX_REF_LENGTH):
        raise ProtocolError("bad_field", f"ref must be a string of at most {MAX_REF_LENGTH} characters.")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("missing_field", "Every message needs a type.", ref)
    spec = MESSAGES.get(kind)
    if spec is None:
        raise ProtocolError("unknown_type", f"Unknown message type {kind[:40]!r}.", ref)
    fields = {}
    for name, expected in spec.fields.items():
        if name not in data:
            raise ProtocolError("missing_field", f"{kind} needs {name}.", ref)
        value = data[name]
        # bool is an int in Python; a user id of `true` is still wrong.
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ProtocolError("bad_field", f"{name} must be a {expected.__name__}.", ref)
        fields[name] = value
    return kind, fields, ref


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


# -- server -> client events -----------------------------------------------------------------------

EVENTS: dict[str, type[ServerEvent]] = {}
# The events of the per-person channel (/ws/me/), declared like the room's with ``@user_event``.
USER_EVENTS: dict[str, type[ServerEvent]] = {}


class ServerEvent:
    """An event the server sends. Subclasses are declared with ``@event(type)`` and are frozen,
    keyword-only dataclasses: their fields are the event's fields, no more, no fewer."""

    __slots__ = ()
    TYPE: ClassVar[str]
    _FIELDS: ClassVar[tuple[str, ...]]
    _OMIT_IF_NONE: ClassVar[frozenset[str]]

    def payload(self) -> dict[str, Any]:
        """The event as the JSON object a browser receives."""
        data: dict[str, Any] = {"type": self.TYPE}
        for name in self._FIELDS:
            value = getattr(self, name)
            if value is None and name in self._OMIT_IF_NONE:
                continue
            data[name] = value
        return data

    def encode(self) -> str:
        """The text frame for this event."""
        return encode(self.payload())


def optional(default: Any = None) -> Any:
    """A field the frame leaves out while it is None."""
    return dataclasses.field(default=default, metadata={"omit_if_none": True})


def event(type_: str):
    """Declare a server event: ``@event("room.thing") class Thing(ServerEvent): field: type``."""
    return _declare(EVENTS, type_)


def user_event(type_: str):
    """Declare an event of the per-person channel: ``@user_event("user.thing")``."""
    return _declare(USER_EVENTS, type_)


def _declare(registry: dict[str, type[ServerEvent]], type_: str):
    def declare(cls: type[ServerEvent]) -> type[ServerEvent]:
        if type_ in EVENTS or type_ in USER_EVENTS:
            raise ValueError(f"event {type_!r} is declared twice")
        cls = dataclass(frozen=True, kw_only=True, slots=True)(cls)
        cls.TYPE = type_
        cls._FIELDS = tuple(f.name for f in dataclasses.fields(cls))
        cls._OMIT_IF_NONE = frozenset(
            f.name for f in dataclasses.fields(cls) if f.metadata.get("omit_if_none")
        )
        registry[type_] = cls
        return cls

    return declare


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
    answering: QuestionInfo | None  # the question being answered now, shown above the stage
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
    """The audience, at most twice a second."""

    listener_count: int
    listeners: list[ParticipantInfo]


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
    """One speaker's caption line. Partials (about once a second while they talk) refine the line
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


# -- the per-person channel ------------------------------------------------------------------------

USER_SOCKET_PATH = "/ws/me/"


class NotificationActor(TypedDict):
    """Who caused a notification."""

    handle: str
    name: str
    avatar: str  # a URL, or "" when they have no avatar


class NotificationInfo(TypedDict):
    """One notification as the page lists it."""

    id: int
    kind: str  # reminder, host_live, room_invite, speak_invite, recording_ready, new_follower
    text: str
    url: str  # a path on this site, or ""
    created_at: str  # ISO 8601
    actor: NotificationActor | None


class ReminderCount(TypedDict):
    """How many people set a reminder for one of the host's scheduled rooms."""

    room_id: int
    count: int


@user_event("user.snapshot")
class UserSnapshot(ServerEvent):
    """The person's state, sent on connect (and so after every reconnect, when events may have been
    missed)."""

    unread_count: int
    reminder_counts: list[ReminderCount]  # the person's own scheduled rooms


@user_event("user.notification")
class UserNotification(ServerEvent):
    """A new notification, shown in the app."""

    notification: NotificationInfo
    unread_count: int


@user_event("user.unread")
class UserUnread(ServerEvent):
    """The unread count changed without a new notification (read on another page)."""

    unread_count: int


@user_event("user.reminder_count")
class UserReminderCount(ServerEvent):
    """To a host: someone set or took back a reminder for their room."""

    room_id: int
    count: int


# The channel layer message that carries a user event to the consumer (its `user_event` handler).
USER_GROUP_MESSAGE = "user.event"


def user_group(user_id: int) -> str:
    """The channel layer group of one person's open pages."""
    return f"user.{user_id}"


def user_envelope(event: ServerEvent) -> dict[str, Any]:
    """The channel layer message for a per-person event; only declared user events travel."""
    if not isinstance(event, ServerEvent) or event.TYPE not in USER_EVENTS:
        raise TypeError(f"only events declared with @user_event go to a person's channel, not {event!r}")
    return {"type": USER_GROUP_MESSAGE, "event": event.payload()}


# The channel layer message that closes every open page socket of a person (its `user_close` handler).
# Sent when the account's sessions end (signed out everywhere, password changed, suspended, deleted):
# the socket was authenticated by a session that is no longer valid. The page reconnects after
# ``CLOSE_SIGNED_OUT`` and is then refused with ``CLOSE_SIGN_IN_REQUIRED`` unless it is signed in again.
USER_CLOSE_MESSAGE = "user.close"
USER_CLOSE_CODES = frozenset({CLOSE_SIGNED_OUT, CLOSE_SUSPENDED})


def user_close_envelope(code: int) -> dict[str, Any]:
    """The channel layer message that closes a person's ``/ws/me/`` sockets with `code`."""
    if code not in USER_CLOSE_CODES:
        raise ValueError(f"a person's channel closes with one of {sorted(USER_CLOSE_CODES)}, not {code}")
    return {"type": USER_CLOSE_MESSAGE, "code": code}


# -- encoding, and the envelope of the room bus -----------------------------------------------------


def encode(payload: dict[str, Any]) -> str:
    """JSON as the browsers get it (UTF-8 text, no padding)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def envelope(event: ServerEvent, *, to: int | None = None, close: int | None = None) -> str:
    """The room bus message for `event`: ``{"event": {...}, "to": user_id | null, "close": code | null}``.

    ``to`` sends it only to that person's sockets; ``close`` closes the receiving sockets with that
    code after the event. Only declared events travel: anything else is refused here.
    """
    if not isinstance(event, ServerEvent):
        raise TypeError(
            f"only events declared in rooms/protocol.py go on the bus, not {type(event).__name__}"
        )
    return json.dumps({"event": event.payload(), "to": to, "close": close})


@dataclass(frozen=True, slots=True)
class Delivery:
    """A room bus message as a receiver reads it back. The event is the payload, as received."""

    event: dict[str, Any]
    to: int | None = None
    close: int | None = None

    @property
    def is_broadcast(self) -> bool:
        """For every socket of the room, closing none: such deliveries may be batched."""
        return self.to is None and not self.close


def open_envelope(raw: str | bytes) -> Delivery:
    message = json.loads(raw)
    return Delivery(message["event"], message.get("to"), message.get("close"))


# -- checking frames against the declarations (the contract tests) ----------------------------------


class ContractError(AssertionError):
    """A frame that the declarations above do not allow."""

    def __init__(self, detail: str, path: str = "") -> None:
        super().__init__(f"{path}: {detail}" if path else detail)
        self.detail = detail
        self.path = path


def check_event(payload: dict[str, Any], *, events: dict[str, type[ServerEvent]] = EVENTS) -> None:
    """Raise ContractError unless `payload` is an event declared here with exactly its fields
    (a room event; ``events=USER_EVENTS`` for the per-person channel)."""
    if not isinstance(payload, dict):
        raise ContractError(f"an event must be a JSON object, not {payload!r}")
    kind = payload.get("type")
    cls = events.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise ContractError(f"undeclared event type {kind!r}")
    present = payload.keys() - {"type"}
    declared = set(cls._FIELDS)
    if present - declared:
        raise ContractError(
            f"{kind} has fields its constructor does not define: {sorted(present - declared)}"
        )
    if declared - cls._OMIT_IF_NONE - present:
        raise ContractError(f"{kind} lacks fields: {sorted(declared - cls._OMIT_IF_NONE - present)}")
    checkers = _field_checkers(cls)
    for name in present:
        try:
            checkers[name](payload[name])
        except ContractError as error:
            raise ContractError(error.detail, f"{kind}.{name}{error.path}") from None
    if cls is Batch:
        for inner in payload["events"]:
            check_event(inner)


Checker = Callable[[Any], None]


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, globalns=vars(sys.modules[__name__]))


@functools.cache
def _field_checkers(cls: type) -> dict[str, Checker]:
    return {name: _checker(hint) for name, hint in _hints(cls).items()}


@functools.cache
def _checker(hint: Any) -> Checker:
    """A function that raises ContractError unless a JSON value fits `hint` (built once per hint)."""
    origin = typing.get_origin(hint)
    if hint is Any or origin is dict or hint is dict:
        return _check_object if hint is not Any else (lambda value: None)
    if origin in (typing.Union, types.UnionType):
        options = [_checker(option) for option in typing.get_args(hint)]

        def check_union(value: Any) -> None:
            errors = []
            for option in options:
                try:
                    return option(value)
                except ContractError as error:
                    errors.append(str(error))
            raise ContractError(f"{value!r} matches none of {_type_name(hint)} ({'; '.join(errors)})")

        return check_union
    if typing.is_typeddict(hint):
        fields = _field_checkers(hint)
        required = set(hint.__required_keys__)

        def check_shape(value: Any) -> None:
            if not isinstance(value, dict):
                raise ContractError(f"expected a {hint.__name__} object, got {value!r}")
            extra, missing = value.keys() - fields.keys(), required - value.keys()
            if extra or missing:
                raise ContractError(
                    f"a {hint.__name__} with unknown fields {sorted(extra)} / missing {sorted(missing)}"
                )
            for key, item in value.items():
                try:
                    fields[key](item)
                except ContractError as error:
                    raise ContractError(error.detail, f".{key}{error.path}") from None

        return check_shape
    if origin is tuple:
        items = [_checker(arg) for arg in typing.get_args(hint)]

        def check_tuple(value: Any) -> None:
            if not isinstance(value, (list, tuple)) or len(value) != len(items):
                raise ContractError(f"expected {len(items)} items, got {value!r}")
            for n, (item, check) in enumerate(zip(value, items, strict=True)):
                try:
                    check(item)
                except ContractError as error:
                    raise ContractError(error.detail, f"[{n}]{error.path}") from None

        return check_tuple
    if origin is list:
        each = _checker(typing.get_args(hint)[0])

        def check_list(value: Any) -> None:
            if not isinstance(value, list):
                raise ContractError(f"expected a list, got {value!r}")
            for n, item in enumerate(value):
                try:
                    each(item)
                except ContractError as error:
                    raise ContractError(error.detail, f"[{n}]{error.path}") from None

        return check_list
    if hint is type(None):
        accepts: Callable[[Any], bool] = lambda value: value is None  # noqa: E731
    elif hint in (int, float):
        numbers = (int,) if hint is int else (int, float)
        accepts = lambda value: isinstance(value, numbers) and not isinstance(value, bool)  # noqa: E731
    else:
        accepts = lambda value: isinstance(value, hint)  # noqa: E731

    def check_scalar(value: Any) -> None:
        if not accepts(value):
            raise ContractError(f"expected {_type_name(hint)}, got {value!r}")

    return check_scalar


def _check_object(value: Any) -> None:
    if not isinstance(value, dict):
        raise ContractError(f"expected an object, got {value!r}")


# -- docs/protocol.md --------------------------------------------------------------------------------


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(option) for option in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if origin in (list, tuple):
        args = typing.get_args(hint)
        inner = ", ".join(_type_name(a) for a in args) if origin is tuple else _type_name(args[0])
        return f"[{inner}]" if origin is tuple else f"list of {inner}"
    if origin is dict or hint is dict:
        return "object"
    return {bool: "bool", int: "int", float: "number", str: "string"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def _field_comments(cls: type) -> dict[str, str]:
    """Trailing ``# comments`` of a class's field lines, from the source of this module."""
    import inspect

    comments = {}
    for line in inspect.getsource(cls).splitlines():
        name, _, rest = line.strip().partition(":")
        if "  # " in rest and name.isidentifier():
            comments[name] = rest.split("  # ", 1)[1].strip()
    return comments


def _doc(obj: Any) -> str:
    """The object's own docstring (not an inherited one, nor the signature dataclasses write)."""
    import inspect

    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else obj.__doc__
    if not doc or doc.startswith(f"{obj.__name__}("):
        return ""
    return " ".join(inspect.cleandoc(doc).split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _events_markdown(events: dict[str, type[ServerEvent]]) -> list[str]:
    out = []
    for kind, cls in events.items():
        out += [f"### `{kind}`", ""]
        if _doc(cls):
            out += [_doc(cls), ""]
        hints, comments = _hints(cls), _field_comments(cls)
        if cls._FIELDS:
            out += ["| field | type | |", "| --- | --- | --- |"]
            for name in cls._FIELDS:
                note = comments.get(name, "")
                if name in cls._OMIT_IF_NONE:
                    note = f"{note} (left out when there is none)".strip()
                out.append(f"| `{name}` | {_type_name(hints[name])} | {_cell(note)} |")
        else:
            out.append("No fields.")
        out.append("")
    return out


def markdown() -> str:
    """docs/protocol.md: this module's declarations as a reference."""
    import inspect

    out = [
        "# The room websocket protocol",
        "",
        "<!-- Generated from rooms/protocol.py by `python -m rooms.protocol > docs/protocol.md`;"
        " edit the declarations there, not this file. -->",
        "",
    ]
    intro = inspect.getdoc(sys.modules[__name__]) or ""
    for paragraph in intro.split("\n\n"):
        lines = paragraph.splitlines()
        if (
            len(lines) > 1
            and not lines[0].startswith(" ")
            and all(line.startswith("    ") for line in lines[1:])
        ):
            out += [f"## {lines[0]}", "", " ".join(line.strip() for line in lines[1:]), ""]
        else:
            out += [" ".join(line.strip() for line in lines), ""]
    out += ["## Client → server messages", "", "| type | fields | |", "| --- | --- | --- |"]
    for kind, spec in MESSAGES.items():
        fields = ", ".join(f"`{name}` ({_type_name(t)})" for name, t in spec.fields.items()) or "—"
        who = "" if spec.needs_user else " Anyone, signed in or not."
        out.append(f"| `{kind}` | {fields} | {_cell(spec.doc)}.{who} |")
    out += ["", "## Server → client events", ""]
    out += _events_markdown(EVENTS)
    out += [f"## Events of the per-person channel (`{USER_SOCKET_PATH}`)", ""]
    out += _events_markdown(USER_EVENTS)
    out += ["## Shapes inside events", ""]
    for shape in (
        ParticipantInfo,
        RoomInfo,
        LinkInfo,
        QuestionInfo,
        NotificationInfo,
        NotificationActor,
        ReminderCount,
    ):
        out += [f"### {shape.__name__}", ""]
        if _doc(shape):
            out += [_doc(shape), ""]
        comments = _field_comments(shape)
        out += ["| field | type | |", "| --- | --- | --- |"]
        for name, hint in _hints(shape).items():
            out.append(f"| `{name}` | {_type_name(hint)} | {_cell(comments.get(name, ''))} |")
        out.append("")
    out += ["## Close codes", "", "| code | meaning | reconnect? |", "| --- | --- | --- |"]
    for code, reason in CLOSE_REASONS.items():
        out.append(f"| {code} | {reason} | {'no' if code in FINAL_CLOSE_CODES else 'yes'} |")
    out += [
        "",
        "## Roles",
        "",
        f"Roles: {', '.join(f'`{r}`' for r in ROLES)}. On stage, in the order the stage shows them: "
        f"{', '.join(f'`{r}`' for r in STAGE_ROLES)}. Running the stage: "
        f"{', '.join(f'`{r}`' for r in MODERATOR_ROLES)}.",
        "",
        "## Between processes",
        "",
        _doc(envelope),
        "",
        "Audio goes on a second channel per room as bytes: a 4-byte id in front of each frame (the speaker"
        " on the way to the mixer, the receiver on the way back; 0 is the program mix), as"
        " `rooms/audio/wire.py` declares.",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(markdown())
