"""Close codes (4000-4999 are the application's own): why the server closed a socket, and whether
reconnecting can help. No Django here."""

CLOSE_SIGN_IN_REQUIRED = 4001  # anonymous visitor; the host does not allow anonymous listeners
CLOSE_TICKET_REQUIRED = 4002  # a ticketed room, and the person holds no valid ticket
CLOSE_REMOVED = 4003  # removed from this room by the host or a co-host
CLOSE_NOT_FOUND = 4004  # no such room, or one the person may not see (blocked)
CLOSE_SUSPENDED = 4005  # the account is suspended
CLOSE_HEARTBEAT_TIMEOUT = 4008  # no heartbeat for two intervals
CLOSE_NOT_LIVE = 4009  # the room is scheduled, ended or cancelled
CLOSE_ENDED = 4010  # the host ended the room while you were in it
CLOSE_SIGNED_OUT = 4011  # the person signed out everywhere or changed their password; reconnect
# More than 5 s of audio waited for a reader that did not read (rooms/live/backlog.py): the page
# reconnects with backoff as after a network drop. The frame rarely arrives (it would queue behind
# the audio); the server drops the connection right after it.
CLOSE_SLOW_READER = 4012
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
    CLOSE_SLOW_READER: "The connection fell behind the room's audio.",
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
