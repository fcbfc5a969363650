"""Several machines (docs/scaling-out.md): three nodes on this machine behind one nginx, sharing only
PostgreSQL, this module's Redis and the tests' S3 server (MEDIA_STORAGE=s3), each with its own
directories and processes (daphne, a mixer, the captioner, a worker). deploy/multinode.py runs the
scripted room once for the module: the host on node A, listeners spread over all three, the mixer on
node B, then every process of node B killed with kill -9; the host ends the room, only node C's
worker consumes, and the replay is fetched through node A. bench/multinode.py runs the same with
more listeners and reports the figures; the limits here are generous (the machine is shared), only a
defect breaks them.
"""

import asyncio

import pytest
from django.db import connection

from deploy import harness, multinode
from recordings.models import Recording
from rooms.live import capture as live_capture
from rooms.models import Room
from tests.factories import RoomFactory, UserFactory

from .conftest import require_real_services, server_env, session_cookie
from .tone import talk

# Each test flushes the database after itself: the module's room and people go with the first.
pytestmark = pytest.mark.django_db(transaction=True)
LISTENERS = 6
LIMIT_MS = 2000


@pytest.fixture(scope="module")
def figures(tmp_path_factory, s3_server, django_db_setup, django_db_blocker):
    """The scripted room's figures (deploy/multinode.run_room), run once for the module's tests."""
    require_real_services()
    directory = tmp_path_factory.mktemp("multinode")
    with harness.Processes(directory / "redis-logs") as shared, django_db_blocker.unblock():
        redis_server = harness.RedisServer(shared, directory / "redis")
        redis_server.start()
        env = server_env(
            redis_server.url(),
            directory / "unused-media",  # every node has a MEDIA_ROOT of its own
            TRUSTED_PROXY_COUNT="1",
            **s3_server.environment(s3_server.new_bucket()),
        )
        room = RoomFactory(title="Several machines", scheduled=True, is_recorded=True)
        host_cookie = session_cookie(room.host)
        listener_cookies = [session_cookie(UserFactory()) for _ in range(LISTENERS)]

        def recording_status():
            fields = ("id", "status", "segment_times", "capture_notes", "failure_reason")
            try:
                return Recording.objects.filter(room=room).values(*fields).first()
            finally:
                connection.close()  # polled from a worker thread: no connection left behind

        with multinode.Cluster(directory / "cluster", env) as cluster:
            cluster.start(mixers_on=("b",))
            try:
                found = asyncio.run(
                    multinode.run_room(
                        cluster,
                        redis_url=redis_server.url(),
                        room_id=room.pk,
                        host_cookie=host_cookie,
                        listener_cookies=listener_cookies,
                        recording_status=recording_status,
                        before_kill_s=3,
                        after_kill_s=4,
                        talk=talk,
                    )
                )
            except Exception:
                print(cluster.logs())
                raise
        room.refresh_from_db()
        found["room_state"] = room.state
    print(f"multinode: {found}")
    return found


def test_the_room_goes_on_when_the_node_mixing_it_is_lost(figures):
    assert figures["room_state"] == Room.State.ENDED
    assert figures["host_on_a"], "the host's socket is not on node A"
    assert all(figures["listeners_per_node"].values()), f"a node carries no listener: {figures}"
    assert figures["mixer_before"] == "mixer-b"
    assert figures["mixer_after"] in ("mixer-a", "mixer-c"), f"the mixer did not move: {figures}"
    assert figures["heard_before_kill"] == LISTENERS
    assert figures["no_audio_after_kill"] == 0, f"a listener never heard the host again: {figures}"
    assert figures["lost_bundles"] == 0, figures
    assert figures["mixer_failover_gap_max_ms"] <= LIMIT_MS, figures
    assert figures["moved_gap_max_ms"] <= 2 * LIMIT_MS, figures


def test_the_recording_is_finalized_by_node_c_while_node_a_stops_consuming(figures):
    assert figures["worker_a_cancelled"], figures
    assert figures["finalized_by"] == ["c"], figures


# Until the mixer's capture goes to the bucket (the media moving to the storage API, issue 27), each
# node's capture stays under its own MEDIA_ROOT and node C cannot finalize what the others captured.
CAPTURE_STORED = hasattr(live_capture, "StoredCapture")


@pytest.mark.xfail(
    not CAPTURE_STORED,
    strict=True,
    reason="each node writes the capture under its own MEDIA_ROOT: node C finds none, or only its own part",
)
def test_node_c_finalizes_the_whole_room_and_node_a_plays_it_from_the_bucket(figures):
    assert figures["recording_status"] == "ready", figures
    assert figures["replay_answer"] == 302, "in S3 mode the replay is a presigned link to the bucket"
    assert figures["replay_s"] and figures["replay_s"] > figures["on_air_s"] / 2, figures


def test_nothing_is_lost_and_no_node_keeps_a_file(figures):
    """Node B's mixer kept its open segment in memory, and what it had not uploaded when it died
    the standby that took the room over wrote from its own mix (rooms/live/capture.py's back-fill)."""
    assert figures["replay_ok"], figures
    assert figures["files_outside_storage"] == 0, figures
