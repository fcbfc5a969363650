"""The site's icons: browsers ask for /favicon.ico on every page, and phones for a touch icon."""

import io

import pytest
from django.urls import reverse
from PIL import Image


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.django_db
def test_favicon_is_served_at_the_root(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    icon = Image.open(io.BytesIO(_body(response)))
    assert icon.format == "ICO"
    assert {(16, 16), (32, 32)} <= set(icon.info["sizes"])


@pytest.mark.django_db
def test_touch_icon_is_served_at_the_root(client):
    response = client.get("/apple-touch-icon.png")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(_body(response)))
    # Opaque: iOS puts a transparent touch icon on black.
    assert image.size == (180, 180) and image.mode == "RGB"


@pytest.mark.django_db
def test_every_page_links_its_icons(client):
    page = client.get(reverse("home")).content.decode()
    assert '<link rel="icon" href="/favicon.ico"' in page
    assert '<link rel="apple-touch-icon" href="/apple-touch-icon.png">' in page
