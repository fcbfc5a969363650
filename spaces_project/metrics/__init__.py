"""Every metric the application exports, defined once (docs/metrics.md says what each means).

No Django here: the mixer's runner and the captioner use these too. prometheus-client chooses its
multiprocess mode when the process starts, from ``PROMETHEUS_MULTIPROC_DIR``: set (``manage.py
serve`` and deploy/'s units set it, one directory per machine), every process writes its values to
files there and ``/metrics`` on any web process adds up the whole machine's (exposition.py); unset,
each process counts for itself alone (tests, a bare ``manage.py runserver``).

Labels are bounded: a view's resolver name, a task's registered name, a fixed set of reasons and
routes; never a path, a room or a person.
"""

import os
import re

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client import multiprocess as _multiprocess

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
# The process's value files: their names end in the process's id (prometheus-client's naming).
_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def forget_dead_processes(path: str = MULTIPROC_DIR) -> list[int]:
    """Remove the live gauges (open sockets, listeners, caption queues) of processes of this machine
    that are gone: killed, crashed, restarted with a new id. Their counters and histograms stay, so
    that totals never go back. Return the ids forgotten."""
    if not path:
        return []
    dead = set()
    for name in os.listdir(path):
        match = _LIVE_GAUGE_FILE.fullmatch(name)
        if match and not _alive(int(match.group(1))):
            dead.add(int(match.group(1)))
    for pid in sorted(dead):
        _multiprocess.mark_process_dead(pid, path)
    return sorted(dead)


if MULTIPROC_DIR:
    # Before the first metric is made: a metric without labels opens its file at once.
    os.makedirs(MULTIPROC_DIR, exist_ok=True)
    forget_dead_processes()

# -- web processes ---------------------------------------------------------------------------------

# Labelled, so that only processes that hold sockets (web processes) have a series at all.
WEBSOCKETS_OPEN = Gauge(
    "spaces_websockets_open",
    "Websockets open in each web process, by kind: room, personal (/ws/me/), other (refused paths)",
    ["kind"],
    multiprocess_mode="liveall",
)
LISTENERS = Gauge(
    "spaces_listeners",
    "People in live rooms by how they hear them: websocket or hls listeners, and the stage",
    ["route"],
    multiprocess_mode="livesum",
)
ROUTES = ("websocket", "hls", "stage")
AUDIO_BUNDLES_SENT = Counter(
    "spaces_audio_bundles_sent",
    "Audio bundles written to sockets (one per socket that plays the stream)",
)
AUDIO_BUNDLES_DROPPED = Counter(
    "spaces_audio_bundles_dropped",
    "Audio bundles lost on their way: send_failed (a socket failed mid-send), slow_reader (the audio "
    "still waiting for a socket cut loose), publish_failed (a mixer could not publish to Redis)",
    ["reason"],
)
AUDIO_DROP_REASONS = ("send_failed", "slow_reader", "publish_failed")
AUDIO_UPLINK_DROPPED = Counter(
    "spaces_audio_uplink_dropped",
    "Speakers' frames refused or lost before the mixer: not_allowed, rate, malformed, queue_full",
    ["reason"],
)
UPLINK_DROP_REASONS = ("not_allowed", "rate", "malformed", "queue_full")
HTTP_DURATION = Histogram(
    "spaces_http_request_duration_seconds",
    "Time from a request entering Django to its response, by view (the URL pattern's name)",
    ["view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_RESPONSES = Counter(
    "spaces_http_responses",
    "HTTP responses by view and status class (2xx, 3xx, 4xx, 5xx)",
    ["view", "status"],
)
TICKETS = Counter(
    "spaces_tickets",
    "Tickets sold (paid) and refunded, counted when the sale or refund commits",
    ["event"],
)

# -- mixers ----------------------------------------------------------------------------------------

MIXER_TICK = Histogram(
    "spaces_mixer_tick_seconds",
    "Time one room's 20 ms mixer tick takes (mix, encode, hand over the bundles)",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1),
)
MIXER_LAG = Histogram(
    "spaces_mixer_lag_seconds",
    "How late a room's mixer tick starts after its 20 ms slot (a busy or stalled mixer process)",
    buckets=(0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5),
)

# -- captions --------------------------------------------------------------------------------------

CAPTION_LINES = Counter(
    "spaces_captions_lines",
    "Caption lines made: final, partial, and skipped (speech too late to caption, or lost on its way)",
    ["kind"],
)
CAPTION_QUEUE = Gauge(
    "spaces_captions_queue_depth",
    "Finished sentences waiting for recognition in the captioners",
    multiprocess_mode="livesum",
)
CAPTION_VOICE_DROPPED = Counter(
    "spaces_captions_voice_dropped",
    "Voice pieces a mixer could not queue for the captioner (its queue was full)",
)

# -- Celery ----------------------------------------------------------------------------------------

TASK_DURATION = Histogram(
    "spaces_task_duration_seconds",
    "Time a Celery task ran in a worker, by task",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 960.0),
)
TASKS = Counter(
    "spaces_tasks",
    "Celery task runs by task and outcome: success, failure (raised), retry",
    ["task", "outcome"],
)

# Every labelled series starts at zero, so that a rate over it exists before the first event
# (an alert on a series that does not exist yet cannot fire).
for _route in ROUTES:
    LISTENERS.labels(route=_route)
for _reason in AUDIO_DROP_REASONS:
    AUDIO_BUNDLES_DROPPED.labels(reason=_reason)
for _reason in UPLINK_DROP_REASONS:
    AUDIO_UPLINK_DROPPED.labels(reason=_reason)
for _kind in ("final", "partial", "skipped"):
    CAPTION_LINES.labels(kind=_kind)
for _event in ("sold", "refunded"):
    TICKETS.labels(event=_event)
