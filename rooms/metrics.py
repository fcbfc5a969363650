"""rooms' figures read at each scrape of /metrics (spaces_project/metrics/exposition.py)."""

from prometheus_client.core import GaugeMetricFamily

from .models import Room


def collect():
    yield GaugeMetricFamily(
        "spaces_live_rooms",
        "Rooms live now (read from the database at each scrape: the same on every machine)",
        value=Room.objects.filter(state=Room.State.LIVE).count(),
    )
