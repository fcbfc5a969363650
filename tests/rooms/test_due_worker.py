"""Timed notices with real processes on the Redis broker (skipped without Redis and PostgreSQL,
which CI has): Celery beat sends the periodic task, workers run it, and the reminder of a room and
its host's 30-minute notice each reach their person exactly once, by notification and by email,
while two beats tick every second over the same minute and two worker processes run the ticks at
the same time.
"""

import os
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.utils import timezone

from accounts.models import Notification
from rooms import services
from rooms.models import Room
from tests.factories import UserFactory
from tests.recordings.test_worker import CELERY, ROOT, Workers, _test_database_url, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
TICK_S = 1


class Beats:
    """`celery beat` processes, started and stopped with the workers."""

    def __init__(self, workers: Workers, tmp_path: Path) -> None:
        self.workers = workers
        self.tmp_path = tmp_path
        self.logs: list[Path] = []

    def start(self) -> None:
        number = len(self.logs) + 1
        log = self.tmp_path / f"beat-{number}.log"
        schedule = self.tmp_path / f"beat-{number}-schedule"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [
                    CELERY,
                    "-A",
                    "spaces_project",
                    "beat",
                    "-l",
                    "info",
                    "-s",
                    str(schedule),
                    "--max-interval",
                    "1",
                ],
                cwd=ROOT,
                env=self.workers.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process.log = log
        self.workers.processes.append(process)  # stopped by the workers fixture
        self.logs.append(log)
        wait_for(lambda: self.ticks_of(log) >= 1 or process.poll() is not None, 60, "beat's first tick")
        assert process.poll() is None, log.read_text()

    @staticmethod
    def ticks_of(log: Path) -> int:
        return log.read_text(errors="replace").count("Sending due task send-due-notices")

    def ticks(self) -> int:
        return sum(self.ticks_of(log) for log in self.logs)


@pytest.fixture
def processes(settings, tmp_path):
    if not settings.REDIS_URL:
        pytest.skip("a real worker and beat need Redis (REDIS_URL)")

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete("celery", "unacked", "unacked_index")
    client.close()
    (tmp_path / "mail").mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "spaces_project.settings.test",
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DUE_NOTICES_EVERY_S": str(TICK_S),
        "TEST_EMAIL_FILE_PATH": str(tmp_path / "mail"),
        "PYTHONUNBUFFERED": "1",
    }
    workers = Workers(env, tmp_path)
    beats = Beats(workers, tmp_path)
    yield workers, beats
    workers.stop_all()


def emails_to(mail_dir: Path, address: str) -> list[str]:
    messages = []
    for path in sorted(mail_dir.iterdir()):
        messages += [m for m in path.read_text().split("-" * 79) if f"To: {address}" in m]
    return messages


def test_beat_fires_a_reminder_and_the_host_notice_exactly_once(processes, tmp_path):
    workers, beats = processes
    workers.start(pool="prefork", concurrency=2)
    beats.start()
    beats.start()
    host, fan = UserFactory(display_name="Ada Host"), UserFactory()
    room = services.room_create(
        host=host, title="Tea at five", start_now=False, scheduled_for=timezone.now() + timedelta(days=1)
    )
    services.reminder_set(room_id=room.pk, user=fan)
    # Time passes: the room now starts in a few seconds (its host has not been told yet).
    Room.objects.filter(pk=room.pk).update(scheduled_for=timezone.now() + timedelta(seconds=5))

    def notices():
        return list(Notification.objects.filter(room=room).order_by("pk").values_list("recipient_id", "text"))

    wait_for(lambda: len(notices()) >= 2, 60, "the host's notice and the reminder")
    ticks = beats.ticks()
    # Both beats keep ticking over the same minute; the workers run every tick.
    wait_for(lambda: beats.ticks() >= ticks + 4, 30, "more ticks")
    time.sleep(2 * TICK_S)
    assert workers.count("rooms.tasks.send_due_notices") >= 4 and "Traceback" not in "".join(
        p.log.read_text(errors="replace") for p in workers.processes
    )

    assert notices() == [
        (host.pk, "Your room Tea at five starts in 1 minute"),
        (fan.pk, "Starting now: Tea at five with Ada Host"),
    ]
    wait_for(lambda: len(emails_to(tmp_path / "mail", fan.email)) >= 1, 30, "the emails")
    time.sleep(1)
    [host_email] = emails_to(tmp_path / "mail", host.email)
    [fan_email] = emails_to(tmp_path / "mail", fan.email)
    assert "Subject: Spaces: Your room Tea at five starts in 1 minute" in host_email
    assert "Subject: Spaces: Starting now: Tea at five with Ada Host" in fan_email
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in fan_email
