"""The accounts' periodic work is on the beat schedule, and runs without Redis too: an expired
suspension is lifted and an expired data archive deleted without anyone signing in or clicking."""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import DataExport, User
from spaces_project.celery import app
from spaces_project.embedded_beat import EmbeddedBeat
from tests.factories import UserFactory

ACCOUNT_TASKS = {"accounts.tasks.lift_expired_suspensions", "accounts.tasks.purge_expired_data_exports"}


def test_the_schedule_names_only_registered_tasks_and_includes_the_accounts_ones():
    app.loader.import_default_modules()  # autodiscovery, as a worker does at start
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert ACCOUNT_TASKS <= scheduled
    assert scheduled <= set(app.tasks)
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        if entry["task"] in ACCOUNT_TASKS:
            assert 60 <= entry["schedule"] <= 3600  # often enough to matter, rarely enough to be cheap


@pytest.mark.django_db(transaction=True)
def test_the_embedded_beat_lifts_expired_suspensions_and_purges_expired_archives(media_root):
    suspended = UserFactory()
    User.objects.filter(pk=suspended.pk).update(
        is_suspended=True,
        suspended_at=timezone.now() - timedelta(days=7),
        suspension_reason="Spam",
        suspended_until=timezone.now() - timedelta(seconds=1),
    )
    still_suspended = UserFactory()
    User.objects.filter(pk=still_suspended.pk).update(
        is_suspended=True, suspended_until=timezone.now() + timedelta(days=1)
    )
    archive = media_root / "exports" / "expired.zip"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"zip")
    DataExport.objects.create(
        user=UserFactory(),
        status=DataExport.Status.READY,
        file_name=archive.name,
        expires_at=timezone.now() - timedelta(seconds=1),
    )
    fresh = DataExport.objects.create(
        user=UserFactory(), status=DataExport.Status.READY, expires_at=timezone.now() + timedelta(hours=1)
    )

    beat = EmbeddedBeat(settings.CELERY_BEAT_SCHEDULE, first_delay=0)
    beat.start()  # its real intervals: each task runs once at once, then not for minutes
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if not User.objects.get(pk=suspended.pk).is_suspended and not archive.exists():
                break
            time.sleep(0.1)
    finally:
        beat.stop()
        beat.join(10)

    lifted = User.objects.get(pk=suspended.pk)
    assert not lifted.is_suspended and lifted.suspension_reason == ""
    assert User.objects.get(pk=still_suspended.pk).is_suspended
    assert not archive.exists()
    assert list(DataExport.objects.values_list("pk", flat=True)) == [fresh.pk]
