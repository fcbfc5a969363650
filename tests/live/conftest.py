import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from .wsclient import OPEN_SOCKETS


@pytest.fixture(autouse=True)
async def close_worker_thread_connections():
    """Close the DB connection that consumers opened in asgiref's worker thread.

    Otherwise PostgreSQL refuses to drop the test database at the end ("being accessed").
    """
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture(autouse=True)
async def close_sockets(close_worker_thread_connections):
    """Close every socket the test left open (a failing test included), before the database goes."""
    yield
    while OPEN_SOCKETS:
        await OPEN_SOCKETS.pop().close()
