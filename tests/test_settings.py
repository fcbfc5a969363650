import os
import subprocess
import sys
from pathlib import Path

import pytest

from spaces_project.vapid import new_pair

ROOT = Path(__file__).resolve().parent.parent
_VAPID = new_pair()
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "spaces_project.settings.production",
    "SECRET_KEY": "k7#Qm2!vX9pLr4@Zt8$Wc1^Yn6&Bh3*Jd5(Fs0)Ge2_Ua7+Ro4=Ti9-Ek1~Ol",
    "ALLOWED_HOSTS": "spaces.example.org",
    "SITE_URL": "https://spaces.example.org",
    "DATABASE_URL": "sqlite:////tmp/spaces-check.sqlite3",
    "PAYMENT_PROVIDER": "stripe",
    "STRIPE_SECRET_KEY": "sk_test_not_a_real_key",
    "STRIPE_WEBHOOK_SECRET": "whsec_not_a_real_secret",
    "VAPID_PUBLIC_KEY": _VAPID.public_key,
    "VAPID_PRIVATE_KEY": _VAPID.private_key,
}


def run_manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL")}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True
    )


def test_production_settings_pass_check_deploy_without_warnings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "override, complaint",
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS"),
        # The development provider sells tickets for free.
        ({"PAYMENT_PROVIDER": "development"}, "PAYMENT_PROVIDER"),
        ({"STRIPE_WEBHOOK_SECRET": ""}, "STRIPE_WEBHOOK_SECRET"),
        # Links in feeds, calendars, emails and payment redirects would name 127.0.0.1:8000.
        ({"SITE_URL": ""}, "SITE_URL"),
        ({"SITE_URL": "http://spaces.example.org"}, "SITE_URL"),
        ({"SITE_URL": "https://elsewhere.example.org"}, "ALLOWED_HOSTS"),
        # Push on with no VAPID pair, or a pair that does not match: every push would be refused.
        ({"VAPID_PRIVATE_KEY": ""}, "VAPID_PRIVATE_KEY"),
        ({"VAPID_PUBLIC_KEY": new_pair().public_key}, "VAPID_PUBLIC_KEY"),
        ({"VAPID_SUBJECT": "admin@spaces.example.org"}, "VAPID_SUBJECT"),
        # /metrics behind a token anyone could guess, or networks that are not networks.
        ({"METRICS_TOKEN": "short"}, "METRICS_TOKEN"),
        ({"METRICS_ALLOWED_NETWORKS": "10.0.0.0/8,intranet"}, "METRICS_ALLOWED_NETWORKS: 'intranet'"),
    ],
)
def test_production_refuses_unsafe_configuration(override, complaint):
    result = run_manage("check", env={**PRODUCTION_ENV, **override})
    assert result.returncode != 0
    assert complaint in result.stderr


def test_redis_channel_layer_avoids_the_known_redis_py_8_traps():
    result = run_manage(
        "shell",
        "-c",
        "from django.conf import settings; h = settings.CHANNEL_LAYERS['default']['CONFIG']['hosts'][0];"
        "print(h['socket_timeout'], h['max_connections'] >= 500)",
        env={
            "DJANGO_SETTINGS_MODULE": "spaces_project.settings.local",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
        },
    )
    assert result.stdout.split()[-2:] == ["None", "True"], result.stdout + result.stderr
