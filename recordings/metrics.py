"""recordings' figures read at each scrape of /metrics (spaces_project/metrics/exposition.py)."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from .models import Recording


def collect():
    processing = Recording.objects.filter(status=Recording.Status.PROCESSING)
    cutoff = timezone.now() - timedelta(seconds=settings.RECORDINGS_STUCK_AFTER_S)
    yield GaugeMetricFamily(
        "spaces_recordings_processing",
        "Recordings being finalized now",
        value=processing.count(),
    )
    yield GaugeMetricFamily(
        "spaces_recordings_stuck",
        "Recordings still processing RECORDINGS_STUCK_AFTER_S after finalizing began (the periodic "
        "redispatch should have finished them)",
        value=processing.filter(processing_started_at__lt=cutoff).count(),
    )
