import pytest
from django.test import Client


def csrf_post(client: Client, url: str, data: dict | None = None, *, page: str | None = None, **extra):
    """POST like a browser: load a page first (the form's page by default) and send its CSRF token."""
    client.get(page or url)
    token = client.cookies["csrftoken"].value
    return client.post(url, {**(data or {}), "csrfmiddlewaretoken": token}, **extra)


@pytest.fixture
def host(user):
    return user


@pytest.fixture
def signed_in(csrf_client, user):
    csrf_client.force_login(user)
    return csrf_client
