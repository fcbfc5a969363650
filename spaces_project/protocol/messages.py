"""What a client may send on a room socket, and the limits on it. No Django here."""

import json
from dataclasses import dataclass

MAX_TEXT_FRAME_BYTES = 64 * 1024
MAX_REF_LENGTH = 64

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
    "audio.background": MessageSpec(
        {"on": bool},
        "a listener's page in the background whose browser suspended Web Audio: `on` moves it to the"
        " room's HLS (answered with `room.audio_route`), `off` back to websocket audio; the stage stays",
        needs_user=False,
    ),
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
