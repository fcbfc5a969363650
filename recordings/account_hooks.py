"""What recordings does when something happens to a person (accounts/hooks.py): RecordingsConfig.ready
registers these."""

from accounts import hooks
from accounts.models import User
from rooms.models import Room

from .files import RecordingFiles
from .selectors import clip_prefixes_of


def file_prefixes(*, user: User) -> list[str]:
    """A person deleting their account: the media prefixes of the recordings of the rooms they host and
    of the clips they made or that were made of their replays, removed once the deletion commits
    (their rows go with the person's)."""
    room_ids = list(Room.objects.filter(host=user).values_list("pk", flat=True))
    return [RecordingFiles(room_id).prefix for room_id in room_ids] + clip_prefixes_of(user=user)


def register() -> None:
    hooks.on_account_deletion.register(file_prefixes)
