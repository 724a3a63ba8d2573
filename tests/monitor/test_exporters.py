"""Every entry of the shipped exporter catalogue, proved with the real tools.

Schema, ``promtool check rules``, its own ``promtool test rules`` file, ``promtool check
metrics`` on its sample, ``promtool check config`` on its scrape fragment, the dashboard
linter, and cross-checks that rules and panels only read metrics the exporter exposes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from baton.monitor import hub, promtool
from baton.monitor.dashboard_lint import lint, metric_names

NAMES = hub.names()
REQUIRED = {
    "node_exporter",
    "dcgm-exporter",
    "cadvisor",
    "blackbox_exporter",
    "process-exporter",
    "kube-state-metrics",
    "postgres_exporter",
    "redis_exporter",
    "baton",
}
SEVERITIES = {"critical", "warning", "info"}


def _known_metrics(exporter: hub.Exporter) -> set[str]:
    """What a query against this exporter may read: its sample, its recordings, ``up``."""
    sample = exporter.file(hub.SAMPLE).read_text(encoding="utf-8")
    recorded = {r.name for r in exporter.rules if r.kind == "record"}
    return hub.sample_metric_names(sample) | recorded | {"up"}


def _rule_tests(exporter: hub.Exporter) -> list[dict[str, Any]]:
    doc = yaml.safe_load(exporter.file(hub.RULE_TESTS).read_text(encoding="utf-8"))
    tests: list[dict[str, Any]] = doc["tests"]
    return tests


def _raw_alerts(exporter: hub.Exporter) -> list[dict[str, Any]]:
    doc = yaml.safe_load(exporter.file(hub.RULES).read_text(encoding="utf-8"))
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_the_catalogue_has_every_exporter_a_serving_host_needs() -> None:
    assert set(NAMES) >= REQUIRED


def test_dashboard_uids_are_unique() -> None:
    uids = [e.dashboard()["uid"] for e in hub.catalogue()]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("name", NAMES)
def test_entry_validates_and_names_its_scrape_job(name: str) -> None:
    exporter = hub.load(name)
    jobs = [c["job_name"] for c in exporter.scrape_configs()]
    assert exporter.entry.job in jobs
    assert exporter.entry.metrics_path in {
        c.get("metrics_path", "/metrics") for c in exporter.scrape_configs()
    }
    addresses = [
        str(a)
        for c in exporter.scrape_configs()
        for a in [t for s in c.get("static_configs", []) for t in s["targets"]]
        + [r.get("replacement", "") for r in c.get("relabel_configs", [])]
    ]
    assert any(a.endswith(f":{exporter.entry.port}") for a in addresses), addresses


@pytest.mark.parametrize("name", NAMES)
def test_rules_pass_promtool_check_rules(name: str, promtool_bin: Path) -> None:
    result = promtool.check_rules(hub.load(name).file(hub.RULES))
    assert result.passed, result.message
    assert "SUCCESS" in result.message


@pytest.mark.parametrize("name", NAMES)
def test_rule_unit_tests_pass(name: str, promtool_bin: Path) -> None:
    result = promtool.run_rule_tests(hub.load(name).file(hub.RULE_TESTS))
    assert result.passed, result.message


@pytest.mark.parametrize("name", NAMES)
def test_every_alert_is_tested_where_it_fires_and_where_it_must_not(name: str) -> None:
    exporter = hub.load(name)
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in _rule_tests(exporter):
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = {r.name for r in exporter.rules if r.kind == "alert"}
    assert alerts - fires == set(), "alerts never tested firing"
    assert alerts - quiet == set(), "alerts never tested staying quiet"


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_alerts_when_its_exporter_is_down_or_absent(name: str) -> None:
    exporter = hub.load(name)
    job = exporter.entry.job
    down = [
        r
        for r in exporter.rules
        if r.kind == "alert" and f'up{{job="{job}"}}' in r.expr and "absent(" in r.expr
    ]
    assert down, f"no alert on up{{job={job!r}}} == 0 or absent(...)"
    assert down[0].severity == "critical"


@pytest.mark.parametrize("name", NAMES)
def test_alerts_carry_severity_and_a_summary(name: str) -> None:
    for rule in _raw_alerts(hub.load(name)):
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert len(rule["annotations"]["summary"]) > 20, rule["alert"]


@pytest.mark.parametrize("name", NAMES)
def test_rules_read_only_metrics_the_exporter_exposes(name: str) -> None:
    exporter = hub.load(name)
    known = _known_metrics(exporter)
    for rule in exporter.rules:
        assert metric_names(rule.expr) <= known, (rule.name, metric_names(rule.expr) - known)


@pytest.mark.parametrize("name", NAMES)
def test_sample_passes_promtool_check_metrics(name: str, promtool_bin: Path) -> None:
    exporter = hub.load(name)
    result = promtool.check_metrics(exporter.file(hub.SAMPLE).read_text(encoding="utf-8"))
    assert result.passed, result.message
    if name == "baton":  # names baton owns must also be clean of lint findings
        assert result.returncode == 0, result.message


@pytest.mark.parametrize("name", NAMES)
def test_key_metrics_are_in_the_sample(name: str) -> None:
    exporter = hub.load(name)
    in_sample = hub.sample_metric_names(exporter.file(hub.SAMPLE).read_text(encoding="utf-8"))
    for metric in exporter.entry.key_metrics:
        assert metric.name in in_sample, metric.name


@pytest.mark.parametrize("name", NAMES)
def test_dashboard_passes_the_lint(name: str) -> None:
    exporter = hub.load(name)
    assert lint(exporter.dashboard(), _known_metrics(exporter)) == []


@pytest.mark.parametrize("name", NAMES)
def test_scrape_fragment_and_rules_pass_promtool_check_config(
    name: str, promtool_bin: Path, tmp_path: Path
) -> None:
    exporter = hub.load(name)
    config = {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": [str(exporter.file(hub.RULES))],
        "scrape_configs": exporter.scrape_configs(),
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = promtool.check_config(path)
    assert result.passed, result.message


def test_baton_entry_matches_the_metrics_the_server_exposes() -> None:
    """The hub's baton sample and the server's own metric module name the same families."""
    metrics = pytest.importorskip("baton.serve.metrics")
    from prometheus_client import CollectorRegistry

    served = metrics.ServingMetrics(CollectorRegistry())
    served.served("m", "1", "production", "team")
    served.count("m", "1", 200)
    served.for_model("m", "1").request_duration.observe(0.01)
    for name in ("m",):
        served.drift_score.labels(name, "1", "x").set(0.1)
        served.drift_samples.labels(name, "1").set(10)
    live = hub.sample_metric_names(served.exposition().decode())
    sample = hub.sample_metric_names(hub.load("baton").file(hub.SAMPLE).read_text("utf-8"))
    gpu = {n for n in live ^ sample if "gpu" in n}  # only where NVML finds a GPU
    assert live ^ sample == gpu
