import io

import pytest
from django.core.cache import cache
from PIL import Image

from tests.factories import PASSWORD


def csrf_token(client, url: str) -> str:
    """GET `url` (a page with a form) and return the CSRF token a browser would then send."""
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return client.cookies["csrftoken"].value


def sign_in(client, user) -> None:
    assert client.login(handle=user.handle, password=PASSWORD)


def png_bytes(size=(300, 200), color=(200, 30, 90), exif: dict | None = None) -> bytes:
    image = Image.new("RGB", size, color)
    out = io.BytesIO()
    if exif:
        tags = Image.Exif()
        for key, value in exif.items():
            tags[key] = value
        image.save(out, format="PNG", exif=tags)
    else:
        image.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored_files(root) -> list:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """allauth keeps its rate limits (one confirmation email per address per 3 minutes) in the cache."""
    cache.clear()
    yield
    cache.clear()
