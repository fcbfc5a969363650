"""Sign room sockets in from the session cookie, without touching every frame they send.

channels' AuthMiddlewareStack wraps `send` so that it can save a changed session on the way out,
which costs a little on every frame; a room socket never changes the session and sends a great
many frames (audio to every listener), so this reads the session once, at connect, and leaves
`send` alone.
"""

from channels.auth import get_user
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.cookie import parse_cookie
from django.utils.module_loading import import_string


class SessionAuthMiddleware:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.session_store = import_string(settings.SESSION_ENGINE + ".SessionStore")

    async def __call__(self, scope, receive, send):
        cookies = {}
        for name, value in scope.get("headers", ()):
            if name == b"cookie":
                cookies = parse_cookie(value.decode("latin1"))
                break
        session_key = cookies.get(settings.SESSION_COOKIE_NAME)
        scope = dict(scope, cookies=cookies)
        scope["session"] = self.session_store(session_key)
        scope["user"] = await get_user(scope) if session_key else AnonymousUser()
        return await self.inner(scope, receive, send)
