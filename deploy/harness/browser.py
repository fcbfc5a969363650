"""HTTP, as a browser does it: cookies, CSRF tokens and Origin headers; redirects returned."""

from __future__ import annotations

import http.cookiejar
import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Response:
    def __init__(self, status: int, headers, body: bytes, url: str) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body)


class Browser:
    """Cookies, CSRF tokens and Origin headers, like a browser; redirects are returned, not followed."""

    def __init__(self, origin: str, *, insecure_tls: bool = True) -> None:
        self.origin = origin.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        context = ssl.create_default_context()
        if insecure_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        self.ssl_context = context
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar),
            urllib.request.HTTPSHandler(context=context),
            urllib.request.ProxyHandler({}),
            _NoRedirect(),
        )

    def cookie(self, name: str) -> str | None:
        for cookie in self.jar:
            if cookie.name == name:
                return cookie.value
        return None

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def request(
        self,
        method: str,
        path: str,
        *,
        data: dict | None = None,
        headers: dict | None = None,
        timeout: float = 30,
    ) -> Response:
        url = path if path.startswith("http") else self.origin + path
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(url, data=body, method=method)
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        if method == "POST":
            request.add_header("Origin", self.origin)
            request.add_header("Referer", url)
            token = self.cookie("csrftoken")
            if token:
                request.add_header("X-CSRFToken", token)
        try:
            with self.opener.open(request, timeout=timeout) as answer:
                return Response(answer.status, answer.headers, answer.read(), url)
        except urllib.error.HTTPError as error:
            return Response(error.code, error.headers, error.read(), url)

    def get(self, path: str, **kwargs) -> Response:
        return self.request("GET", path, **kwargs)

    def set_cookie(self, name: str, value: str) -> None:
        """Give the browser a cookie for the site (a session made elsewhere)."""
        host = urllib.parse.urlsplit(self.origin).hostname or "localhost"
        domain = host if "." in host else f"{host}.local"  # how CookieJar names dotless hosts
        self.jar.set_cookie(
            http.cookiejar.Cookie(
                0,
                name,
                value,
                None,
                False,
                domain,
                False,
                False,
                "/",
                True,
                False,
                None,
                False,
                None,
                None,
                {},
            )
        )

    def post_form(self, path: str, fields: dict, *, form_path: str | None = None, **kwargs) -> Response:
        """GET the page with the form first (`form_path`, by default `path`) for its CSRF cookie and
        token, then POST `fields` to `path` with the token, as submitting the form does."""
        page = self.get(form_path or path)
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        token = match.group(1) if match else (self.cookie("csrftoken") or "")
        return self.request("POST", path, data={"csrfmiddlewaretoken": token, **fields}, **kwargs)
