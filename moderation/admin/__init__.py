"""moderation in Django admin, where moderators work: every action goes through moderation's services
(or, to run a recording's finalizing again, recordings'), so each change is audited and the rooms'
sockets hear about it. One module per list:

- ``queue``: the report queue, the audit log and the suspend page the queue and the people list share;
- ``people``: the user model's admin (suspend, lift a suspension);
- ``rooms``: rooms and the people in them (end a room, unpin its links; mute, move to the audience,
  remove);
- ``recordings``: recordings, transcripts and clips (remove; run the finalizing chain again).

The admin URLs are each model's own (``admin:rooms_room_*``, ``admin:recordings_recording_*``, …)
whichever app registers it. The lower apps' own admin modules keep what calls no app above them.
"""

from . import people, queue, recordings, rooms
from .queue import SuspendForm, suspend_with_reason

__all__ = ["SuspendForm", "people", "queue", "recordings", "rooms", "suspend_with_reason"]
