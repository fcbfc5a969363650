"""Run a Spaces deployment on one machine, as child processes of one Python process, and talk to it.

Used by the production smoke test (deploy.smoke), the fault tests (tests/faults/) and the
reconnect benchmark: every process it starts gets its own process group and log file, and is stopped
(the whole group) by `Processes.stop_all()`; nothing here touches a process it did not start.
Everything listens on 127.0.0.1 or on unix sockets, on ports picked free.

By domain: processes.py (processes, ports, waiting), services.py (redis-server, the TLS certificate,
nginx), browser.py (HTTP as a browser does it), room_client.py (room sockets as room.js does them).
Callers use `from deploy import harness` and `harness.X`: every public name is here.
"""

from deploy.harness.browser import Browser, Response
from deploy.harness.processes import (
    ROOT,
    Process,
    Processes,
    base_env,
    free_port,
    tcp_listening,
    unix_health,
    unix_listening,
    wait_for,
)
from deploy.harness.room_client import (
    BACKOFF_FIRST_S,
    BACKOFF_JITTER,
    BACKOFF_MAX_S,
    FINAL_CLOSE_CODES,
    RETRY_SPREAD_S,
    SETTLED_S,
    STAGE_ROLES,
    RoomClient,
    reconnect_delay,
)
from deploy.harness.services import (
    NGINX,
    RedisServer,
    render_local_site,
    self_signed_certificate,
    start_nginx,
)

__all__ = [
    "BACKOFF_FIRST_S",
    "BACKOFF_JITTER",
    "BACKOFF_MAX_S",
    "FINAL_CLOSE_CODES",
    "NGINX",
    "RETRY_SPREAD_S",
    "ROOT",
    "SETTLED_S",
    "STAGE_ROLES",
    "Browser",
    "Process",
    "Processes",
    "RedisServer",
    "Response",
    "RoomClient",
    "base_env",
    "free_port",
    "reconnect_delay",
    "render_local_site",
    "self_signed_certificate",
    "start_nginx",
    "tcp_listening",
    "unix_health",
    "unix_listening",
    "wait_for",
]
