"""A websocket to a path no route serves (issue 21, item 9): accepted and closed at once with
`protocol.CLOSE_UNKNOWN_PATH`, and one line in the log, not an exception with its traceback (which
daphne answered with HTTP 500)."""

import logging

import pytest
from channels.testing import WebsocketCommunicator

from spaces_project import protocol
from spaces_project.asgi import application

from .wsclient import ORIGIN, open_socket, open_user_socket

pytestmark = pytest.mark.django_db(transaction=True)

HEADERS = [(b"origin", ORIGIN.encode()), (b"host", b"127.0.0.1:8000")]


@pytest.mark.parametrize(
    "path",
    [
        "/ws/nowhere/",
        "/ws/rooms/abc/",  # a room id that is not a number
        "/ws/rooms/1/extra/",
        "/ws/rooms/",
        "/ws/me/again/",
        "/",
        "/rooms/1/",  # a page's path, not a socket's
    ],
)
async def test_an_unknown_path_is_closed_with_its_code_and_one_log_line(path, caplog):
    communicator = WebsocketCommunicator(application, path, headers=HEADERS)
    with caplog.at_level(logging.DEBUG):
        connected, _ = await communicator.connect(timeout=5)
        closed = await communicator.receive_output(timeout=5)
    assert connected and closed == {"type": "websocket.close", "code": protocol.CLOSE_UNKNOWN_PATH}
    await communicator.wait(timeout=5)  # the application has finished, without an exception
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    about_it = [r for r in caplog.records if path in r.getMessage()]
    assert len(about_it) == 1 and "\n" not in about_it[0].getMessage(), caplog.text
    await communicator.disconnect()


async def test_a_foreign_origin_on_an_unknown_path_is_still_refused_by_the_origin_check():
    communicator = WebsocketCommunicator(
        application,
        "/ws/nowhere/",
        headers=[(b"origin", b"http://evil.example"), (b"host", b"127.0.0.1:8000")],
    )
    connected, code = await communicator.connect(timeout=5)
    assert connected is False and code != protocol.CLOSE_UNKNOWN_PATH
    await communicator.disconnect()


async def test_the_known_paths_still_connect(room, user):
    connected, socket = await open_socket(room.pk)
    assert connected
    await socket.wait_for("room.snapshot")
    await socket.close()
    me = await open_user_socket(user)
    await me.close()
