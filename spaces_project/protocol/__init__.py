"""The realtime contract between the server and the pages, in one place. No Django here.

Everything the server and the browsers say to each other over their websockets is declared in this
package, once: the messages a client may send (``messages``), every event the server sends, each with
a typed constructor that fixes its fields (``room_events``, ``user_events``; declared as ``events``
says), the nested shapes events carry, the close codes (``closes``), which roles are on the stage
(``roles``), and the envelope in which events travel between processes on the room bus
(``bus_envelope``). It sits in the bottom layer, under every app, so that each may import it: ``from
spaces_project import protocol``, then ``protocol.CLOSE_ENDED``. The binary audio frames are declared
in ``rooms/audio/wire.py``. The room page (``static/js/room.js`` and ``static/js/room/``), its audio
(``static/js/audio.js`` and ``static/js/audio/``) and ``static/js/notifications.js`` repeat a few
constants, which the tests in ``tests/browser/`` named ``test_*_js_in_step.py`` keep in step; ``tests/rooms/test_protocol.py`` holds the code to these
declarations, and every frame the socket tests receive is checked against them
(``tests/protocol_checker.py``). ``docs/protocol.md`` is generated from this package (``python -m
spaces_project.protocol.reference > docs/protocol.md``; a test checks it is current).

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
    Declare one class in ``room_events.py`` with ``@event("room.something")`` (or in
    ``user_events.py`` with ``@user_event``) and its fields; build it where the service decides to
    send it, and send it after the commit
    (``realtime.send_on_commit(SomethingHappened(...), room_id=room_id)``, spaces_project/realtime.py);
    handle it in the room page (``RoomEvents.handle``, ``static/js/room/events.js``) and regenerate
    ``docs/protocol.md``. The contract tests then cover it.
"""

from .bus_envelope import Delivery, envelope, open_envelope
from .closes import (
    CLOSE_ENDED,
    CLOSE_FOR_REFUSAL,
    CLOSE_HEARTBEAT_TIMEOUT,
    CLOSE_NOT_FOUND,
    CLOSE_NOT_LIVE,
    CLOSE_REASONS,
    CLOSE_REMOVED,
    CLOSE_SIGN_IN_REQUIRED,
    CLOSE_SIGNED_OUT,
    CLOSE_SUSPENDED,
    CLOSE_TICKET_REQUIRED,
    CLOSE_UNKNOWN_PATH,
    FINAL_CLOSE_CODES,
    close_code_for,
)
from .events import EVENTS, USER_EVENTS, ServerEvent, encode, event, optional, user_event
from .messages import (
    MAX_QUESTION_CHARS,
    MAX_REF_LENGTH,
    MAX_TEXT_FRAME_BYTES,
    MESSAGES,
    QUESTIONS_PER_HOUR,
    QUESTIONS_SHOWN,
    REACTION_BURST,
    REACTION_RATE_PER_SECOND,
    REACTIONS,
    MessageSpec,
    ProtocolError,
    parse_message,
)
from .roles import (
    MODERATOR_ROLES,
    ROLE_COHOST,
    ROLE_HOST,
    ROLE_LISTENER,
    ROLE_SPEAKER,
    ROLES,
    STAGE_ROLES,
    is_on_stage,
    stage_position,
)
from .room_events import (
    ROOM_STATUSES,
    AudioRoute,
    Batch,
    CaptionLine,
    CaptionsChanged,
    Ended,
    Error,
    HlsUrl,
    Levels,
    LinkInfo,
    Links,
    Listeners,
    MyVotes,
    ParticipantInfo,
    ParticipantLeft,
    ParticipantUpdated,
    QuestionInfo,
    Questions,
    Reaction,
    RequestDeclined,
    Resync,
    RoomInfo,
    RoomSnapshot,
    Settings,
    SpeakInvited,
    StatusChanged,
    WentLive,
    levels_event,
)
from .user_events import (
    LAYER_RECONNECTED_MESSAGE,
    USER_CLOSE_CODES,
    USER_CLOSE_MESSAGE,
    USER_GROUP_MESSAGE,
    USER_SOCKET_PATH,
    NotificationActor,
    NotificationInfo,
    ReminderCount,
    UserNotification,
    UserReminderCount,
    UserSnapshot,
    UserUnread,
    layer_reconnected_envelope,
    user_close_envelope,
    user_envelope,
    user_group,
)

__all__ = [
    # closes
    "CLOSE_ENDED",
    "CLOSE_FOR_REFUSAL",
    "CLOSE_HEARTBEAT_TIMEOUT",
    "CLOSE_NOT_FOUND",
    "CLOSE_NOT_LIVE",
    "CLOSE_REASONS",
    "CLOSE_REMOVED",
    "CLOSE_SIGN_IN_REQUIRED",
    "CLOSE_SIGNED_OUT",
    "CLOSE_SUSPENDED",
    "CLOSE_TICKET_REQUIRED",
    "CLOSE_UNKNOWN_PATH",
    "FINAL_CLOSE_CODES",
    "close_code_for",
    # roles
    "MODERATOR_ROLES",
    "ROLE_COHOST",
    "ROLE_HOST",
    "ROLE_LISTENER",
    "ROLE_SPEAKER",
    "ROLES",
    "STAGE_ROLES",
    "is_on_stage",
    "stage_position",
    # messages
    "MAX_QUESTION_CHARS",
    "MAX_REF_LENGTH",
    "MAX_TEXT_FRAME_BYTES",
    "MESSAGES",
    "QUESTIONS_PER_HOUR",
    "QUESTIONS_SHOWN",
    "REACTION_BURST",
    "REACTION_RATE_PER_SECOND",
    "REACTIONS",
    "MessageSpec",
    "ProtocolError",
    "parse_message",
    # events
    "EVENTS",
    "USER_EVENTS",
    "ServerEvent",
    "encode",
    "event",
    "optional",
    "user_event",
    # room_events
    "ROOM_STATUSES",
    "AudioRoute",
    "Batch",
    "CaptionLine",
    "CaptionsChanged",
    "Ended",
    "Error",
    "HlsUrl",
    "LinkInfo",
    "Links",
    "Listeners",
    "Levels",
    "MyVotes",
    "ParticipantInfo",
    "ParticipantLeft",
    "ParticipantUpdated",
    "QuestionInfo",
    "Questions",
    "Reaction",
    "RequestDeclined",
    "Resync",
    "RoomInfo",
    "RoomSnapshot",
    "Settings",
    "SpeakInvited",
    "StatusChanged",
    "WentLive",
    "levels_event",
    # user_events
    "USER_CLOSE_CODES",
    "LAYER_RECONNECTED_MESSAGE",
    "USER_CLOSE_MESSAGE",
    "USER_GROUP_MESSAGE",
    "USER_SOCKET_PATH",
    "NotificationActor",
    "NotificationInfo",
    "ReminderCount",
    "UserNotification",
    "UserReminderCount",
    "UserSnapshot",
    "UserUnread",
    "layer_reconnected_envelope",
    "user_close_envelope",
    "user_envelope",
    "user_group",
    # bus_envelope
    "Delivery",
    "envelope",
    "open_envelope",
]
