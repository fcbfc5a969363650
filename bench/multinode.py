"""Several machines: three nodes behind one nginx, the node mixing the room killed (issue 27).

    python bench/multinode.py
    python bench/multinode.py --listeners 60 --before-kill 6 --after-kill 6

deploy/multinode.py's cluster, all on 127.0.0.1: three nodes, each with a directory of its own (its
MEDIA_ROOT, HLS_ROOT and logs; none is shared) and its own processes (web processes, a mixer, the
captioner, a Celery worker), one nginx in front as the load balancer, sharing only a PostgreSQL
database of the benchmark's own, a private redis-server and an S3 server (moto's standalone server,
MEDIA_STORAGE=s3; never a cloud account). The scripted room: a recorded room started by its host
through node A, its mixer node B's (only B's mixer is up when it goes live; A's and C's start after as
standbys), the host on node A talking a steady tone, the listeners spread over the three nodes by
nginx; then every process of node B is killed with kill -9. The host ends the room, only node C's
worker consumes at that moment, and the replay is fetched through node A and decoded.

Figures: `mixer_failover_gap_ms` is the p95 of the silence heard by the listeners whose web process
lived (node A's and C's) around the kill (target: 1,000 ms p95, the mixer's death); node B's
listeners, who also reconnect, are `moved_gap_p95_ms`. `lost_bundles` counts bundles missing from
any listener's stream outside the failover (frame sequence numbers); `replay_ok` is a replay that
node C finalized, played through node A, lasting the room's time on air within 2 s;
`files_outside_storage` counts the files left under the nodes' own directories (0 when every media
file goes to the bucket).

Bounded: at most --seconds in all; the database and the bucket's server go at the end and every
process it started is stopped. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import host_and_listeners, progress, run_seeded, seed_people  # noqa: E402

from deploy import harness as stack  # noqa: E402
from deploy import multinode  # noqa: E402
from tests.faults.tone import talk  # noqa: E402
from tests.s3 import S3Server  # noqa: E402

TARGETS = {"mixer_failover_gap_ms": 1000, "lost_bundles": 0, "replay_ok": True, "files_outside_storage": 0}


def seed(listeners: int) -> dict:
    """A recorded room scheduled for an hour from now, its host, and `listeners` signed-in listeners
    (after setup_django())."""
    from django.core.management import call_command  # noqa: PLC0415 (after setup_django())
    from django.utils import timezone  # noqa: PLC0415 (after setup_django())

    from rooms.models import Room  # noqa: PLC0415 (after setup_django())

    call_command("migrate", verbosity=0, interactive=False)
    people = seed_people([f"nodes{i}" for i in range(listeners + 1)])
    room = Room.objects.create(
        title="Several machines",
        host=people[0],
        is_recorded=True,
        scheduled_for=timezone.now() + timedelta(hours=1),
    )
    return host_and_listeners(room.pk, people)


def recording_status(room_id: int):
    from django.db import connection  # noqa: PLC0415 (after setup_django())

    from recordings.models import Recording  # noqa: PLC0415 (after setup_django())

    try:
        fields = ("id", "status", "segment_times", "capture_notes", "failure_reason")
        return Recording.objects.filter(room_id=room_id).values(*fields).first()
    finally:
        connection.close()  # polled from a worker thread: no connection left behind


async def run_nodes(
    args: argparse.Namespace, database_url: str, seeded: dict, work: Path, s3: S3Server
) -> dict:
    with stack.Processes(work / "redis-logs") as shared:
        redis_server = stack.RedisServer(shared, work / "redis")
        redis_server.start()
        env = stack.base_env(
            DJANGO_SETTINGS_MODULE="spaces_project.settings.bench",
            DATABASE_URL=database_url,
            REDIS_URL=redis_server.url(),
            LOG_LEVEL="INFO",  # the workers' "Task ... succeeded" lines say which node finalized
            TRUSTED_PROXY_COUNT="1",
            **s3.environment(s3.new_bucket()),
        )
        with multinode.Cluster(work / "cluster", env, web_per_node=args.web_per_node) as cluster:
            progress(f"starting three nodes ({args.web_per_node} web process(es) each) and the balancer")
            await asyncio.to_thread(cluster.start, mixers_on=("b",))
            try:
                figures = await multinode.run_room(
                    cluster,
                    redis_url=redis_server.url(),
                    room_id=seeded["room_id"],
                    host_cookie=seeded["host"],
                    listener_cookies=seeded["listeners"],
                    recording_status=lambda: recording_status(seeded["room_id"]),
                    before_kill_s=args.before_kill,
                    after_kill_s=args.after_kill,
                    talk=talk,
                    say=progress,
                )
            except Exception:
                print(cluster.logs(), file=sys.stderr)
                raise
    figures["load_average"] = multinode.load_average()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=60)
    parser.add_argument("--web-per-node", type=int, default=1)
    parser.add_argument("--before-kill", type=float, default=6, help="seconds of the room before node B dies")
    parser.add_argument("--after-kill", type=float, default=6, help="seconds of the room after")
    parser.add_argument("--seconds", type=float, default=420, help="the whole run at most")
    parser.add_argument("--db-name", default="bench_multinode")
    args = parser.parse_args()
    if args.listeners < 3:
        parser.error("--listeners must be at least 3 (one on each node)")
    s3 = None

    def nodes(database_url: str, seeded: dict, work: Path):
        nonlocal s3
        s3 = S3Server().start()  # once the database is seeded, before the run's --seconds begin
        return run_nodes(args, database_url, seeded, work, s3)

    def cleanup() -> None:
        if s3 is not None:
            s3.stop()
        if "django.db" in sys.modules:  # setup_django() ran: its connection must not hold the database
            sys.modules["django.db"].connections.close_all()

    def line(figures: dict, failed: BaseException | None) -> dict:
        if failed is not None:
            figures["load_average"] = round(os.getloadavg()[0], 1)
        result = {
            "nodes": figures.get("nodes", 3),
            "listeners": args.listeners,
            "lost_bundles": figures.get("lost_bundles"),
            "mixer_failover_gap_ms": figures.get("mixer_failover_gap_ms"),
            "replay_ok": figures.get("replay_ok", False),
            "files_outside_storage": figures.get("files_outside_storage"),
        }
        result.update({k: v for k, v in figures.items() if k not in result})
        return result

    return run_seeded(
        args,
        work_prefix="bench-multinode-",
        seed=seed,
        benchmark=nodes,
        targets=TARGETS,
        line=line,
        cleanup=cleanup,
    )


if __name__ == "__main__":
    sys.exit(main())
