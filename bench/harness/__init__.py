"""What the benchmarks share: the throwaway database and its seed, the server processes, CPU and
memory accounting, the worker-process pipes, a lean websocket listener, the room-events clients, and
the run's last line.

Every process is started with the interpreter running the benchmark (``sys.executable -m daphne``,
``sys.executable manage.py run_mixer``), so the benchmarks run from any environment that has the
requirements installed, a virtualenv or not. The scripts put bench/ on sys.path and `import harness`
(or `from harness import ...`): this package, split by domain, with everything they use here;
bench/_audio.py adds what only the audio benchmarks need.
"""

from .paths import ROOT

# isort: split
# The modules below import the project's own packages: ROOT is on sys.path by now.

from .accounting import cpu_seconds, machine_busy_seconds, rss_kib
from .database import (
    clear_room_keys,
    database_urls,
    host_and_listeners,
    recreate_database,
    seed,
    seed_people,
    seeded_database,
    session_cookie,
    setup_django,
)
from .events import EventClient, LeanEventClient, event_key, events_worker_main
from .lean import HEARTBEAT_FRAME_TEXT, LeanListener, open_lean, rooms_worker_main
from .processes import (
    free_port,
    server_env,
    start_daphne,
    start_daphnes,
    start_mixer,
    start_process,
    stop_process,
    wait_for_lease,
)
from .report import percentile, progress, run_and_report, run_seeded
from .workers import WorkerPipes, commands, failure_reason

__all__ = [
    "HEARTBEAT_FRAME_TEXT",
    "ROOT",
    "EventClient",
    "LeanEventClient",
    "LeanListener",
    "WorkerPipes",
    "commands",
    "clear_room_keys",
    "cpu_seconds",
    "database_urls",
    "event_key",
    "events_worker_main",
    "failure_reason",
    "free_port",
    "host_and_listeners",
    "machine_busy_seconds",
    "open_lean",
    "percentile",
    "progress",
    "recreate_database",
    "rooms_worker_main",
    "rss_kib",
    "run_and_report",
    "run_seeded",
    "seed",
    "seed_people",
    "seeded_database",
    "server_env",
    "session_cookie",
    "setup_django",
    "start_daphne",
    "start_daphnes",
    "start_mixer",
    "start_process",
    "stop_process",
    "wait_for_lease",
]
