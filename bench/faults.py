"""Silence when a process dies: 10 kills of the room's mixer and 10 of the web process carrying the host,
under 200 signed-in listeners.

    python bench/faults.py
    python bench/faults.py --listeners 200 --mixer-kills 10 --host-kills 10

Production's layout, all on 127.0.0.1: nginx with deploy/'s site (TLS) in front of two web processes on
unix sockets (spaces-web@.service's command, settings `spaces_project.settings.bench`), two
`run_mixer` processes, a redis-server and a PostgreSQL database of the benchmark's own. The host talks
(a 440 Hz tone, real Opus frames, 50 a second, whenever their socket is open) through nginx like the
page does, and reconnects on the page's schedule (a stage member's first retry at once); the
listeners connect through nginx from --client-processes processes of their own (2) and reconnect on
the page's schedule too (static/js/reconnect.js: a socket that was open a while within 0.3 s).

1. Mixer kills: the mixer holding the room (its lease in Redis) is killed with SIGKILL once the other
   one follows the room as its standby; a new mixer process is started 2.5 s later (systemd's
   Restart=always), and becomes the standby.
2. Host-process kills: the web process carrying the host's socket is killed with SIGKILL; the host and
   that process's listeners reconnect to the other one. It is started again 3 s later, and half the
   listeners are moved back onto it (their sockets closed: they reconnect, and nginx's least_conn
   sends them to the emptier process), so each kill finds listeners on both.

The gap is the silence listeners hear: what each listener receives is bundles of the host's voice
(silence is never sent, and the host talks without pause), so around a kill it is the longest wait
between two bundles, less the audio the earlier one carried (a bundle arriving every 200 ms with
200 ms of audio is no silence at all). All listeners and kills are pooled for the percentiles. The
host's own return is kill to the host's next snapshot; `reconnect_p99_s` is kill to the next snapshot
of the listeners who were on the killed process.

Bounded: at most --seconds in all (then it stops and reports what it has); the database is dropped
at the end and every process it started is stopped. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis  # noqa: E402
from harness import host_and_listeners, percentile, progress, run_seeded, seed_people  # noqa: E402

from deploy import harness as stack  # noqa: E402
from rooms.audio import wire  # noqa: E402
from tests.faults.tone import talk  # noqa: E402

TARGETS = {"mixer_gap_p95_ms": 1000, "host_gap_p95_ms": 1000, "reconnect_p99_s": 2.5}
LEASE_KEY = "spaces:mixer:lease:{}"
STANDBY_KEY = "spaces:mixer:standby:{}"
WINDOW_BEFORE_S = 1.0  # the kill's gap is looked for from this long before it...
WINDOW_AFTER_S = 2.8  # ...to this long after (before anything else is done to the stack)
DROPPED_WITHIN_S = 1.5  # a listener whose socket closed this soon after a kill was on the killed process


# -- the listeners' process -------------------------------------------------------------------------


def _listeners(pipe, url: str, origin: str, cookies: list[str]) -> None:
    asyncio.run(_listeners_main(pipe, url, origin, cookies))


async def _listeners_main(pipe, url: str, origin: str, cookies: list[str]) -> None:
    loop = asyncio.get_running_loop()
    tls = stack.Browser(origin).ssl_context
    clients = [
        stack.RoomClient(url, origin=origin, cookie=cookie, ssl_context=tls, name=str(n), keep_audio=True)
        for n, cookie in enumerate(cookies)
    ]
    arrivals: list[list[tuple[float, int]]] = [[] for _ in clients]

    async def compact() -> None:
        # Keep when each bundle came and how much audio it carried, not the bundles.
        while True:
            await asyncio.sleep(0.5)
            for client, kept in zip(clients, arrivals, strict=True):
                audio, client.audio = client.audio, []
                kept.extend((at, data[22] if len(data) > 22 else 0) for at, data in audio)

    compactor = loop.create_task(compact())
    for client in clients:
        client.start()
        await asyncio.sleep(0.01)
    deadline = loop.time() + 120
    while not all(client.snapshots for client in clients) and loop.time() < deadline:
        await asyncio.sleep(0.2)
    pipe.send(sum(1 for client in clients if client.snapshots))
    while True:
        command, payload = await loop.run_in_executor(None, pipe.recv)
        if command == "drop":
            # Close `payload` sockets: they reconnect, and nginx puts them on the emptier process.
            # Not waiting for the closing handshakes: the server is busy with the reconnects.
            for client in random.sample(clients, payload):
                if client.ws is not None:
                    loop.create_task(client.ws.close())
            pipe.send(None)
        elif command == "connected":
            # Listeners whose socket is open and who have had their snapshot since it opened.
            pipe.send(
                sum(
                    1
                    for client in clients
                    if client.ws is not None
                    and client.snapshots
                    and client.snapshots[-1][0] >= client.opened[-1]
                )
            )
        elif command == "report":
            pipe.send(
                [
                    (kept, [t for t, _ in client.snapshots], [t for t, _ in client.closes], client.attempts)
                    for client, kept in zip(clients, arrivals, strict=True)
                ]
            )
        elif command == "stop":
            compactor.cancel()
            for client in clients:
                await client.stop()
            pipe.send(None)
            return


# -- the host ---------------------------------------------------------------------------------------


# -- the figures ------------------------------------------------------------------------------------


def silence_ms(kept: list[tuple[float, int]], killed: float) -> float | None:
    """The longest silence heard around `killed` from these arrivals (see the module's docstring);
    None if no audio came after it."""
    window = [(t, n) for t, n in kept if killed - WINDOW_BEFORE_S <= t <= killed + WINDOW_AFTER_S and n]
    if not any(t > killed for t, _ in window) or not any(t <= killed for t, _ in window):
        return None
    longest = 0.0
    for (t1, n1), (t2, _) in zip(window, window[1:], strict=False):
        longest = max(longest, t2 - t1 - n1 * wire.FRAME_MS / 1000)
    return longest * 1000


def pooled(values: list[float]) -> dict:
    return {
        "p50": round(percentile(values, 50) or 0),
        "p95": round(percentile(values, 95) or 0),
        "max": round(max(values, default=0)),
    }


# -- the run ----------------------------------------------------------------------------------------


def seed(listeners: int) -> dict:
    """A live room whose host talks unmuted, and `listeners` signed-in listeners (after setup_django())."""
    from django.core.management import call_command  # noqa: PLC0415 (after setup_django())
    from django.utils import timezone  # noqa: PLC0415 (after setup_django())

    from rooms.models import Participant, Room  # noqa: PLC0415 (after setup_django())

    call_command("migrate", verbosity=0, interactive=False)
    people = seed_people([f"faults{i}" for i in range(listeners + 1)])
    host = people[0]
    room = Room.objects.create(
        id=random.randrange(900_000_000, 2_000_000_000),  # pub/sub channels are named after it
        title="Faults",
        host=host,
        state=Room.State.LIVE,
        started_at=timezone.now(),
    )
    Participant.objects.create(room=room, user=host, role=Participant.Role.HOST, is_muted=False)
    return host_and_listeners(room.pk, people)


class Run:
    def __init__(self, args: argparse.Namespace, database_url: str, seeded: dict, work: Path) -> None:
        self.args, self.database_url, self.seeded, self.work = args, database_url, seeded, work
        self.processes = stack.Processes(work / "logs")
        self.mixers: list[str] = []
        self.mixer_starts = 0
        self.figures: dict = {}

    def env(self, redis_url: str) -> dict:
        return stack.base_env(
            DJANGO_SETTINGS_MODULE="spaces_project.settings.bench",
            DATABASE_URL=self.database_url,
            REDIS_URL=redis_url,
            LOG_LEVEL="WARNING",
            TRUSTED_PROXY_COUNT="1",
        )

    def start_web(self, instance: int) -> None:
        from deploy import render  # noqa: PLC0415 (deploy's renderer only when a stack runs)

        unit = render.unit_command(self.site["files"]["systemd/spaces-web@.service"], instance=str(instance))
        path = self.site["run_dir"] / f"web{instance}.sock"
        self.processes.start(
            f"web{instance}",
            unit["argv"],
            env=self.server_env,
            cwd=unit["cwd"],
            ready=lambda _: stack.unix_listening(path),
            timeout=90,
        )

    def start_mixer(self) -> str:
        self.mixer_starts += 1
        name = f"mixer-{self.mixer_starts}"
        self.processes.start(
            name,
            [sys.executable, "manage.py", "run_mixer", "--name", name],
            env=self.server_env,
            ready=lambda p: "running" in p.output(),
            timeout=60,
        )
        self.mixers.append(name)
        return name

    def room_sockets(self, instance: int) -> int:
        return stack.unix_health(self.site["run_dir"] / f"web{instance}.sock")["room_sockets"]

    async def main(self) -> dict:
        args, room_id = self.args, self.seeded["room_id"]
        began = time.monotonic()
        with self.processes:
            redis_server = stack.RedisServer(self.processes, self.work / "redis")
            redis_server.start()
            self.site = stack.render_local_site(
                self.work, web=2, MEDIA_ROOT=str(self.work / "media"), HLS_SIGNING_SECRET="unused"
            )
            self.server_env = self.env(redis_server.url())
            for instance in (1, 2):
                await asyncio.to_thread(self.start_web, instance)
            await asyncio.to_thread(
                stack.start_nginx,
                self.processes,
                self.work / "nginx",
                self.site["files"]["nginx/spaces.conf"],
                ready_port=self.site["https_port"],
                workers="auto",  # as Debian's nginx.conf runs it
            )
            for _ in range(2):
                await asyncio.to_thread(self.start_mixer)
            keys = redis.Redis.from_url(redis_server.url())
            origin = self.site["origin"]
            url = origin.replace("https://", "wss://") + f"/ws/rooms/{room_id}/"
            host = stack.RoomClient(
                url, origin=origin, cookie=self.seeded["host"], ssl_context=stack.Browser(origin).ssl_context
            )
            host.start()
            await host.wait(lambda: host.snapshots, 30, "the host's snapshot")
            host_on = 1 if self.room_sockets(1) == 1 else 2
            stop_talking = asyncio.Event()
            talking = asyncio.get_running_loop().create_task(talk(host, stop_talking))
            progress(f"host on web{host_on}; {args.listeners} listeners connecting")
            context = multiprocessing.get_context("spawn")
            pipes, children = [], []
            cookies = self.seeded["listeners"]
            for n in range(args.client_processes):
                pipe, child = context.Pipe()
                share = cookies[n :: args.client_processes]
                children.append(
                    context.Process(target=_listeners, args=(child, url, origin, share), daemon=True)
                )
                children[-1].start()
                pipes.append(pipe)
            ask = self._asker(pipes)
            try:
                self.figures["listeners_connected"] = sum([await asyncio.to_thread(p.recv) for p in pipes])
                await asyncio.sleep(3)
                mixer_kills: list[float] = []
                host_kills: list[float] = []
                try:
                    await self.kill_mixers(keys, room_id, began, mixer_kills)
                    await self.kill_host_processes(host, host_on, ask, began, host_kills)
                except Exception as error:  # report the kills done so far, and why it stopped
                    traceback.print_exc()
                    self.figures["stopped_early"] = f"{type(error).__name__}: {error}"
                reports = await ask("report")
                self.figures.update(self.tally(reports, host, mixer_kills, host_kills))
            finally:
                stop_talking.set()
                await talking
                await host.stop()
                try:
                    await ask("stop")
                except Exception:
                    pass
                for listeners in children:
                    listeners.join(10)
                    if listeners.is_alive():
                        listeners.kill()
                keys.close()
        return self.figures

    def _asker(self, pipes):
        """Ask every listeners' process; their answers summed (counts) or joined (reports)."""

        async def ask(command: str, payload=None):
            for n, pipe in enumerate(pipes):
                share = payload
                if command == "drop":  # `payload` sockets in all, shared out
                    share = payload // len(pipes) + (1 if n < payload % len(pipes) else 0)
                pipe.send((command, share))
            answers = []
            for pipe in pipes:
                if not await asyncio.to_thread(pipe.poll, 60):
                    raise TimeoutError(f"the listeners did not answer {command!r}")
                answers.append(pipe.recv())
            if command == "connected":
                return sum(answers)
            if command == "report":
                return [row for answer in answers for row in answer]
            return None

        return ask

    def out_of_time(self, began: float) -> bool:
        return time.monotonic() - began > self.args.seconds - 60

    async def kill_mixers(self, keys, room_id: int, began: float, kills: list[float]) -> None:
        for n in range(self.args.mixer_kills):
            if self.out_of_time(began):
                break
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                holder, standby = keys.get(LEASE_KEY.format(room_id)), keys.get(STANDBY_KEY.format(room_id))
                if holder and standby and holder != standby:
                    break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("no mixer followed the room as its standby")
            await asyncio.sleep(2 + random.random())  # a kill at any moment of the renewals
            holder = keys.get(LEASE_KEY.format(room_id)).decode()
            kills.append(time.monotonic())
            self.processes.kill(holder)
            progress(f"mixer kill {n + 1}: killed {holder}")
            await asyncio.sleep(2.5)
            await asyncio.to_thread(self.start_mixer)

    async def kill_host_processes(self, host, host_on: int, ask, began: float, kills: list[float]) -> None:
        for n in range(self.args.host_kills):
            if self.out_of_time(began):
                break
            await asyncio.sleep(2 + random.random())
            on_killed = self.room_sockets(host_on)
            killed = time.monotonic()
            kills.append(killed)
            self.processes.kill(f"web{host_on}")
            await host.wait(lambda k=killed: host.snapshot_after(k), 15, "the host back")
            progress(
                f"host kill {n + 1}: web{host_on} ({on_killed} sockets); host back in "
                f"{(host.snapshot_after(killed)[0] - killed) * 1000:.0f} ms"
            )
            await asyncio.sleep(WINDOW_AFTER_S + 0.2)
            await asyncio.to_thread(self.start_web, host_on)
            host_on = 3 - host_on  # the host is on the other one now, with every listener
            await asyncio.sleep(1)
            await ask("drop", self.args.listeners // 2)
            await self.settled(ask)

    async def settled(self, ask, timeout: float = 30) -> None:
        """Wait until every listener is connected again (a busy machine takes a while)."""
        await asyncio.sleep(1)
        deadline = time.monotonic() + timeout
        while await ask("connected") < self.args.listeners and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)

    def tally(self, reports: list, host, mixer_kills: list[float], host_kills: list[float]) -> dict:
        mixer_gaps = [
            g for kept, *_ in reports for k in mixer_kills if (g := silence_ms(kept, k)) is not None
        ]
        mixer_deaf = sum(1 for kept, *_ in reports for k in mixer_kills if silence_ms(kept, k) is None)
        stayed, moved, back, host_deaf = [], [], [], 0
        for killed in host_kills:
            for kept, snapshots, closes, _ in reports:
                gap = silence_ms(kept, killed)
                dropped = any(killed - 0.1 <= t <= killed + DROPPED_WITHIN_S for t in closes)
                if gap is None:
                    host_deaf += 1
                    continue
                (moved if dropped else stayed).append(gap)
                if dropped:
                    again = next((t for t in snapshots if t > killed), None)
                    if again is not None:
                        back.append(again - killed)
        per_kill = []  # each host kill: (stayed p95, moved p95, slowest listener back) in ms
        for killed in host_kills:
            gaps = [
                (
                    silence_ms(kept, killed),
                    any(killed - 0.1 <= t <= killed + DROPPED_WITHIN_S for t in closes),
                    snaps,
                )
                for kept, snaps, closes, _ in reports
            ]
            s_ = [g for g, d, _ in gaps if g is not None and not d]
            m_ = [g for g, d, _ in gaps if g is not None and d]
            b_ = [next((t for t in snaps if t > killed), killed) - killed for g, d, snaps in gaps if d]
            per_kill.append(
                (round(max(s_, default=0)), round(max(m_, default=0)), round(max(b_, default=0) * 1000))
            )
        host_back = [
            (found[0] - k) * 1000 for k in host_kills if (found := host.snapshot_after(k)) is not None
        ]
        mixer, every, kept_on, moved_over = (
            pooled(mixer_gaps),
            pooled(stayed + moved),
            pooled(stayed),
            pooled(moved),
        )
        return {
            "listeners": self.args.listeners,
            "mixer_kills": len(mixer_kills),
            "host_kills": len(host_kills),
            "mixer_gap_p50_ms": mixer["p50"],
            "mixer_gap_p95_ms": mixer["p95"],
            "mixer_gap_max_ms": mixer["max"],
            "mixer_no_audio_after": mixer_deaf,
            "host_gap_p50_ms": every["p50"],
            "host_gap_p95_ms": every["p95"],
            "host_gap_max_ms": every["max"],
            "host_gap_stayed_p95_ms": kept_on["p95"],
            "host_gap_moved_p95_ms": moved_over["p95"],
            "host_no_audio_after": host_deaf,
            "host_back_p50_ms": round(percentile(host_back, 50) or 0),
            "host_back_max_ms": round(max(host_back, default=0)),
            "reconnect_p99_s": round(percentile(back, 99) or 0, 2),
            "reconnected": len(back),
            "host_kills_stayed_moved_back_max_ms": per_kill,
            "mixer_kills_max_ms": [
                round(max((g for kept, *_ in reports if (g := silence_ms(kept, k)) is not None), default=0))
                for k in mixer_kills
            ],
            "load_average": round(os.getloadavg()[0], 1),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=200)
    parser.add_argument("--mixer-kills", type=int, default=10)
    parser.add_argument("--host-kills", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=600, help="the whole run at most")
    parser.add_argument(
        "--client-processes",
        type=int,
        default=2,
        help="processes the listeners are spread over (one alone fell behind with 200 TLS sockets)",
    )
    parser.add_argument("--db-name", default="bench_faults")
    args = parser.parse_args()
    return run_seeded(
        args,
        work_prefix="bench-faults-",
        seed=seed,
        benchmark=lambda database_url, seeded, work: Run(args, database_url, seeded, work).main(),
        targets=TARGETS,
    )


if __name__ == "__main__":
    sys.exit(main())
