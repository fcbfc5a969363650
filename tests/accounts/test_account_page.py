"""The account page's forms say what went wrong under the field concerned, as a line of text the
field names (issue 28, item 8: deleting an account)."""

import re

import pytest
from django.urls import reverse

from accounts.models import User

from .conftest import csrf_token, sign_in

pytestmark = pytest.mark.django_db


def _delete(client, user, **data):
    sign_in(client, user)
    token = csrf_token(client, reverse("accounts:settings"))
    return client.post(reverse("accounts:delete"), {"csrfmiddlewaretoken": token, **data})


def test_a_wrong_password_is_a_field_error_under_the_password(csrf_client, user):
    response = _delete(csrf_client, user, password="not-it", confirm="on")
    assert response.status_code == 400
    html = response.content.decode()
    error = re.search(r'<p class="field-error" id="id_password_error" role="alert"[^>]*>(.*?)</p>', html)
    assert error and error.group(1) == "That is not your password."
    # The field points at its error, and no list of bullets is left.
    assert re.search(r'<input type="password" name="password"[^>]*aria-invalid="true"', html)
    assert 'aria-describedby="id_password_error"' in html
    assert 'class="errorlist"' not in html
    assert User.objects.filter(pk=user.pk).exists()


def test_an_unticked_box_is_a_field_error_under_the_box(csrf_client, user):
    response = _delete(csrf_client, user, password="whatever")
    html = response.content.decode()
    error = re.search(r'<p class="field-error" id="id_confirm_error" role="alert"[^>]*>(.*?)</p>', html)
    assert error and error.group(1) == "Tick this box to confirm that you want your account deleted."
    assert 'aria-describedby="id_confirm_error"' in html
    assert 'class="errorlist"' not in html
