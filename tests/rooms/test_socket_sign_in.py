"""Room sockets that connect together are signed in together (rooms/middleware.py): their sessions in
one query and their accounts in another, with every check channels' `get_user` makes."""

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.models import Session

from rooms.middleware import SessionAuthMiddleware
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def signed_in_session(user, backend: str | None = None) -> str:
    middleware = SessionAuthMiddleware(inner=None)
    session = middleware.session_store()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = backend or settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return session.session_key


def sign_in(keys: list[str]) -> list:
    """What the middleware makes of the sockets connecting together with these session cookies."""
    middleware = SessionAuthMiddleware(inner=None)
    return middleware._users([{"session": middleware.session_store(key)} for key in keys])


def test_thirty_sockets_connecting_together_cost_two_queries(django_assert_num_queries):
    people = UserFactory.create_batch(30)
    # Through either configured backend (allauth's signs people in by email).
    keys = [signed_in_session(p, settings.AUTHENTICATION_BACKENDS[n % 2]) for n, p in enumerate(people)]
    with django_assert_num_queries(2):
        users = sign_in(keys)
    assert [u.pk for u in users] == [p.pk for p in people]
    assert all(u.is_authenticated for u in users)


def test_a_session_that_no_longer_holds_leaves_the_socket_anonymous():
    fine = UserFactory()
    changed_password = UserFactory()
    deactivated = UserFactory()
    deleted = UserFactory()
    keys = [
        signed_in_session(fine),
        signed_in_session(changed_password),
        signed_in_session(deactivated),
        signed_in_session(deleted),
        signed_in_session(UserFactory(), backend="some.removed.Backend"),
        "no-such-session",
    ]
    changed_password.set_password("a-new-password-for-this-test")
    changed_password.save()
    deactivated.is_active = False
    deactivated.save()
    deleted.delete()

    users = sign_in(keys)

    assert [u.is_authenticated for u in users] == [True, False, False, False, False, False]
    assert users[0].pk == fine.pk
    # As Django does: a session whose password hash no longer matches is ended, not kept.
    assert not Session.objects.filter(session_key=keys[1]).exists()
    assert Session.objects.filter(session_key=keys[0]).exists()
