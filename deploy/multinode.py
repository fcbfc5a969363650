"""Several machines on one: three "nodes" behind one nginx, sharing only PostgreSQL, Redis and the S3
server (docs/scaling-out.md), and the scripted room that moves between them.

Each node is a set of processes with a directory of its own (its MEDIA_ROOT, HLS_ROOT and logs; no
directory is shared between nodes) and its own process groups: web processes (daphne on a TCP port of
127.0.0.1, as a load balancer on another machine reaches them), a mixer (`run_mixer`), a captioner
(`run_captioner`) and a Celery worker. One nginx in front is the load balancer: a client is spread
over every node's web processes (least connections), unless it carries the cookie ``spaces_node``,
which pins it to one node (the harness pins the host to node A that way).

The scenario (`run_room`): a recorded room whose mixer is node B's (only B's mixer is up when the room
goes live; A's and C's start after, as standbys), the host on node A talking a steady tone, listeners
spread over all three; then every process of node B is killed with SIGKILL. The room's mixer moves to
A's or C's, and the figures are what the listeners heard (tests/faults/tone.py's tone, silence measured
as bench/faults.py does). The host ends the room, only node C's worker consumes at that moment (A's
stops consuming, by Celery's remote control), and the replay is fetched through node A and decoded.
Used by bench/multinode.py and tests/faults/test_multinode.py.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import os
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import av
import redis

from deploy import harness
from rooms.audio import wire

NODES = ("a", "b", "c")
NODE_COOKIE = "spaces_node"
LEASE_KEY = "spaces:mixer:lease:{}"
STANDBY_KEY = "spaces:mixer:standby:{}"
CELERY = str(Path(sys.executable).with_name("celery"))
# Around the kill, a listener's stream may change twice (its mixer, and for node B's listeners their
# web process): sequence jumps inside this window are the failover, measured as silence, not as loss.
FAILOVER_WINDOW_S = 3.0
SILENCE_BEFORE_S = 1.0  # the kill's silence is looked for from this long before it...
SILENCE_AFTER_S = 3.0  # ...to this long after
DROPPED_WITHIN_S = 1.5  # a listener whose socket closed this soon after the kill was on node B


class Node:
    """One machine's processes: `web` daphne processes, a mixer, a captioner and a worker."""

    def __init__(self, name: str, directory: Path, shared_env: dict[str, str], *, web: int = 1) -> None:
        self.name = name
        self.directory = Path(directory)
        self.media_root = self.directory / "media"
        self.hls_root = self.directory / "hls"
        # The machine's own temporary directory: what a process spools there is on this node only.
        self.tmp = self.directory / "tmp"
        for path in (self.media_root, self.hls_root, self.tmp):
            path.mkdir(parents=True, exist_ok=True)
        self.processes = harness.Processes(self.directory / "logs")
        self.env = {
            **shared_env,
            "MEDIA_ROOT": str(self.media_root),
            "HLS_ROOT": str(self.hls_root),
            "TMPDIR": str(self.tmp),
        }
        self.web_ports = [harness.free_port() for _ in range(web)]
        self.mixer = f"mixer-{name}"
        self.worker = f"worker-{name}@multinode"

    def launch(self, *, mixer: bool) -> list[tuple[str, Callable]]:
        """Start the node's processes without waiting; returns (name, ready) to wait for."""
        started = []
        python = [sys.executable, "manage.py"]
        for n, port in enumerate(self.web_ports, start=1):
            self._spawn(
                f"web{n}",
                [
                    *(sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)),
                    *("--proxy-headers", "spaces_project.asgi:application"),
                ],
            )
            started.append((f"web{n}", lambda _, port=port: harness.tcp_listening(port)))
        self._spawn("captioner", [*python, "run_captioner", "--name", f"captioner-{self.name}"])
        started.append(("captioner", lambda p: "running" in p.output()))
        self._spawn(
            "worker",
            [
                *(CELERY, "-A", "spaces_project", "worker", "-l", "info", "--pool", "solo", "-c", "1"),
                *("--without-mingle", "--without-gossip", "-n", self.worker),
            ],
        )
        started.append(("worker", lambda p: " ready." in p.output()))
        if mixer:
            started.append(self.launch_mixer())
        return started

    def launch_mixer(self) -> tuple[str, Callable]:
        self._spawn("mixer", [sys.executable, "manage.py", "run_mixer", "--name", self.mixer])
        return ("mixer", lambda p: "running" in p.output())

    def _spawn(self, name: str, argv: list[str]) -> None:
        self.processes.start(name, argv, env=self.env)

    def wait(self, started: list[tuple[str, Callable]], timeout: float = 120) -> None:
        for name, ready in started:
            self.processes.wait_ready(name, ready, timeout)

    def kill(self) -> None:
        """kill -9 every process group of the node, as a machine that loses power."""
        for name, process in self.processes.running.items():
            if process.alive():
                self.processes.kill(name)

    def stop(self) -> None:
        self.processes.stop_all()

    def room_sockets(self) -> int:
        total = 0
        for port in self.web_ports:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
                total += json.loads(answer.read())["room_sockets"]
        return total

    def local_files(self) -> list[Path]:
        """Every file this node left in its own media and HLS directories and the application's
        spools in its temporary directory (``spaces-*``): with S3 storage none should be there once
        the room is over (a file left is one no other node could read)."""
        roots = (self.media_root, self.hls_root, *self.tmp.glob("spaces-*"))
        return sorted(p for root in roots for p in [root, *root.rglob("*")] if p.is_file())

    def other_temporary_files(self) -> list[str]:
        """Names of what else is in the node's temporary directory (libraries' own files)."""
        return sorted(p.name for p in self.tmp.iterdir() if not p.name.startswith("spaces-"))

    def log(self, name: str) -> str:
        process = self.processes.running.get(name)
        return process.output() if process else ""


class Cluster:
    """Three nodes and the load balancer in front of them. `shared_env` is what every process of every
    node gets (settings, DATABASE_URL, REDIS_URL, the S3 settings); each node adds its own directories."""

    def __init__(self, directory: Path, shared_env: dict[str, str], *, web_per_node: int = 1) -> None:
        self.directory = Path(directory)
        self.nodes = {
            name: Node(name, self.directory / f"node-{name}", shared_env, web=web_per_node) for name in NODES
        }
        self.balancer = harness.Processes(self.directory / "balancer" / "logs")
        self.https_port = harness.free_port()
        self.origin = f"https://localhost:{self.https_port}"

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, *, mixers_on: tuple[str, ...]) -> None:
        """Start every node (a mixer only on `mixers_on`) and the load balancer; wait until all are up."""
        started = {name: node.launch(mixer=name in mixers_on) for name, node in self.nodes.items()}
        for name, node in self.nodes.items():
            node.wait(started[name])
        self.start_balancer()

    def start_balancer(self) -> None:
        directory = self.directory / "balancer"
        cert, key = harness.self_signed_certificate(directory / "tls")
        site = directory / "site.conf"
        site.write_text(balancer_site(self.nodes, https_port=self.https_port, cert=cert, key=key))
        harness.start_nginx(self.balancer, directory / "nginx", site, ready_port=self.https_port)

    def stop(self) -> None:
        self.balancer.stop_all()
        for node in self.nodes.values():
            node.stop()

    def ws_url(self, room_id: int) -> str:
        return self.origin.replace("https://", "wss://") + f"/ws/rooms/{room_id}/"

    def local_files(self) -> list[Path]:
        return [path for node in self.nodes.values() for path in node.local_files()]

    def logs(self, tail: int = 2000) -> str:
        """The end of every process's log, node by node (what a failed run prints)."""
        return "\n".join(
            f"--- node {name}: {process} ---\n{node.log(process)[-tail:]}"
            for name, node in self.nodes.items()
            for process in node.processes.running
        )


def balancer_site(nodes: dict[str, Node], *, https_port: int, cert: Path, key: Path) -> str:
    """nginx as the load balancer in front of the nodes' web processes (docs/scaling-out.md)."""

    def servers(ports: list[int]) -> str:
        # max_fails=0: a node that is down refuses at once and the request goes to the next one.
        return "".join(f"    server 127.0.0.1:{port} max_fails=0;\n" for port in ports)

    every = [port for node in nodes.values() for port in node.web_ports]
    pinned = "".join(
        f"upstream spaces_node_{name} {{\n{servers(node.web_ports)}}}\n" for name, node in nodes.items()
    )
    choices = "".join(f"    {name} spaces_node_{name};\n" for name in nodes)
    proxied = """
        proxy_pass http://$spaces_upstream;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;"""
    return f"""upstream spaces_nodes {{
    least_conn;
{servers(every)}}}
{pinned}
map $cookie_{NODE_COOKIE} $spaces_upstream {{
    default spaces_nodes;
{choices}}}
map $http_upgrade $spaces_connection_upgrade {{
    default upgrade;
    ''      close;
}}
server {{
    listen 127.0.0.1:{https_port} ssl backlog=4096;
    server_name localhost;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    location /ws/ {{{proxied}
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $spaces_connection_upgrade;
        proxy_read_timeout 1h;
        proxy_buffering off;
    }}
    location / {{{proxied}
        proxy_redirect off;
        proxy_read_timeout 60s;
    }}
}}
"""


# -- what listeners heard ---------------------------------------------------------------------------


def arrivals(client: harness.RoomClient) -> list[tuple[float, int, int]]:
    """(when, first frame's sequence, frames) of every downlink bundle the client received."""
    heard = []
    for at, data in client.audio:
        if len(data) > wire.DOWNLINK_HEADER_BYTES and data[0] == wire.DOWNLINK:
            heard.append((at, struct.unpack_from(">I", data, 2)[0], data[22]))
    return heard


def silence_ms(heard: list[tuple[float, int, int]], killed: float) -> float | None:
    """The longest silence around `killed`: the longest wait between two bundles less the audio the
    earlier one carried (the host talks without pause and silence is never sent). None: no audio
    after the kill, or none before it."""
    window = [(t, n) for t, _, n in heard if killed - SILENCE_BEFORE_S <= t <= killed + SILENCE_AFTER_S]
    if not any(t > killed for t, _ in window) or not any(t <= killed for t, _ in window):
        return None
    return 1000 * max(
        (t2 - t1 - n1 * wire.FRAME_MS / 1000 for (t1, n1), (t2, _) in zip(window, window[1:], strict=False)),
        default=0.0,
    )


def lost_bundles(
    heard: list[tuple[float, int, int]], sent: set[int], killed: float, bundle_frames: int
) -> list[tuple[float, int]]:
    """Bundles missing from one listener's stream outside the failover, as (when, how many) relative to
    the kill. `sent` holds every frame some listener received: the mixer sends no bundle while the
    room is silent, so a jump in the sequence numbers is loss only for the frames another listener
    got. Those frames make `ceil(frames / bundle_frames)` lost bundles, unless the jump falls within
    FAILOVER_WINDOW_S after the kill (a new mixer numbers its own frames; node B's listeners reconnect)."""
    lost = []
    for (_, s1, n1), (t2, s2, _) in zip(heard, heard[1:], strict=False):
        jump = (s2 - s1 - n1) % 2**32
        if jump == 0 or jump >= 2**20 or killed - 0.2 <= t2 <= killed + FAILOVER_WINDOW_S:
            continue  # in order, a numbering that starts over, or the failover
        missing = sum(1 for k in range(jump) if (s1 + n1 + k) % 2**32 in sent)
        if missing:
            lost.append((round(t2 - killed, 2), math.ceil(missing / bundle_frames)))
    return lost


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, math.ceil(p / 100 * len(ordered)) - 1)
    return ordered[rank]


def decoded_seconds(data: bytes) -> float:
    """How long the audio in `data` (an M4A) plays, counted from its decoded samples."""
    samples, rate = 0, 48_000
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            samples += frame.samples
            rate = frame.sample_rate
    return samples / rate


def fetch(url: str, timeout: float = 30) -> bytes:
    """GET an absolute URL (the storage's presigned link), following nothing, with no proxy."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as answer:
        return answer.read()


def celery_control(env: dict[str, str], *args: str) -> str:
    """`celery -A spaces_project control ...` against the shared broker, as an operator would run it."""
    done = subprocess.run(
        [CELERY, "-A", "spaces_project", "control", "--timeout", "5", *args],
        env=env,
        cwd=harness.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout + done.stderr


# -- the scripted room ------------------------------------------------------------------------------


async def run_room(
    cluster: Cluster,
    *,
    redis_url: str,
    room_id: int,
    host_cookie: str,
    listener_cookies: list[str],
    recording_status: Callable[[], dict | None],
    before_kill_s: float = 4.0,
    after_kill_s: float = 5.0,
    bundle_frames: int = 10,
    talk: Callable,
    say: Callable[[str], None] = lambda line: None,
) -> dict:
    """Run the scripted room on a started cluster whose only mixer is node B's; return the figures.

    The room `room_id` is scheduled and recorded; its host starts it through node A. `recording_status`
    returns the room's recording as a dict (`id`, `status`, `segment_times`, `capture_notes`,
    `failure_reason`), or None (it reads the shared database);
    `talk(host, stop)` is the host's voice (tests/faults/tone.py's steady tone)."""

    a, b, c = (cluster.nodes[name] for name in NODES)
    keys = redis.Redis.from_url(redis_url)
    figures: dict = {"nodes": len(cluster.nodes), "listeners": len(listener_cookies)}
    pinned_a = f"{host_cookie}; {NODE_COOKIE}=a"
    browser = harness.Browser(cluster.origin)
    for part in pinned_a.split("; "):
        name, _, value = part.partition("=")
        browser.set_cookie(name, value)
    tls = browser.ssl_context

    def holder() -> str | None:
        value = keys.get(LEASE_KEY.format(room_id))
        return value.decode() if value else None

    # 1. The host starts the room through node A; node B's mixer, the only one up, takes it.
    started = await asyncio.to_thread(
        browser.post_form, f"/rooms/{room_id}/start/", {}, form_path=f"/rooms/{room_id}/"
    )
    if started.status not in (200, 302):
        raise AssertionError(f"starting the room answered {started.status}: {started.text[:300]}")
    await asyncio.to_thread(
        harness.wait_for, lambda: holder() == b.mixer, 30, "node B's mixer to take the room"
    )
    on_air_from, on_air_wall_ms = time.monotonic(), time.time() * 1000
    figures["mixer_before"] = holder()
    standbys = [(node, [node.launch_mixer()]) for node in (a, c)]
    for node, launched in standbys:
        await asyncio.to_thread(node.wait, launched)
    await asyncio.to_thread(
        harness.wait_for,
        lambda: keys.get(STANDBY_KEY.format(room_id)),
        30,
        "a standby mixer to follow the room",
    )

    # 2. The host on node A, talking; listeners spread by the load balancer over all three nodes.
    url = cluster.ws_url(room_id)
    host = harness.RoomClient(url, origin=cluster.origin, cookie=pinned_a, ssl_context=tls, name="host")
    host.start()
    await host.wait(lambda: host.snapshots, 30, "the host's snapshot")
    await host.send("mic.unmute")  # a host goes live muted, as the page does
    figures["host_on_a"] = await asyncio.to_thread(a.room_sockets) == 1
    stop_talking = asyncio.Event()
    talking = asyncio.get_running_loop().create_task(talk(host, stop_talking))
    listeners = [
        harness.RoomClient(
            url, origin=cluster.origin, cookie=cookie, ssl_context=tls, name=f"listener{n}", keep_audio=True
        )
        for n, cookie in enumerate(listener_cookies)
    ]
    try:
        for client in listeners:
            client.start()
            await asyncio.sleep(0.05)
        for client in listeners:
            await client.wait(lambda c=client: c.snapshots, 60, "a listener's snapshot")
        sockets = {name: await asyncio.to_thread(node.room_sockets) for name, node in cluster.nodes.items()}
        sockets["a"] -= 1  # the host's
        figures["listeners_per_node"] = sockets
        say(f"listeners per node {sockets}; mixer {figures['mixer_before']}")
        await asyncio.sleep(before_kill_s)
        figures["heard_before_kill"] = sum(1 for client in listeners if client.audio)

        # 3. Node B loses power: every process of it, kill -9.
        killed, killed_wall_ms = time.monotonic(), time.time() * 1000
        await asyncio.to_thread(b.kill)
        say("node B killed")
        # Who holds the room's lease next, and when (read every 50 ms: a loaded holder may let a
        # renewal slip and take the lease again a moment later).
        moved_to, moved_after = None, None
        while time.monotonic() < killed + after_kill_s:
            now_holding = await asyncio.to_thread(holder)
            if moved_to is None and now_holding not in (None, b.mixer):
                moved_to, moved_after = now_holding, time.monotonic() - killed
            await asyncio.sleep(0.05)
        figures["mixer_after"] = moved_to
        figures["lease_moved_after_ms"] = moved_after and round(moved_after * 1000)

        # 4. Only node C's worker takes work now; the host ends the room through node A.
        figures["worker_a_cancelled"] = "OK" in await asyncio.to_thread(
            celery_control, a.env, "cancel_consumer", "celery", "--destination", a.worker
        )
        figures["mixer_at_end"] = holder()
        await host.send("room.end")
        on_air_s = time.monotonic() - on_air_from
    finally:
        stop_talking.set()
        await talking
        for client in (host, *listeners):
            await client.stop()
    figures.update(listened(listeners, killed, bundle_frames))
    figures["on_air_s"] = round(on_air_s, 2)

    # 5. The recording is finalized (by node C), and its replay played through node A.
    def finished():
        found = recording_status()
        return found if found and found["status"] in ("ready", "failed") else None

    recording = await asyncio.to_thread(harness.wait_for, finished, 180, "the recording to finish", 0.5)
    recording_id, status = recording["id"], recording["status"]
    figures["recording_status"] = status
    figures["recording_notes"] = " ".join(
        filter(None, (recording["failure_reason"], recording["capture_notes"]))
    )
    figures.update(recording_coverage(recording["segment_times"], on_air_wall_ms, killed_wall_ms))
    figures["finalized_by"] = [
        name for name, node in cluster.nodes.items() if "finalize_recording[" in node.log("worker")
    ]
    replay_s, figures["replay_answer"] = None, None
    if status == "ready":
        answer = await asyncio.to_thread(browser.get, f"/recordings/{recording_id}/audio/")
        if answer.status in (301, 302, 303, 307):  # S3: a presigned link, after the permission check
            body = await asyncio.to_thread(fetch, answer.headers["Location"])
        else:
            body = answer.body if answer.status == 200 else b""
        figures["replay_answer"] = answer.status
        replay_s = decoded_seconds(body) if body else None
    figures["replay_s"] = replay_s and round(replay_s, 2)
    # What the replay lacks of the time on air: the failover's gap, and what node B had mixed but
    # not yet written when it died.
    figures["replay_short_by_s"] = replay_s and round(on_air_s - replay_s, 2)
    figures["replay_ok"] = bool(
        status == "ready"
        and figures["finalized_by"] == ["c"]
        and replay_s is not None
        and abs(replay_s - on_air_s) <= 2.0
    )
    files = cluster.local_files()
    figures["files_outside_storage"] = len(files)
    figures["files_outside_storage_examples"] = [str(p.relative_to(cluster.directory)) for p in files[:5]]
    figures["other_temporary_files"] = sorted(
        {name for node in cluster.nodes.values() for name in node.other_temporary_files()}
    )
    keys.close()
    return figures


def recording_coverage(segment_times: list, on_air_ms: float, killed_ms: float) -> dict:
    """Where the replay's capture segments lie against the room's time (recordings' `segment_times`:
    [wall-clock start ms, replay offset ms, length ms] each): how late the first began after the room
    went on air, and the hole between the segment that ended last before the kill and the next one
    (what node B's death took from the recording)."""
    spans = sorted((start, start + length) for start, _, length in segment_times)
    if not spans:
        return {"recording_segments": 0}
    hole = None
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        if start >= killed_ms - 5000 and (hole is None or start - end > hole):
            hole = start - end
    return {
        "recording_segments": len(spans),
        "recording_began_after_s": round((spans[0][0] - on_air_ms) / 1000, 2),
        "recording_failover_hole_s": None if hole is None else round(hole / 1000, 2),
        # Each segment as [start, end] in seconds from the kill (where a hole or an overlap is).
        "recording_spans_s": [[round((t - killed_ms) / 1000, 2) for t in span] for span in spans],
    }


def listened(listeners: list[harness.RoomClient], killed: float, bundle_frames: int) -> dict:
    """The figures of what the listeners heard around the kill (see `silence_ms`, `lost_bundles`)."""
    stayed, moved, deaf = [], [], 0
    losses: dict[float, list[int]] = {}  # when (0.5 s steps from the kill): [bundles, listeners, of node B]
    heard_by = [arrivals(client) for client in listeners]
    sent = {(s + k) % 2**32 for heard in heard_by for _, s, n in heard for k in range(n)}
    for client, heard in zip(listeners, heard_by, strict=True):
        dropped = any(killed - 0.1 <= t <= killed + DROPPED_WITHIN_S for t, _ in client.closes)
        for at, bundles in lost_bundles(heard, sent, killed, bundle_frames):
            tally = losses.setdefault(round(at * 2) / 2, [0, 0, 0])
            tally[0] += bundles
            tally[1] += 1
            tally[2] += dropped
        gap = silence_ms(heard, killed)
        if gap is None:
            deaf += 1
            continue
        (moved if dropped else stayed).append(gap)
    return {
        "lost_bundles": sum(bundles for bundles, _, _ in losses.values()),
        # Where to look when it is not 0: [seconds from the kill, bundles, listeners, of them node
        # B's], the first ten moments (a whole node's listeners at once points at its web process).
        "lost_at": [[at, *tally] for at, tally in sorted(losses.items())][:10],
        # The mixer's move, as the listeners whose own web process lived heard it.
        "mixer_failover_gap_ms": round(percentile(stayed, 95) or 0),
        "mixer_failover_gap_max_ms": round(max(stayed, default=0)),
        "stayed_listeners": len(stayed),
        # Node B's listeners also reconnected to another node: their silence includes that.
        "moved_listeners": len(moved),
        "moved_gap_p95_ms": round(percentile(moved, 95) or 0),
        "moved_gap_max_ms": round(max(moved, default=0)),
        "no_audio_after_kill": deaf,
    }


def load_average() -> float:
    return round(os.getloadavg()[0], 1)
