"""Periodic work about rooms (scheduled by celery beat, see CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from . import services


@shared_task(ignore_result=True, soft_time_limit=50, time_limit=60)
def end_abandoned_rooms() -> int:
    """Beat: end the live rooms whose host and co-hosts have all been gone for ROOM_ABANDONED_MINUTES."""
    return len(services.rooms_end_abandoned())
