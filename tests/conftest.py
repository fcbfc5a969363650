import os

import pytest
from celery import current_app
from django.core.cache import cache
from playwright.sync_api import sync_playwright

from rooms.live.seat_gate import get_seat_gate
from rooms.live.snapshots import close_reader_connection
from spaces_project.celery import app as celery_app
from spaces_project.compile_messages import compile_stale

from .browser.instruments import CHROMIUM, CHROMIUM_ARGS
from .factories import RoomFactory, UserFactory
from .s3 import S3Server


def pytest_sessionstart(session):
    """The translations' .mo files, from the committed .po files, as `make test` makes them: so that
    pytest run by hand sees the pages in Spanish too (docs/i18n.md)."""
    compile_stale()


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts with an empty cache (rate limits, cached topic lists) and a seat gate that
    knows no room (rooms/live/seat_gate.py)."""
    cache.clear()
    get_seat_gate().forget()
    yield
    # A test that makes a Celery app of its own (a producer for another broker) must not leave it
    # the current one: every task the rest of the run sends would go to that broker.
    assert current_app._get_current_object() is celery_app, "make other Celery apps with set_as_current=False"


@pytest.fixture(autouse=True)
def reader_connection_closed():
    """The room snapshots' reader thread keeps no connection past a test (rooms/live/snapshots.py)."""
    yield
    close_reader_connection()


@pytest.fixture(scope="session")
def s3_server():
    """An S3-compatible server on 127.0.0.1 for this run (tests/s3.py), started on first use."""
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def s3_media(settings, s3_server):
    """MEDIA_STORAGE=s3 for one test: a bucket of its own on the tests' S3 server. Yields
    (server, bucket); processes the test starts take ``server.environment(bucket)``."""
    bucket = s3_server.new_bucket()
    settings.MEDIA_STORAGE = "s3"
    settings.STORAGES = {**settings.STORAGES, **s3_server.storages(bucket)}
    yield s3_server, bucket


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def room(db):
    return RoomFactory()


@pytest.fixture
def csrf_client(client):
    """A test client that enforces CSRF like a browser would."""
    client.handler.enforce_csrf_checks = True
    return client


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (Playwright cannot download a browser here)."""
    # Playwright's sync API runs an event loop; Django must not refuse ORM calls because of it.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        # A fake microphone (a beep) that needs no permission prompt: unmuting starts the mic.
        args = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def pytest_collection_modifyitems(config, items):
    """Run browser tests last: Playwright's sync API keeps an event loop running in this thread
    for as long as the browser is open, and async tests cannot start while it does."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


def main_html(response) -> str:
    """The page's own content, without the site header (whose live row shows rooms of its own)."""
    html = response.content.decode()
    return html[html.index("<main") : html.index("</main>")]
