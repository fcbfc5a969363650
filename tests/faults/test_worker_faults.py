"""Celery workers that die: mid-task (kill -9), and on every delivery of one task.

Workers run on this module's own Redis; tasks are queued by a `manage.py shell` on the same broker,
as a web process would.
"""

import subprocess
import sys
import time

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification
from deploy import harness
from recordings.models import Recording
from recordings.services import capture_directory
from rooms import services as room_services
from tests.factories import UserFactory
from tests.recordings.helpers import capture_tone

from .conftest import ROOT, VISIBILITY_TIMEOUT_S, server_env, start_worker

pytestmark = pytest.mark.django_db(transaction=True)


def queue(env: dict, code: str) -> None:
    """Run `code` in a Django shell on the test's broker (it queues tasks, as a web process does)."""
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def mails(mail_dir) -> list[str]:
    """The recipients of every message the worker wrote, in order."""
    found = []
    for path in sorted(mail_dir.glob("*")):
        found += [
            line.removeprefix("To: ") for line in path.read_text().splitlines() if line.startswith("To: ")
        ]
    return found


def test_notification_emails_survive_a_worker_killed_mid_task_without_sending_twice(
    processes, redis_server, media_root, stack_dir
):
    mail_dir = stack_dir / "mail"
    mail_dir.mkdir()
    env = server_env(
        redis_server.url(),
        media_root,
        TEST_EMAIL_BACKEND="tests.faults.mail.SlowFileBackend",
        TEST_EMAIL_FILE_PATH=str(mail_dir),
        SLOW_MAIL_SECONDS=1.5,
    )
    host = UserFactory()
    fans = [UserFactory() for _ in range(3)]
    ids = [
        Notification.objects.create(
            recipient=fan, kind="host_live", actor=host, text="Live now", email_wanted=True
        ).pk
        for fan in fans
    ]
    start_worker(processes, env)
    queue(env, f"from accounts.tasks import send_notification_emails; send_notification_emails.delay({ids})")
    # The first email went out and was marked; the worker dies while sending the second.
    harness.wait_for(lambda: Notification.objects.get(pk=ids[0]).emailed_at, 60, "the first email")
    processes.kill("worker")
    assert mails(mail_dir) == [fans[0].email]
    # The task was not acknowledged: once the broker's visibility timeout passes, another worker
    # gets it again and sends the rest.
    started = time.monotonic()
    start_worker(processes, env)
    harness.wait_for(
        lambda: all(n.emailed_at for n in Notification.objects.filter(pk__in=ids)),
        60,
        "every email",
    )
    took = time.monotonic() - started
    assert sorted(mails(mail_dir)) == sorted(fan.email for fan in fans)  # each once
    processes.stop("worker")
    print(f"faults: a worker killed mid-task: its email task finished on the next worker {took:.1f} s later")


def test_a_task_that_kills_its_worker_every_time_is_given_up_and_the_recording_marked_failed(
    processes, redis_server, media_root, settings, client
):
    settings.MEDIA_ROOT = media_root
    env = server_env(redis_server.url(), media_root, TASK_MAX_DELIVERIES=3)
    host = UserFactory()
    room = room_services.room_create(host=host, title="A recording that crashes", is_recorded=True)
    capture_tone(capture_directory(room.pk), speaker_id=host.pk, seconds=2)
    # The host ended it (here without dispatching: the chain is queued below, on the test's broker).
    room.state, room.ended_at = "ended", timezone.now()
    room.save(update_fields=["state", "ended_at"])
    Recording.objects.filter(room=room).update(status="processing", processing_started_at=timezone.now())
    recording = Recording.objects.get(room=room)
    # A prefork worker whose finalizing step kills its process (as a crashing codec would).
    worker = start_worker(processes, env, name="crashing", pool="prefork", app="tests.faults.crashing_worker")
    started = time.monotonic()
    queue(
        env,
        f"from recordings.services import recording_process; recording_process(recording_id={recording.pk})",
    )
    harness.wait_for(
        lambda: Recording.objects.get(pk=recording.pk).status == "failed", 120, "the recording to fail"
    )
    took = time.monotonic() - started
    recording.refresh_from_db()
    assert "given up after 3 deliveries" in recording.failure_reason
    assert recording.finalize_attempts == 3
    assert worker.count("exited with 'signal 9 (SIGKILL)'") == 3
    # And it stays given up: no fourth delivery runs it.
    time.sleep(VISIBILITY_TIMEOUT_S + 1)
    assert Recording.objects.get(pk=recording.pk).finalize_attempts == 3
    client.force_login(host)
    page = client.get(reverse("recordings:detail", args=[recording.pk]))
    assert b"Something went wrong while processing the recording" in page.content
    assert b"given up after 3 deliveries" in page.content
    processes.stop("crashing")
    print(f"faults: a task that killed its worker on every delivery was given up after 3, in {took:.1f} s")
