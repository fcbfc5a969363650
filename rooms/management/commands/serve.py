import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from spaces_project.celery import app as celery_app


def worker_queues() -> list[str]:
    """Name every queue a task is routed to, so the one local worker takes them all.

    Production gives the "push" queue a worker of its own (deploy/systemd); `make run` has one.
    """
    default = celery_app.conf.task_default_queue
    routed = {route["queue"] for route in celery_app.conf.task_routes.values()}
    return [default, *sorted(routed - {default})]


def metrics_directory(port: str) -> str:
    """The directory where every process started here writes its metrics (docs/metrics.md): the
    PROMETHEUS_MULTIPROC_DIR given, else one per port under the temporary directory. Emptied now:
    the figures of an earlier run are not this run's."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.path.join(
        tempfile.gettempdir(), f"spaces-metrics-{port}"
    )
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    return directory


class Command(BaseCommand):
    help = (
        "Run the whole application: daphne (pages and websockets) and, when Redis is configured, "
        "a room mixer process, a captioner process, a Celery worker and Celery beat. Without Redis the "
        "web process mixes rooms, runs tasks and runs the periodic ones itself, and starts a child "
        "process for captions. Ctrl-C stops everything."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")

    def handle(self, *args, host, port, **options):
        python = sys.executable
        bin_dir = os.path.dirname(python)
        commands = {
            "web": [
                os.path.join(bin_dir, "daphne"),
                "-b",
                host,
                "-p",
                str(port),
                "spaces_project.asgi:application",
            ]
        }
        if settings.REDIS_URL:
            celery = os.path.join(bin_dir, "celery")
            commands["mixer"] = [python, "manage.py", "run_mixer"]
            commands["captioner"] = [python, "manage.py", "run_captioner"]
            commands["worker"] = [
                *(celery, "-A", "spaces_project", "worker", "-l", "info", "-c", "2"),
                *("--queues", ",".join(worker_queues())),
            ]
            # Sends the periodic tasks (CELERY_BEAT_SCHEDULE); without Redis the web process runs
            # them itself (spaces_project/embedded_beat.py).
            schedule = os.path.join(tempfile.gettempdir(), f"spaces-celerybeat-{port}")
            commands["beat"] = [celery, "-A", "spaces_project", "beat", "-l", "info", "-s", schedule]
        # One metrics directory for all of them: /metrics on the web process adds them up.
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_directory(str(port))}
        processes = {name: subprocess.Popen(command, env=env) for name, command in commands.items()}
        self.stdout.write(
            f"Spaces is running at http://{host}:{port}/ ({', '.join(processes)}); Ctrl-C stops it."
        )
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with {process.returncode}; stopping.")
                        stopping = True
                time.sleep(0.5)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.terminate()
            for process in processes.values():
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
