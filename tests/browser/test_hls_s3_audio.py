"""The mass audience through object storage, in a real browser: the mixer uploads the room's HLS to a
bucket (HLS_STORAGE=s3, moto's S3 server), deploy/'s nginx serves it from the bucket
(deploy/nginx/hls-bucket.conf) at HLS_URL_PREFIX, as a CDN would be, and a listener in Chromium hears
the host's tone from there. Ending the room empties the bucket.

Its own stack, as tests/browser/test_hls_audio.py's (tests/browser/audio_stack.py): a private
redis-server, daphne with AUDIO_WEBSOCKET_LISTENERS=1 and one `manage.py run_mixer`, all in S3 mode,
plus the S3 server and nginx in front of it.
"""

import json
from pathlib import Path

import pytest
from django.db import connection

from deploy import harness
from rooms.live import hls_s3
from tests.factories import RoomFactory, UserFactory
from tests.hls_s3 import hls_environment
from tests.s3 import S3Server

from . import audio_stack
from .conftest import session_key_for, wait_until_idle, wait_until_nothing_else_queries
from .test_hls_audio import hearing_over_hls, unmute
from .test_live_audio import EARS, HOST_HZ, microphones, wait_heard  # noqa: F401 (a fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.live_audio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(harness.NGINX).exists(), reason="needs Debian's nginx"),
]

ROOT = Path(__file__).resolve().parents[2]
SECRET = "a-test-only-hls-secret"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, django_db_setup, django_db_blocker):
    if connection.vendor != "postgresql":
        pytest.skip("the processes share the test database: run with PostgreSQL")
    work = tmp_path_factory.mktemp("hls-s3-stack")
    server = S3Server().start()
    try:
        bucket = server.new_bucket()
        policy = hls_s3.edge_read_policy(bucket=bucket, prefix="hls/", source_ips=["127.0.0.1/32"])
        server.client().put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
        site = harness.render_local_site(
            work / "site",
            MEDIA_ROOT=str(work / "media"),
            HLS_STORAGE="s3",
            S3_BUCKET=bucket,
            S3_ENDPOINT_URL=server.endpoint,
            HLS_PROXY_CACHE_DIR=str(work / "hls-cache"),
            HLS_SIGNING_SECRET=SECRET,
        )
        with harness.Processes(work / "logs") as processes:
            harness.start_nginx(
                processes, work / "nginx", site["files"]["nginx/spaces.conf"], ready_port=site["https_port"]
            )
            redis_server = harness.RedisServer(processes, work / "redis")
            redis_server.start()
            url, env = audio_stack.start_daphne(
                processes,
                redis_server.url(),
                **hls_environment(server, bucket),
                HLS_SIGNING_SECRET=SECRET,
                # The pages fetch HLS from nginx, another origin, as they would from a CDN.
                HLS_URL_PREFIX=f"{site['origin']}/hls/",
                HLS_ROOT=str(work / "no-hls-on-disk"),
            )
            audio_stack.start_mixer(processes, env, "hls-s3-mixer")
            yield {
                "url": url,
                "processes": processes,
                "server": server,
                "bucket": bucket,
                "no_disk": work / "no-hls-on-disk",
            }
    finally:
        server.stop()


def test_a_listener_hears_the_host_from_the_bucket_through_nginx(stack, microphones):  # noqa: F811
    host = UserFactory(display_name="Hana Host")
    room = RoomFactory(host=host, large_audience=True)
    contexts = []

    def open_as(user, mic=None):
        # nginx's certificate is this test's own: the listener's browser is told to take it.
        context = microphones[mic].new_context(
            viewport={"width": 1200, "height": 900}, ignore_https_errors=True
        )
        contexts.append(context)
        context.add_init_script(EARS)
        if mic is not None:
            context.add_init_script("localStorage.setItem('spaces:music-mode', 'on')")
        context.add_cookies([{"name": "sessionid", "value": session_key_for(user), "url": stack["url"]}])
        page = context.new_page()
        page.console_errors = []
        page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
        page.set_default_timeout(15_000)
        page.goto(f"{stack['url']}/rooms/{room.pk}/", timeout=30_000)
        return page

    try:
        host_page = open_as(host, mic=HOST_HZ)
        unmute(host_page)
        listener = open_as(UserFactory())
        hearing_over_hls(listener)
        player = "window.spacesAudio.hls.player"
        wait_heard(listener, HOST_HZ, timeout_ms=20_000)
        assert listener.evaluate(f"{player}.url").startswith("https://localhost:")  # from nginx
        assert listener.evaluate(f"{player}.stats.segments") > 0
        assert listener.evaluate("window.spacesAudio.stats.bundles") == 0
        assert listener.console_errors == []
        prefix = f"hls/public/{room.pk}/"
        keys = [key for key in stack["server"].keys(stack["bucket"]) if key.startswith(prefix)]
        assert prefix + "index.m3u8" in keys and any(key.startswith(prefix + "seg-") for key in keys)
        assert not stack["no_disk"].exists()  # nothing written to disk
        # The host ends the room: its mixer empties the room's prefix.
        host_page.get_by_test_id("end-room").click()
        host_page.get_by_test_id("confirm-ok").click()
        harness.wait_for(
            lambda: not [key for key in stack["server"].keys(stack["bucket"]) if key.startswith(prefix)],
            15,
            "the ended room's HLS objects to go",
        )
    finally:
        for context in contexts:
            context.close()
        wait_until_idle(stack["url"])
        stack["processes"].stop("hls-s3-mixer")
        wait_until_nothing_else_queries()
