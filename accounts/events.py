"""The name rooms' reminders still use to tell a host, live, how many people wait for their room.

Events go out through spaces_project/realtime.py (``send_on_commit``; ``send`` from code that runs
after the commit already); this name goes once rooms calls it directly.
"""

from spaces_project import protocol, realtime


def send_to_user(user_id: int, event: protocol.ServerEvent) -> None:
    """Send `event` (a per-person event) to every open page of `user_id` now. Safe from any thread;
    never raises for a delivery problem."""
    realtime.send(event, user_id=user_id)
