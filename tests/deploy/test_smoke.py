"""The production smoke test (deploy/smoke/, run as python -m deploy.smoke): README's production steps, then a visit through nginx."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from deploy import harness

ROOT = Path(__file__).resolve().parents[2]


def test_the_production_setup_works_through_nginx():
    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        pytest.skip("the smoke test runs on PostgreSQL")
    if not Path(harness.NGINX).exists():
        pytest.skip("the smoke test needs Debian's nginx (.ci/run installs it)")
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    # The server the suite uses; the script makes (and drops) its own database there.
    server = f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    result = subprocess.run(
        [sys.executable, "-m", "deploy.smoke", "--database-url", server],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-8000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["smoke"] == "passed"
    print(f"smoke: {summary['total_s']} s: {summary['steps_s']}")
