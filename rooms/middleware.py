"""Sign room sockets in from the session cookie, without touching every frame they send.

channels' AuthMiddlewareStack wraps `send` so that it can save a changed session on the way out,
which costs a little on every frame; a room socket never changes the session and sends a great
many frames (audio to every listener), so this reads the session once, at connect, and leaves
`send` alone.

The sockets that connect together (a web process's listeners reconnecting after another one died)
are signed in together: one trip to the database thread for all of them, their sessions read in
one query (with the database session engine) and their accounts in another; each is then checked
as channels' `get_user` checks it.
"""

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
    load_backend,
)
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.core.exceptions import ValidationError
from django.http.cookie import parse_cookie
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.module_loading import import_string

from .live.together import Together

MAX_BATCH = 200


class SessionAuthMiddleware:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.session_store = import_string(settings.SESSION_ENGINE + ".SessionStore")
        # The sockets connecting together, signed in with one trip to the database thread.
        self._sign_ins = Together(self._sign_in, max_batch=MAX_BATCH)

    async def __call__(self, scope, receive, send):
        cookies = {}
        for name, value in scope.get("headers", ()):
            if name == b"cookie":
                cookies = parse_cookie(value.decode("latin1"))
                break
        session_key = cookies.get(settings.SESSION_COOKIE_NAME)
        scope = dict(scope, cookies=cookies)
        scope["session"] = self.session_store(session_key)
        scope["user"] = await self._sign_ins.call(None, scope) if session_key else AnonymousUser()
        return await self.inner(scope, receive, send)

    async def _sign_in(self, _key, scopes: list) -> list:
        return await database_sync_to_async(self._users)(scopes)

    def _users(self, scopes: list) -> list:
        """Runs on the database thread: read the database sessions in one query, then sign the
        sockets in as channels does, their accounts read in one query."""
        stores = [scope["session"] for scope in scopes]
        database = [s for s in stores if type(s) is DatabaseSessionStore and s.session_key]
        if database:
            model = DatabaseSessionStore.get_model_class()
            rows = model.objects.filter(
                session_key__in=[s.session_key for s in database], expire_date__gt=timezone.now()
            ).values_list("session_key", "session_data")
            found = dict(rows)
            for store in database:
                if store.session_key in found:
                    # What SessionStore.load() would have read; a key not found is left to load().
                    store._session_cache = store.decode(found[store.session_key])
        return _signed_in([scope["session"] for scope in scopes])


def _signed_in(sessions: list) -> list:
    """channels' `get_user` for each session, with the accounts of everyone signed in through a
    ModelBackend (allauth's included) read in one query rather than one each.

    The same checks as channels' `get_user` (and Django's): a backend still configured, an account
    that may sign in, and the session's hash of the password; a session that fails the hash is
    flushed, as there.
    """
    model = get_user_model()
    wanted = []
    for session in sessions:
        try:
            wanted.append((model._meta.pk.to_python(session[SESSION_KEY]), session[BACKEND_SESSION_KEY]))
        except (KeyError, ValidationError):
            wanted.append(None)
    ids = {entry[0] for entry in wanted if entry is not None}
    accounts = model._default_manager.in_bulk(ids) if ids else {}
    users = []
    for session, entry in zip(sessions, wanted, strict=True):
        user = None
        if entry is not None and entry[1] in settings.AUTHENTICATION_BACKENDS:
            user_id, path = entry
            backend = load_backend(path)
            if type(backend).get_user is ModelBackend.get_user:
                user = accounts.get(user_id)
                user = user if user is not None and backend.user_can_authenticate(user) else None
            else:
                user = backend.get_user(user_id)
            if hasattr(user, "get_session_auth_hash"):
                session_hash = session.get(HASH_SESSION_KEY)
                if not (session_hash and constant_time_compare(session_hash, user.get_session_auth_hash())):
                    session.flush()
                    user = None
        users.append(user or AnonymousUser())
    return users
