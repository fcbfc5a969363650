"""What the apps above accounts do when something happens to a person.

accounts is the lowest app (docs/architecture.md: spaces_project, then accounts, rooms, recordings,
moderation) and imports none of the apps above it. Yet when a person blocks someone, ends their
sessions, is suspended or deletes their account, rooms and recordings have their part to do in the
same transaction. Each of those apps registers here the function that does its part, from its
``AppConfig.ready``; the services of accounts call every function registered for an event, in the
order the apps start (``INSTALLED_APPS``: rooms, recordings, moderation), at the point of their own
work where that part belongs. What is registered today:

``on_block(blocker=, blocked=)``
    Called by ``block_create``, once the follows both ways are gone.
    Registered: ``rooms.account_hooks.remove_blocked`` (the blocked person leaves the blocker's live
    rooms, the tickets they hold for them are refunded, reminders and invitations between the two go).

``on_sessions_end(user=, code=, message=)``
    Called by ``user_sign_out_everywhere``, ``user_password_changed``, ``user_suspend`` and
    ``user_delete_account``, before the person's own ``/ws/me/`` sockets close.
    Registered: ``rooms.services.stage.participant_disconnect_everywhere`` (their room sockets close,
    each told why).

``on_suspension(user=) -> what it ended``
    Called by ``user_suspend``, after the person's sockets close.
    Registered: ``rooms.account_hooks.end_hosted_rooms`` (the live rooms they host end: the
    suspension's ``ended_rooms``).

``before_account_deletion(user=)``
    Called by ``user_delete_account`` first, once the password is checked and the person's row is
    locked; may refuse with a ``ServiceError``.
    Registered: ``rooms.services.tickets.tickets_account_deleting`` (refused while people hold
    tickets for their rooms; the tickets they bought stay in the hosts' sales without them).

``on_account_deletion(user=) -> media prefixes``
    Called by ``user_delete_account`` after the person's sockets close, before their row goes;
    returns the media prefixes of their files (``recordings/12/``: a directory under MEDIA_ROOT or a
    prefix in the bucket, spaces_project/media.py), removed once the deletion commits.
    Registered: ``rooms.account_hooks.end_rooms_of_deleted_host`` (their live rooms end, as when a
    moderator ends them), ``recordings.account_hooks.file_prefixes`` (their rooms' recordings and
    their clips).

A person's data archive has a registry of its own, of sections: ``accounts.export.register``, which
rooms, recordings and moderation call for theirs (``<app>/export.py``).

A hook runs inside the caller's transaction: what it writes commits or rolls back with the rest, and
what it sends goes out after the commit (spaces_project/realtime.py). These are plain registries
rather than Django signals: each says what it is called with and what it returns, the order is the
apps' order, and an exception is the caller's (a refusal reaches the person as any other does).
tests/accounts/test_hooks.py holds the list above to what is registered.
"""

from collections.abc import Iterable, Iterator, Sequence
from typing import Generic, Protocol, TypeVar

from .models import User


class OnBlock(Protocol):
    def __call__(self, *, blocker: User, blocked: User) -> None: ...


class OnSessionsEnd(Protocol):
    def __call__(self, *, user: User, code: str, message: str) -> None: ...


class OnSuspension(Protocol):
    def __call__(self, *, user: User) -> Sequence[object]: ...


class BeforeAccountDeletion(Protocol):
    def __call__(self, *, user: User) -> None: ...


class OnAccountDeletion(Protocol):
    def __call__(self, *, user: User) -> Iterable[str]: ...


Hook = TypeVar("Hook")


class Registry(Generic[Hook]):
    """The functions registered for one event, in the order they were registered (the apps' order:
    each app registers from its ``ready``). Registering a function again changes nothing."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._functions: list[Hook] = []

    def register(self, function: Hook) -> Hook:
        if function not in self._functions:
            self._functions.append(function)
        return function

    def __iter__(self) -> Iterator[Hook]:
        return iter(tuple(self._functions))

    def names(self) -> list[str]:
        """Each registered function as ``module.name``."""
        return [f"{f.__module__}.{f.__qualname__}" for f in self._functions]  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"<hooks.{self.name}: {', '.join(self.names()) or 'nothing registered'}>"


on_block: Registry[OnBlock] = Registry("on_block")
on_sessions_end: Registry[OnSessionsEnd] = Registry("on_sessions_end")
on_suspension: Registry[OnSuspension] = Registry("on_suspension")
before_account_deletion: Registry[BeforeAccountDeletion] = Registry("before_account_deletion")
on_account_deletion: Registry[OnAccountDeletion] = Registry("on_account_deletion")

REGISTRIES = (on_block, on_sessions_end, on_suspension, before_account_deletion, on_account_deletion)
