"""Celery workers that die: mid-task (kill -9), and on every delivery of one task; and a worker that
lives through a task longer than the broker's visibility timeout.

Workers run prefork, as the deploy's unit runs them, with production's broker settings, on this
module's own Redis; tasks are queued by a `manage.py shell` on the same broker, as a web process would.
"""

import subprocess
import sys
import time

import pytest
import redis
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification
from deploy import harness
from recordings.models import Recording
from recordings.services import capture_directory
from rooms import services as room_services
from tests.factories import UserFactory
from tests.recordings.helpers import capture_tone

from .conftest import ROOT, server_env, start_worker

pytestmark = pytest.mark.django_db(transaction=True)

# What a person waits, at most, for the task of a worker that was killed to be handed to another
# (issue 21): a recording's finalization, an export, a clip, a refund, a notice.
LOST_TASK_BOUND_S = 120
EMAIL_TASK = "accounts.tasks.send_notification_emails"


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


def deliveries(process: harness.Process, task: str) -> int:
    """How many times `process` (a worker) was handed a message of `task`."""
    return sum(
        1 for line in process.output().splitlines() if f"Task {task}[" in line and line.endswith(" received")
    )


def broker_options() -> dict:
    """The broker's transport options, production's (settings/test.py leaves base.py's alone)."""
    return django_settings.CELERY_BROKER_TRANSPORT_OPTIONS


def make_notifications(count: int) -> tuple[list, list[int]]:
    host = UserFactory()
    fans = [UserFactory() for _ in range(count)]
    ids = [
        Notification.objects.create(
            recipient=fan, kind="host_live", actor=host, text="Live now", email_wanted=True
        ).pk
        for fan in fans
    ]
    return fans, ids


def slow_mail_env(redis_server, media_root, mail_dir, seconds: float) -> dict:
    mail_dir.mkdir()
    return server_env(
        redis_server.url(),
        media_root,
        TEST_EMAIL_BACKEND="tests.faults.mail.SlowFileBackend",
        TEST_EMAIL_FILE_PATH=str(mail_dir),
        SLOW_MAIL_SECONDS=seconds,
    )


def test_a_killed_workers_task_goes_to_another_worker_within_two_minutes_and_sends_each_email_once(
    processes, redis_server, media_root, stack_dir
):
    mail_dir = stack_dir / "mail-killed"
    env = slow_mail_env(redis_server, media_root, mail_dir, 1.5)
    fans, ids = make_notifications(3)
    for name in ("worker-a", "worker-b"):
        start_worker(processes, env, name=name, pool="prefork")
    queue(env, f"from accounts.tasks import send_notification_emails; send_notification_emails.delay({ids})")
    # The first email went out and was marked; the worker that has the task dies sending the second.
    harness.wait_for(lambda: Notification.objects.get(pk=ids[0]).emailed_at, 60, "the first email")
    holder, other = sorted(("worker-a", "worker-b"), key=lambda n: -deliveries(processes[n], EMAIL_TASK))
    processes.kill(holder)
    killed = time.monotonic()
    assert mails(mail_dir) == [fans[0].email]
    # The task was not acknowledged: the broker hands it to the other worker once its lease, no longer
    # renewed, is visibility_timeout old (found by that worker's next restore sweep).
    harness.wait_for(
        lambda: deliveries(processes[other], EMAIL_TASK), LOST_TASK_BOUND_S + 60, "the task delivered again"
    )
    waited = time.monotonic() - killed
    harness.wait_for(
        lambda: all(n.emailed_at for n in Notification.objects.filter(pk__in=ids)), 60, "every email"
    )
    done = time.monotonic() - killed
    assert sorted(mails(mail_dir)) == sorted(fan.email for fan in fans)  # each once
    processes.stop(other)
    options = broker_options()
    print(
        f"faults: a worker killed mid-task: its email task was delivered to the other worker {waited:.1f} s "
        f"after the kill and finished {done:.1f} s after it (visibility_timeout "
        f"{options['visibility_timeout']} s + restore sweep every {options['unacked_restore_interval']} s; "
        f"bound {LOST_TASK_BOUND_S} s)"
    )
    assert waited <= LOST_TASK_BOUND_S


def test_a_task_longer_than_the_visibility_timeout_runs_once_while_its_worker_lives(
    processes, redis_server, media_root, stack_dir
):
    # Three emails of 25 s each: the task runs longer than the timeout plus a sweep, so a lease that
    # were not renewed would be handed to the idle worker while the first still runs the task.
    options = broker_options()
    env = slow_mail_env(redis_server, media_root, stack_dir / "mail-long", 25)
    fans, ids = make_notifications(3)
    for name in ("worker-a", "worker-b"):
        start_worker(processes, env, name=name, pool="prefork")
    started = time.monotonic()
    queue(env, f"from accounts.tasks import send_notification_emails; send_notification_emails.delay({ids})")
    harness.wait_for(
        lambda: all(n.emailed_at for n in Notification.objects.filter(pk__in=ids)), 200, "every email"
    )
    took = time.monotonic() - started
    assert took > options["visibility_timeout"] + options["unacked_restore_interval"]
    assert sorted(mails(stack_dir / "mail-long")) == sorted(fan.email for fan in fans)  # each once
    handed = [deliveries(processes[name], EMAIL_TASK) for name in ("worker-a", "worker-b")]
    assert sorted(handed) == [0, 1]  # one worker had it, once; the idle one never
    processes.stop("worker-a")
    processes.stop("worker-b")
    print(
        f"faults: a task of {took:.0f} s (visibility_timeout {options['visibility_timeout']} s) ran once, "
        "on one worker; the idle worker was never handed it"
    )


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
    # And it stays given up: the broker holds no copy of it, queued or unacknowledged, to deliver again.
    broker = redis.Redis.from_url(redis_server.url())
    harness.wait_for(
        lambda: not broker.llen("celery") and not broker.hlen("unacked"), 15, "the message acked"
    )
    broker.close()
    assert Recording.objects.get(pk=recording.pk).finalize_attempts == 3
    client.force_login(host)
    page = client.get(reverse("recordings:detail", args=[recording.pk]))
    assert b"Something went wrong while processing the recording" in page.content
    assert b"given up after 3 deliveries" in page.content
    processes.stop("crashing")
    print(f"faults: a task that killed its worker on every delivery was given up after 3, in {took:.1f} s")
