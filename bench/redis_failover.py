"""Silence and dropped sockets when Redis fails over: kills of the Redis primary under Sentinel, with a
host talking to 100 signed-in listeners.

    python bench/redis_failover.py
    python bench/redis_failover.py --listeners 100 --kills 5

bench/faults.py's stack (nginx with deploy/'s site in front of two web processes, two `run_mixer`
processes, a benchmark database; its listeners' process, host and seeding), on a Redis primary, its
replica and three Sentinels on loopback ports (tests/faults/sentinel.py, `down-after-milliseconds`
1000), every process configured with REDIS_SENTINELS. Each kill is SIGKILL of whichever server is the
master; once the Sentinels have promoted the other and the listeners have had WINDOW_AFTER_S to hear
the host again, the killed server is started again as the new master's replica, so the next kill
fails the room back over.

Per kill: the promotion (kill to the Sentinels naming the new master), each listener's silence (the
longest wait between two bundles around the kill, less the audio the earlier one carried, as in
bench/faults.py), the sockets that closed, and the time to each listener's next snapshot (every page
re-reads its room once the bus is subscribed again). Bounded by --seconds; the database is dropped at
the end and every process it started is stopped. The last line printed is one JSON object.
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

import faults  # noqa: E402
from harness import percentile, progress, run_seeded  # noqa: E402

from deploy import harness as stack  # noqa: E402
from rooms.audio import wire  # noqa: E402
from tests.faults.sentinel import SentinelSet  # noqa: E402
from tests.faults.tone import talk  # noqa: E402

TARGETS = {"gap_max_ms": 5000, "socket_back_max_s": 5.0}
WINDOW_BEFORE_S = 1.0
WINDOW_AFTER_S = 8.0


def silence_ms(kept: list[tuple[float, int]], killed: float) -> float | None:
    window = [(t, n) for t, n in kept if killed - WINDOW_BEFORE_S <= t <= killed + WINDOW_AFTER_S and n]
    if not any(t > killed for t, _ in window) or not any(t <= killed for t, _ in window):
        return None
    return 1000 * max(
        (t2 - t1 - n1 * wire.FRAME_MS / 1000 for (t1, n1), (t2, _) in zip(window, window[1:], strict=False)),
        default=0.0,
    )


class FailoverRun(faults.Run):
    def env(self, redis_url: str) -> dict:
        return {**super().env(redis_url), **self.sentinels.env()}

    async def main(self) -> dict:
        args, room_id = self.args, self.seeded["room_id"]
        began = time.monotonic()
        with self.processes:
            self.sentinels = SentinelSet(self.processes, self.work / "sentinel")
            await asyncio.to_thread(self.sentinels.start)
            self.site = stack.render_local_site(
                self.work, web=2, MEDIA_ROOT=str(self.work / "media"), HLS_SIGNING_SECRET="unused"
            )
            self.server_env = self.env(self.sentinels.env()["REDIS_URL"])
            for instance in (1, 2):
                await asyncio.to_thread(self.start_web, instance)
            await asyncio.to_thread(
                stack.start_nginx,
                self.processes,
                self.work / "nginx",
                self.site["files"]["nginx/spaces.conf"],
                ready_port=self.site["https_port"],
            )
            for _ in range(2):
                await asyncio.to_thread(self.start_mixer)
            origin = self.site["origin"]
            url = origin.replace("https://", "wss://") + f"/ws/rooms/{room_id}/"
            host = stack.RoomClient(
                url, origin=origin, cookie=self.seeded["host"], ssl_context=stack.Browser(origin).ssl_context
            )
            host.start()
            await host.wait(lambda: host.snapshots, 30, "the host's snapshot")
            stop_talking = asyncio.Event()
            talking = asyncio.get_running_loop().create_task(talk(host, stop_talking))
            progress(f"{args.listeners} listeners connecting")
            context = multiprocessing.get_context("spawn")
            pipe, child = context.Pipe()
            listeners = context.Process(
                target=faults._listeners, args=(child, url, origin, self.seeded["listeners"]), daemon=True
            )
            listeners.start()
            ask = self._asker(pipe)
            kills: list[tuple[float, float]] = []
            try:
                self.figures["listeners_connected"] = await asyncio.to_thread(pipe.recv)
                await asyncio.sleep(3)
                try:
                    for n in range(args.kills):
                        if self.out_of_time(began):
                            break
                        await asyncio.sleep(2 + random.random())  # a kill at any moment of the renewals
                        old, killed = self.sentinels.kill_master()
                        promoted = await asyncio.to_thread(self.sentinels.wait_failover, old)
                        kills.append((killed, promoted))
                        progress(
                            f"kill {n + 1}: port {old.port} killed; promoted after {promoted - killed:.2f} s"
                        )
                        await asyncio.sleep(max(0.0, killed + WINDOW_AFTER_S + 0.2 - time.monotonic()))
                        await asyncio.to_thread(self.sentinels.rejoin, old)
                        await self.settled(ask)
                except Exception as error:  # report the kills done so far, and why it stopped
                    traceback.print_exc()
                    self.figures["stopped_early"] = f"{type(error).__name__}: {error}"
                reports = await ask("report")
                self.figures.update(self.failover_tally(reports, host, kills))
            finally:
                stop_talking.set()
                await talking
                await host.stop()
                try:
                    await ask("stop")
                except Exception:
                    pass
                listeners.join(10)
                if listeners.is_alive():
                    listeners.kill()
        return self.figures

    def failover_tally(self, reports: list, host, kills: list[tuple[float, float]]) -> dict:
        gaps, deaf, dropped, back, resync = [], 0, 0, [], []
        for killed, _ in kills:
            for kept, snapshots, closes, _ in reports:
                gap = silence_ms(kept, killed)
                if gap is None:
                    deaf += 1
                else:
                    gaps.append(gap)
                closed = [t for t in closes if killed <= t <= killed + WINDOW_AFTER_S]
                if closed:
                    dropped += 1
                    again = next((t for t in snapshots if t > closed[-1]), None)
                    back.append((again if again is not None else float("inf")) - killed)
                again = next((t for t in snapshots if t > killed), None)
                if again is not None:
                    resync.append(again - killed)
        every = faults.pooled(gaps)
        promotions = [promoted - killed for killed, promoted in kills]
        return {
            "listeners": self.args.listeners,
            "kills": len(kills),
            "promoted_p50_s": round(percentile(promotions, 50) or 0, 2),
            "promoted_max_s": round(max(promotions, default=0), 2),
            "gap_p50_ms": every["p50"],
            "gap_p95_ms": every["p95"],
            "gap_max_ms": every["max"],
            "no_audio_after": deaf,
            "sockets_dropped": dropped,
            "socket_back_max_s": round(max(back, default=0), 2),
            "resync_p50_s": round(percentile(resync, 50) or 0, 2),
            "resync_p95_s": round(percentile(resync, 95) or 0, 2),
            "kills_gap_max_ms": [
                round(max((g for kept, *_ in reports if (g := silence_ms(kept, k)) is not None), default=0))
                for k, _ in kills
            ],
            "load_average": round(os.getloadavg()[0], 1),
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=100)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=400, help="the whole run at most")
    parser.add_argument("--db-name", default="bench_redis_failover")
    args = parser.parse_args()
    return run_seeded(
        args,
        work_prefix="bench-failover-",
        seed=faults.seed,
        benchmark=lambda database_url, seeded, work: FailoverRun(args, database_url, seeded, work).main(),
        targets=TARGETS,
    )


if __name__ == "__main__":
    sys.exit(main())
