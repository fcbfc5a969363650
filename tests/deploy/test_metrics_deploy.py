"""deploy/'s Grafana dashboard and Prometheus alert rules, and docs/metrics.md, held to the metrics
the app really exports: a renamed metric breaks this test, not a dashboard nobody looks at."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from spaces_project.metrics.exposition import scrape
from tests.metrics_reader import family_names

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "spaces.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DOC = ROOT / "docs" / "metrics.md"
NAME = re.compile(r"\bspaces_[a-z_]+\b")
SUFFIX = re.compile(r"_(bucket|count|sum|total|created)$")


@pytest.fixture
def exported(db) -> set[str]:
    """The app's metric families, as Prometheus would read them from /metrics (a counter's
    `_created` series, which only a process without the multiprocess directory writes, is its own)."""
    return {SUFFIX.sub("", name) for name in family_names(scrape().decode()) if name.startswith("spaces_")}


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def families_named(expression: str) -> set[str]:
    return {SUFFIX.sub("", name) for name in NAME.findall(expression)}


def test_every_dashboard_expression_names_metrics_the_app_exports(exported):
    expressions = dashboard_expressions()
    assert len(expressions) >= 15
    for expression in expressions:
        named = families_named(expression)
        assert named, expression
        assert named <= exported, (expression, named - exported)


def test_every_alert_names_metrics_the_app_exports(exported):
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} >= {
        "SpacesMixerLagging",
        "SpacesAudioBundlesDropped",
        "SpacesCaptionsSkipping",
        "SpacesRecordingsStuck",
        "SpacesHttp5xx",
    }
    for rule in rules:
        named = families_named(rule["expr"])
        assert named and named <= exported, (rule["alert"], named - exported)
        assert rule["for"] and rule["annotations"]["summary"]


def test_the_dashboard_and_alerts_together_cover_every_metric(exported):
    used = set().union(*map(families_named, dashboard_expressions()))
    assert exported - used == set(), "metrics no panel shows"


def test_docs_metrics_md_describes_exactly_the_exported_metrics(exported):
    documented = {
        SUFFIX.sub("", name) for name in re.findall(r"^\| `(spaces_\w+)` \|", DOC.read_text(), re.M)
    }
    assert documented == exported


def test_a_histograms_buckets_named_in_an_alert_exist(exported):
    """An alert on `le="0.05"` needs that bucket: a bucket that does not exist reads as nothing."""
    text = scrape().decode()
    for rule in alert_rules():
        for name, bound in re.findall(r'(spaces_\w+_bucket)\{le="([^"]+)"\}', rule["expr"]):
            assert f'{name}{{le="{bound}"}}' in text, (rule["alert"], name, bound)


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian's prometheus) is not installed"
)
def test_promtool_accepts_the_alert_rules():
    result = subprocess.run(["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


UNITS = ROOT / "deploy" / "systemd"
APP_UNITS = [
    "spaces-web@.service",
    "spaces-mixer@.service",
    "spaces-captioner.service",
    "spaces-worker.service",
    "spaces-push-worker.service",
]


@pytest.mark.parametrize("unit", APP_UNITS)
def test_every_unit_that_counts_writes_to_the_one_metrics_directory_a_boot_empties(unit):
    text = (UNITS / unit).read_text()
    assert "Environment=PROMETHEUS_MULTIPROC_DIR={{RUN_DIR}}/metrics\n" in text
    # /run/spaces (RUN_DIR), a tmpfs emptied at boot, kept while any unit restarts.
    assert "RuntimeDirectory=spaces\n" in text and "RuntimeDirectoryPreserve=yes\n" in text
