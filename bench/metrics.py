"""What the metrics cost: an HTTP request's floor with and without the request timing, and one
mixer tick's two histogram observations, in prometheus-client's multiprocess mode (as production).

    python bench/metrics.py [--requests 3000] [--rounds 5]

In-process with Django's test client, on /offline/ (a page that reads no database): blocks of
requests alternate with and without `RequestMetricsMiddleware` (ABBA, so neither always goes
first), and a machine whose load changes during the run loads both alike. The middleware's own
work is also timed alone, called directly on a resolved request. The last line printed is one JSON
object with the figures.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings.test")
# Before prometheus-client is imported: the multiprocess mode, as under `manage.py serve` and systemd.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="spaces-bench-metrics-"))

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.urls import resolve  # noqa: E402

from spaces_project import metrics  # noqa: E402
from spaces_project.metrics.http import RequestMetricsMiddleware  # noqa: E402

TIMING = "spaces_project.metrics.http.RequestMetricsMiddleware"


def request_times(count: int) -> list[float]:
    client = Client()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get("/offline/")
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=250, help="requests per block")
    parser.add_argument("--rounds", type=int, default=40, help="pairs of blocks")
    args = parser.parse_args()
    without = [m for m in settings.MIDDLEWARE if m != TIMING]
    request_times(200)  # warm up both paths
    timed, untimed = [], []
    for number in range(args.rounds):
        for with_timing in (True, False) if number % 2 == 0 else (False, True):
            if with_timing:
                timed += request_times(args.requests)
            else:
                with override_settings(MIDDLEWARE=without):
                    untimed += request_times(args.requests)
    request = HttpRequest()
    request.resolver_match = resolve("/offline/")
    answered = HttpResponse()
    middleware = RequestMetricsMiddleware(lambda _: answered)
    calls = 50_000
    started = time.perf_counter()
    for _ in range(calls):
        middleware(request)
    middleware_us = (time.perf_counter() - started) / calls * 1e6
    ticks = 100_000
    started = time.perf_counter()
    for _ in range(ticks):
        metrics.MIXER_LAG.observe(0.0004)
        metrics.MIXER_TICK.observe(0.0011)
    tick_us = (time.perf_counter() - started) / ticks * 1e6
    figures = {
        "requests_per_variant": len(timed),
        "with_timing_p50_us": round(statistics.median(timed) * 1e6, 1),
        "without_timing_p50_us": round(statistics.median(untimed) * 1e6, 1),
        "with_timing_p95_us": round(percentile(timed, 0.95) * 1e6, 1),
        "without_timing_p95_us": round(percentile(untimed, 0.95) * 1e6, 1),
        "timing_cost_p50_us": round((statistics.median(timed) - statistics.median(untimed)) * 1e6, 1),
        "middleware_alone_us": round(middleware_us, 2),
        "mixer_tick_observations_us": round(tick_us, 2),
        "load_1min": round(os.getloadavg()[0], 2),
        "cores": os.cpu_count(),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
