"""deploy/multinode.py's figures from what listeners received: silence around a kill, lost bundles
(told apart from the silence the mixer does not send), and the load balancer's site (nginx -t)."""

import subprocess

import pytest

from deploy import harness, multinode

KILLED = 100.0


def stream(start: float, first_sequence: int, bundles: int, frames: int = 10) -> list[tuple[float, int, int]]:
    """Bundles of `frames` 20 ms frames arriving on time from `start`."""
    return [(start + i * frames * 0.02, first_sequence + i * frames, frames) for i in range(bundles)]


def test_a_steady_stream_has_no_silence_and_loses_nothing():
    heard = stream(KILLED - 2, 1000, 30)
    assert multinode.silence_ms(heard, KILLED) == pytest.approx(0, abs=1e-6)
    assert multinode.lost_bundles(heard, {s for _, s, _ in heard}, KILLED, 10) == []


def test_the_silence_around_the_kill_is_the_longest_wait_less_the_audio_carried():
    before = stream(KILLED - 1, 1000, 5)  # the last one at KILLED - 0.2, carrying 0.2 s
    after = stream(KILLED + 0.7, 5000, 5)  # a new mixer's numbering
    assert multinode.silence_ms(before + after, KILLED) == pytest.approx(700)
    assert multinode.silence_ms(before, KILLED) is None  # nothing after: never heard again


def test_a_bundle_another_listener_received_is_lost_one_nobody_received_is_silence():
    everyone = stream(KILLED - 10, 1000, 20)
    missing_one = everyone[:5] + everyone[6:]
    sent = {s + k for _, s, n in everyone for k in range(n)}
    assert multinode.lost_bundles(missing_one, sent, KILLED, 10) == [(round(everyone[6][0] - KILLED, 2), 1)]
    # The room fell silent: nobody received those frames, so nothing is lost.
    silent = sent - {everyone[5][1] + k for k in range(10)}
    assert multinode.lost_bundles(missing_one, silent, KILLED, 10) == []


def test_a_jump_during_the_failover_is_not_counted_as_loss():
    before = stream(KILLED - 1, 1000, 5)
    after = stream(KILLED + 0.5, 1200, 5)  # the frames between went with node B
    heard = before + after
    sent = {s + k for _, s, n in stream(KILLED - 1, 1000, 30) for k in range(n)}
    assert multinode.lost_bundles(heard, sent, KILLED, 10) == []


def test_the_balancers_site_is_valid_nginx(tmp_path):
    nodes = {name: multinode.Node(name, tmp_path / name, {}, web=2) for name in multinode.NODES}
    cert, key = harness.self_signed_certificate(tmp_path / "tls")
    site = tmp_path / "site.conf"
    site.write_text(multinode.balancer_site(nodes, https_port=harness.free_port(), cert=cert, key=key))
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid; error_log stderr; events {{}} "
        f"http {{ access_log off; client_body_temp_path {tmp_path}; proxy_temp_path {tmp_path}; include {site}; }}"
    )
    check = subprocess.run(
        [harness.NGINX, "-t", "-p", str(tmp_path), "-c", str(main)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    text = site.read_text()
    assert text.count("server 127.0.0.1:") == 2 * 6  # every web process once for all, once pinned
    assert "map $cookie_spaces_node $spaces_upstream" in text


def test_the_recordings_coverage_names_the_hole_the_kill_made():
    on_air, killed = 1_000_000.0, 1_010_000.0
    # Node B's segment from 0.4 s after going on air to 1.5 s before the kill, then the next mixer's.
    segments = [[on_air + 400, 0, 8_100], [killed + 600, 8_100, 5_000]]
    figures = multinode.recording_coverage(segments, on_air, killed)
    assert figures == {
        "recording_segments": 2,
        "recording_began_after_s": 0.4,
        "recording_failover_hole_s": 2.1,
        "recording_spans_s": [[-9.6, -1.5], [0.6, 5.6]],
    }
    assert multinode.recording_coverage([], on_air, killed) == {"recording_segments": 0}
