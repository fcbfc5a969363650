"""The room websocket protocol: every message a client may send, every event the server sends.

This module is the one list. `static/js/room.js` and the tests follow it.

Connecting
    ``/ws/rooms/<room_id>/`` with the site's session cookie and an allowed ``Origin``. A refused
    connection is accepted and then closed at once with one of the close codes below, so the page
    can tell the person why. A connection from a foreign Origin is refused at the handshake (403).

Frames
    Text frames are JSON objects with a ``type`` and, optionally, a ``ref`` (any string up to 64
    characters) that the server copies into an error frame about that message. Text frames longer
    than ``MAX_TEXT_FRAME_BYTES`` get an ``error`` frame with code ``too_large``; daphne itself closes
    the connection (1009) for a message over 1 MiB.

Audio
    Binary frames carry audio, in the format of ``rooms/audio/wire.py``. A stage member who is not
    muted sends one uplink frame per 20 ms; every other binary frame (a listener's, a muted
    speaker's, a malformed or oversized one, more than 50 a second beyond a burst of 100) is
    dropped and counted, with no reply. The server sends downlink bundles (~60 ms each): the
    program mix to listeners, and to each stage member the mix without their own voice.

Client -> server messages (``type``: fields)
    heartbeat:                        every ``heartbeat_seconds`` (told in the snapshot)
    snapshot.request:                 ask for a fresh ``room.snapshot``
    leave:             quiet (bool)   leave the room; ``quiet`` announces nothing to the others
    hand.raise / hand.lower:          a listener asks to speak / withdraws
    request.approve:   user_id        host or co-host brings a raised hand on stage
    request.decline:   user_id        host or co-host declines a raised hand
    speaker.invite:    user_id        host or co-host invites a listener to speak
    invite.accept / invite.decline:   the invited listener answers
    mic.mute / mic.unmute:            a stage member mutes or unmutes themself
    speaker.mute:      user_id        host or co-host mutes a stage member (cannot unmute)
    speakers.mute_all:                host or co-host mutes everyone else on stage
    speaker.to_audience: user_id      host or co-host moves a speaker back (or a speaker steps down)
    participant.remove: user_id       host or co-host removes someone; they cannot rejoin
    cohost.add / cohost.remove: user_id   host only; at most 2 co-hosts
    room.speaker_policy: policy       "everyone" | "followed" | "invited"; host or co-host
    reaction.send:     emoji          one of ``REACTIONS``; at most 1 a second, burst of 5
    link.pin:          title, url     host or co-host; http(s) only; at most 3 pinned
    link.unpin:        link_id        host or co-host
    captions.set:      enabled (bool) host or co-host turns live captions on or off
    room.end:                         host only

Server -> client events (``type``: fields)
    room.snapshot:        room, you, stage, listeners, listener_count, hands, links,
                          heartbeat_seconds — the whole state; sent on connect and on request
                          (``room`` = {id, title, state, host_id, speaker_policy, is_recorded, captions})
    room.participant_updated: participant — someone's role, mute, hand or invitation changed
    room.participant_left:    user_id — a signed-in person left (not sent for a quiet leave; a stage
                          member who leaves quietly is still shown stepping down, through
                          ``room.participant_updated``)
    room.listeners:       listener_count, listeners — the audience, at most twice a second
    room.speak_invited:   to_user_id, by, recorded — only the invited person receives it; ``recorded``
                          tells them the room is recorded before they take the stage
    room.request_declined: to_user_id — only the person whose hand was declined receives it
    room.reaction:        user_id, emoji
    room.links:           links
    room.settings:        speaker_policy
    room.ended:           — the host ended the room; the socket then closes with ``CLOSE_ENDED``
    room.levels:          levels — [[user_id, 0..1], ...] who is speaking how loudly, ~4 a second,
                          sent only when it changes (people below 0.05 are left out)
    room.captions:        enabled — the host or a co-host turned live captions on or off (the snapshot's
                          ``room.captions`` says the same on connect)
    room.caption:         user_id, name, line, final, text, skipped — a caption line of one speaker:
                          partials (``final`` false, about once a second while they talk) refine the
                          line ``line`` until its final arrives at their pause; ``skipped`` (final,
                          empty text) marks a stretch the recognizer could not keep up with
    room.resync:          — the server lost events (for example Redis restarted); ask for a snapshot
    room.batch:           events — several of the events above, in order, in one frame; the server
                          batches only when delivery falls behind, never by waiting
    error:                code, message, ref (the ``ref`` of the message it answers, if any)

A participant is ``{user_id, handle, name, avatar, role, muted, hand_raised, invited}``.
"""

import json
from dataclasses import dataclass

MAX_TEXT_FRAME_BYTES = 64 * 1024
MAX_REF_LENGTH = 64

# Close codes (4000-4999 are the application's own).
CLOSE_SIGN_IN_REQUIRED = 4001  # anonymous visitor; the host does not allow anonymous listeners
CLOSE_REMOVED = 4003  # removed from this room by the host or a co-host
CLOSE_NOT_FOUND = 4004  # no such room, or one the person may not see (blocked)
CLOSE_SUSPENDED = 4005  # the account is suspended
CLOSE_HEARTBEAT_TIMEOUT = 4008  # no heartbeat for two intervals
CLOSE_NOT_LIVE = 4009  # the room is scheduled, ended or cancelled
CLOSE_ENDED = 4010  # the host ended the room while you were in it

CLOSE_REASONS = {
    CLOSE_SIGN_IN_REQUIRED: "Sign in to listen to this room.",
    CLOSE_REMOVED: "You were removed from this room.",
    CLOSE_NOT_FOUND: "This room does not exist.",
    CLOSE_SUSPENDED: "Your account is suspended.",
    CLOSE_HEARTBEAT_TIMEOUT: "The connection stopped responding.",
    CLOSE_NOT_LIVE: "This room is not live.",
    CLOSE_ENDED: "The room has ended.",
}

REACTIONS = ("😂", "😲", "😢", "💜", "💯", "👏", "✊", "👍", "👎", "👋")
REACTION_RATE_PER_SECOND = 1.0
REACTION_BURST = 5


@dataclass(frozen=True)
class MessageSpec:
    fields: dict[str, type]
    needs_user: bool = True


MESSAGES: dict[str, MessageSpec] = {
    "heartbeat": MessageSpec({}, needs_user=False),
    "snapshot.request": MessageSpec({}, needs_user=False),
    "leave": MessageSpec({"quiet": bool}, needs_user=False),
    "hand.raise": MessageSpec({}),
    "hand.lower": MessageSpec({}),
    "request.approve": MessageSpec({"user_id": int}),
    "request.decline": MessageSpec({"user_id": int}),
    "speaker.invite": MessageSpec({"user_id": int}),
    "invite.accept": MessageSpec({}),
    "invite.decline": MessageSpec({}),
    "mic.mute": MessageSpec({}),
    "mic.unmute": MessageSpec({}),
    "speaker.mute": MessageSpec({"user_id": int}),
    "speakers.mute_all": MessageSpec({}),
    "speaker.to_audience": MessageSpec({"user_id": int}),
    "participant.remove": MessageSpec({"user_id": int}),
    "cohost.add": MessageSpec({"user_id": int}),
    "cohost.remove": MessageSpec({"user_id": int}),
    "room.speaker_policy": MessageSpec({"policy": str}),
    "reaction.send": MessageSpec({"emoji": str}),
    "link.pin": MessageSpec({"title": str, "url": str}),
    "link.unpin": MessageSpec({"link_id": int}),
    "captions.set": MessageSpec({"enabled": bool}),
    "room.end": MessageSpec({}),
}

EVENTS = (
    "room.snapshot",
    "room.participant_updated",
    "room.participant_left",
    "room.listeners",
    "room.speak_invited",
    "room.request_declined",
    "room.reaction",
    "room.links",
    "room.settings",
    "room.ended",
    "room.levels",
    "room.captions",
    "room.caption",
    "room.resync",
    "room.batch",
    "error",
)


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


# -- event constructors ---------------------------------------------------------------------------


def captions_event(*, enabled: bool) -> dict:
    """``room.captions``: live captions were turned on or off."""
    return {"type": "room.captions", "enabled": bool(enabled)}


def caption_event(
    *, user_id: int, name: str, line: str, final: bool, text: str, skipped: bool = False
) -> dict:
    """``room.caption``: one speaker's caption line (partial, final, or a skipped stretch)."""
    return {
        "type": "room.caption",
        "user_id": user_id,
        "name": name,
        "line": line,
        "final": bool(final),
        "text": text,
        "skipped": bool(skipped),
    }
