"""Installable: the manifest, the service worker at the root and the offline page it keeps
(spaces_project/pwa.py). The browser's side is tests/browser/test_pwa.py."""

import json

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse
from PIL import Image

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_manifest_names_the_app_its_icons_and_how_it_opens(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/manifest+json"
    manifest = json.loads(response.content)
    assert manifest["name"] == "Spaces" and manifest["short_name"] == "Spaces"
    assert manifest["display"] == "standalone"
    assert manifest["start_url"].startswith("/") and manifest["scope"] == "/"
    assert manifest["theme_color"].startswith("#") and manifest["background_color"].startswith("#")
    icons = {(icon["sizes"], icon["purpose"]): icon for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= set(icons)
    for (sizes, _), icon in icons.items():
        assert icon["type"] == "image/png"
        path = finders.find(icon["src"].removeprefix("/static/"))
        with Image.open(path) as image:
            assert f"{image.width}x{image.height}" == sizes
            assert image.mode == "RGB"  # opaque: launchers put a transparent icon on their own colour


def test_every_page_links_the_manifest_and_the_theme_colour(client):
    page = client.get(reverse("home")).content.decode()
    assert '<link rel="manifest" href="/manifest.webmanifest">' in page
    assert '<meta name="theme-color"' in page
    assert "js/sw-register.js" in page


def test_the_service_worker_is_served_from_the_root_for_the_whole_site(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    assert "no-cache" in response["Cache-Control"]  # a new worker is picked up at the next visit
    script = response.content.decode()
    for handler in ("install", "activate", "fetch", "push", "notificationclick"):
        assert f'addEventListener("{handler}"' in script
    assert 'const OFFLINE_URL = "/offline/";' in script
    assert "&quot;" not in script


def test_the_offline_page_is_the_same_for_everyone(client):
    anonymous = client.get("/offline/")
    client.force_login(UserFactory(handle="somebody"))
    signed_in = client.get("/offline/")
    assert anonymous.status_code == signed_in.status_code == 200
    # It is the one page the worker keeps: nothing of a session may be in it.
    assert anonymous.content == signed_in.content
    assert b"somebody" not in signed_in.content and b"csrfmiddlewaretoken" not in signed_in.content
    assert "Cookie" not in signed_in.get("Vary", "")
    assert not signed_in.cookies
