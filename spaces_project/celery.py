import os

from celery import Celery

from .broker_leases import RenewBrokerLeases
from .metrics import tasks as task_metrics  # noqa: F401 (connects the signals that time tasks)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spaces_project.settings.local")

app = Celery("spaces_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# A worker keeps the messages it holds from being delivered again while it lives (broker_leases.py).
app.steps["consumer"].add(RenewBrokerLeases)
