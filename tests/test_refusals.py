"""spaces_project/refusals.py is the one place where a service's refusal becomes an HTTP answer."""

import ast
import json
from pathlib import Path

import pytest
from django import forms
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.http import Http404
from django.test import RequestFactory

from spaces_project import refusals
from spaces_project.errors import NotFound, ServiceError
from tests.factories import RoomFactory

ROOT = Path(__file__).resolve().parents[1]


def request_for(path: str = "/rooms/7/end/"):
    request = RequestFactory().post(path)
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    return request


def test_no_view_catches_a_refusal_itself():
    found = []
    for path in ROOT.glob("*/views.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                names = {n.id for n in ast.walk(node.type) if isinstance(n, ast.Name)}
                if names & {"ServiceError", "NotFound"}:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == [], f"let the refusal leave the view (spaces_project/refusals.py): {found}"


@pytest.mark.parametrize("kind", ["page", "redirect", "json", "text"])
def test_not_found_is_a_404_whatever_the_view_answers(kind):
    how = refusals.Answer(kind, redirect_to=lambda request: "/")
    with pytest.raises(Http404):
        refusals.answer(request_for(), NotFound("This room does not exist."), how)


@pytest.mark.django_db
def test_each_kind_of_answer():
    error = ServiceError("bad_state", "Only a live room can be ended.")

    page = refusals.answer(request_for(), ServiceError("sign_in_required", "Sign in first."))
    assert page.status_code == 403 and "Sign in first." in page.content.decode()
    assert "Sign in</a>" in page.content.decode()

    as_json = refusals.answer(request_for(), error, refusals.Answer("json"))
    assert as_json.status_code == 403
    assert json.loads(as_json.content) == {"error": "bad_state", "message": "Only a live room can be ended."}

    as_text = refusals.answer(request_for(), error, refusals.Answer("text"))
    assert (as_text.status_code, as_text["Content-Type"]) == (403, "text/plain")

    request = request_for()
    back = refusals.answer(
        request, error, refusals.Answer("redirect", redirect_to=lambda request: "/rooms/7/")
    )
    assert (back.status_code, back["Location"]) == (302, "/rooms/7/")
    assert [str(m) for m in get_messages(request)] == ["Only a live room can be ended."]

    # Someone who may not act at all is not sent back to try again.
    refused = refusals.answer(
        request_for(),
        ServiceError("not_allowed", "Only the host can end this room."),
        refusals.Answer("redirect", redirect_to=lambda request: "/rooms/7/"),
    )
    assert refused.status_code == 403 and "Only the host can end this room." in refused.content.decode()


@pytest.mark.django_db
def test_the_middleware_answers_a_refusal_that_left_a_view(client, user):
    room = RoomFactory()
    client.force_login(user)
    response = client.get(f"/rooms/{room.pk}/edit/")  # someone else's room
    assert response.status_code == 403 and "Only the host can manage this room." in response.content.decode()
    # A view that declares nothing answers with the page; anything else is not the middleware's.
    middleware = refusals.RefusalMiddleware(lambda request: None)
    request = request_for()
    request.resolver_match = None
    assert middleware.process_exception(request, ServiceError("x", "No.")).status_code == 403
    assert middleware.process_exception(request, ValueError("bug")) is None


def test_a_refused_form_shows_the_message_on_its_field():
    class TitleForm(forms.Form):
        title = forms.CharField()

    form = TitleForm({"title": "x"})
    assert form.is_valid()

    def refuse():
        raise ServiceError("title_too_long", "Too long.", field="title")

    assert refusals.into_form(form, refuse) is None
    assert form.errors == {"title": ["Too long."]}
    with pytest.raises(Http404):
        refusals.into_form(form, lambda: (_ for _ in ()).throw(NotFound()))
