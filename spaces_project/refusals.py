"""The one translator of refusals into HTTP answers.

Services refuse with a `ServiceError` (spaces_project/errors.py). Views do not catch it: it leaves the
view and `RefusalMiddleware` answers it here, in the form the view declared with one of the decorators
below (a page by default). A `NotFound` is always a 404, whatever the view: never reveal that a hidden
thing exists. Sockets have their own single translation (`RoomConsumer.refuse`, a close code before the
person joined, an error frame after), and Django admin actions go through `for_each` below.

    @refusal_page("recordings/refused.html")   # 403 page with the message (the default: refused.html)
    @refusal_redirect(to=lambda request, pk: ...)  # the message, and back to where the person was
    @refusal_json                              # 403 {"error": code, "message": ...}; 400 for Invalid
    @refusal_json_or_redirect(to=...)          # JSON for a fetch (Accept: application/json), else redirect
    @refusal_text                              # 403 text/plain (files: audio, images)

A view that saves a form hands the service call to `into_form`, which puts a refusal on the form.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from .errors import Invalid, NotFound, ServiceError

T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    kind: str  # "page", "redirect", "json", "json_or_redirect" or "text"
    template: str = "refused.html"
    redirect_to: Callable[..., str] | None = None


PAGE = Answer("page")


def _declare(answer: Answer):
    def decorate(view):
        # Decorators applied over this one (login_required, require_POST) copy the attribute along.
        view.refusal_answer = answer
        return view

    return decorate


def refusal_page(template: str = "refused.html"):
    """Answer a refusal with a 403 page saying why (``message``; ``sign_in`` when signing in would help)."""
    return _declare(Answer("page", template=template))


def refusal_redirect(*, to: Callable[..., str], template: str = "refused.html"):
    """Answer a refusal with its message, back on the page `to(request, **url_kwargs)` names. A person
    who is not allowed at all (``not_allowed``) gets the 403 page instead: there is nothing for them
    to retry there."""
    return _declare(Answer("redirect", template=template, redirect_to=to))


def refusal_json_or_redirect(*, to: Callable[..., str], template: str = "refused.html"):
    """JSON for a script that asked for it (``Accept: application/json``), a redirect otherwise: for
    forms that a page posts with fetch and that still work without script."""
    return _declare(Answer("json_or_redirect", template=template, redirect_to=to))


def wants_json(request: HttpRequest) -> bool:
    return request.headers.get("Accept", "").startswith("application/json")


refusal_json = _declare(Answer("json"))
refusal_text = _declare(Answer("text"))


def answer(request: HttpRequest, error: ServiceError, how: Answer = PAGE) -> HttpResponse:
    """The HTTP answer to `error` for a view that answers as `how` says."""
    if isinstance(error, NotFound):
        raise Http404(error.message)
    if how.kind == "json_or_redirect":
        how = Answer("json") if wants_json(request) else Answer("redirect", how.template, how.redirect_to)
    # Malformed data is the request's fault (400); every other refusal is a rule saying no (403).
    status = 400 if isinstance(error, Invalid) else 403
    if how.kind == "json":
        return JsonResponse({"error": error.code, "message": error.message}, status=status)
    if how.kind == "text":
        return HttpResponse(error.message, status=status, content_type="text/plain")
    if how.kind == "redirect" and error.code != "not_allowed":
        messages.error(request, error.message)
        match = request.resolver_match
        return redirect(how.redirect_to(request, **(match.kwargs if match else {})))
    context = {"message": error.message, "code": error.code, "sign_in": error.code == "sign_in_required"}
    return render(request, how.template, context, status=status)


class RefusalMiddleware:
    """Turn a `ServiceError` that left a view into the answer that view declared."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, ServiceError):
            return None
        match = request.resolver_match
        how = getattr(match.func, "refusal_answer", PAGE) if match else PAGE
        return answer(request, exception, how)


def into_form(form, action: Callable[[], T]) -> T | None:
    """Run `action` (the service call that saves a valid form). A refusal becomes the form's error,
    on the field it names, and None is returned: render the form again."""
    try:
        return action()
    except NotFound as error:
        raise Http404(error.message) from None
    except ServiceError as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return None


def for_each(
    request: HttpRequest,
    objects: Iterable[T],
    act: Callable[[T], str],
    *,
    label: Callable[[T], str] | None = None,
) -> None:
    """Run an admin action's service call on each selected object: `act` returns what was done, a
    refusal becomes an error message, and one refusal does not stop the others."""
    for obj in objects:
        prefix = f"{label(obj)}: " if label else ""
        try:
            done = act(obj)
        except ServiceError as error:
            messages.error(request, f"{prefix}{error.message}")
        else:
            messages.success(request, f"{prefix}{done}")
