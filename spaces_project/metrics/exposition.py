"""``/metrics``: the machine's metrics in Prometheus's text format, for whoever may read them.

Who may: with ``METRICS_TOKEN`` set, a request with ``Authorization: Bearer <METRICS_TOKEN>``; with
``METRICS_ALLOWED_NETWORKS`` set, a request from an address in them (the client's address, as the
trusted proxies saw it: spaces_project/middleware.py); with both set, both must hold. With neither,
nobody: ``/metrics`` answers 404, as if it did not exist, so that a site behind a proxy never shows
its figures to the world by default.

Apps add figures read at scrape time (live rooms, recordings stuck) with ``register_collector``;
they come from the database, so every web process of every machine reports the same value.
"""

import hmac
import ipaddress
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from . import MULTIPROC_DIR, forget_dead_processes

ScrapeCollector = Callable[[], Iterable[Metric]]
_scrape_collectors: list[ScrapeCollector] = []


def register_collector(collect: ScrapeCollector) -> None:
    """Add `collect` (it returns metric families) to every scrape. Call once, from an AppConfig.ready."""
    if collect not in _scrape_collectors:
        _scrape_collectors.append(collect)


class _AppCollector:
    def collect(self) -> Iterable[Metric]:
        for collect in _scrape_collectors:
            yield from collect()


def _address_allowed(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # no address (a unix socket with no trusted proxy)
        return False
    return any(ip.version == network.version and ip in network for network in networks)


def _token_given(request: HttpRequest) -> bytes:
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return token.strip().encode() if scheme.lower() == "bearer" else b""


def scrape() -> bytes:
    """The text of every metric: the whole machine's with the multiprocess directory, else this
    process's; then the apps' scrape-time figures."""
    if MULTIPROC_DIR:
        forget_dead_processes()
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=MULTIPROC_DIR)
        registry.register(_AppCollector())
        return generate_latest(registry)
    return generate_latest(REGISTRY) + generate_latest(_app_registry)


_app_registry = CollectorRegistry()
_app_registry.register(_AppCollector())


def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    networks = settings.METRICS_ALLOWED_NETWORKS
    if not token and not networks:
        raise Http404("metrics are off")
    if networks and not _address_allowed(request.META.get("REMOTE_ADDR", ""), networks):
        return HttpResponse(
            "Metrics are not served to this address.\n", status=403, content_type="text/plain"
        )
    if token and not hmac.compare_digest(_token_given(request), token.encode()):
        response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    # The text format every Prometheus reads (2.x, Debian's, and 3.x); our names are all ASCII.
    response = HttpResponse(scrape(), content_type=CONTENT_TYPE_PLAIN_0_0_4)
    response["Cache-Control"] = "no-store"
    return response
