"""Who may change a replay and what is cut from it: its host. The refusal says no more than the
listener rule lets the actor know."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from spaces_project.errors import NotFound, ServiceError

from ..models import Recording
from ..selectors import recording_get_for_listener


@transaction.atomic
def refuse_who_is_not_the_host(recording_id: int, actor: User, message: str):
    """Raise for an actor who is not the host. Whoever may not even see the replay (blocked either way) learns nothing: NotFound. Everyone
    else who is not the host is simply not allowed, whatever else is true of them."""
    try:
        recording_get_for_listener(recording_id=recording_id, viewer=actor)
    except NotFound:
        raise
    except ServiceError:
        pass
    raise ServiceError("not_allowed", message)


def locked_for_host(recording_id: int, actor, message: str) -> Recording:
    """The recording, its row locked, for its host to change; raise for anyone else (`message`).
    Call inside `transaction.atomic`."""
    recording = (
        Recording.objects.select_for_update(of=("self",))
        .select_related("room")
        .exclude(status=Recording.Status.REMOVED)
        .filter(pk=recording_id)
        .first()
    )
    if recording is None:
        raise NotFound(_("This recording does not exist."))
    if not getattr(actor, "is_authenticated", False) or actor.pk != recording.room.host_id:
        refuse_who_is_not_the_host(recording_id, actor, message)
    return recording
