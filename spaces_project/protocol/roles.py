"""Roles in a room: who is on the stage and who runs it. No Django here (rooms.models uses these)."""

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
