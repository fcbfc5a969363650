"""accounts/hooks.py says what each app above accounts does when something happens to a person: its
list is what is registered, in the apps' order, and each hook is called where it says."""

import re

import pytest

from accounts import hooks
from accounts.services import block_create, user_delete_account, user_sign_out_everywhere, user_suspend
from spaces_project.errors import ServiceError
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _documented() -> dict[str, list[str]]:
    """Per hook, the functions its entry in the module's docstring names after "Registered:"."""
    entries = re.split(r"\n(?=``\w+\()", hooks.__doc__)
    documented = {}
    for entry in entries:
        name = re.match(r"``(\w+)\(", entry)
        if name and "Registered:" in entry:
            registered = entry.split("Registered:", 1)[1].split("\n\n", 1)[0]
            documented[name.group(1)] = re.findall(r"``(\w+\.[\w.]+)``", registered)
    return documented


def test_the_documented_registrants_are_the_registered_ones_in_the_apps_order():
    assert _documented() == {registry.name: registry.names() for registry in hooks.REGISTRIES}
    # Every hook has someone registered: none is left declared and unused.
    assert all(registry.names() for registry in hooks.REGISTRIES)


@pytest.fixture
def calls(monkeypatch):
    """Record each hook's calls, in order, besides running the registered functions."""
    seen: list[tuple[str, dict]] = []
    for registry in hooks.REGISTRIES:

        def spy(*, _name=registry.name, **kwargs):
            seen.append((_name, kwargs))
            return []

        monkeypatch.setattr(registry, "_functions", [*registry._functions, spy])
    return seen


def test_each_service_calls_its_hooks_with_the_person(calls):
    person, other = UserFactory(), UserFactory()
    block_create(blocker=person, blocked=other)
    user_sign_out_everywhere(user=person)
    user_suspend(user=other)
    user_delete_account(user=person, password=PASSWORD)
    assert [(name, sorted(kwargs)) for name, kwargs in calls] == [
        ("on_block", ["blocked", "blocker"]),
        ("on_sessions_end", ["code", "message", "user"]),
        ("on_sessions_end", ["code", "message", "user"]),
        ("on_suspension", ["user"]),
        ("before_account_deletion", ["user"]),
        ("on_sessions_end", ["code", "message", "user"]),
        ("on_account_deletion", ["user"]),
    ]
    assert [kwargs.get("code") for _, kwargs in calls if "code" in kwargs] == [
        "signed_out",
        "suspended",
        "signed_out",
    ]


def test_a_refusal_from_a_hook_stops_the_deletion(monkeypatch):
    person = UserFactory()

    def refuse(*, user):
        raise ServiceError("not_now", "Not now.")

    monkeypatch.setattr(hooks.before_account_deletion, "_functions", [refuse])
    with pytest.raises(ServiceError):
        user_delete_account(user=person, password=PASSWORD)
    assert type(person).objects.filter(pk=person.pk).exists()
