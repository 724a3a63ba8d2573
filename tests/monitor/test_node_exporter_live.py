"""The node_exporter entry against the real thing: a real Prometheus scrapes a real
node_exporter with the entry's scrape job and evaluates the entry's rules.

The rules are copied with short ``for:`` durations (and a 1 s scrape and evaluation
interval) so the down alert can be seen going pending and firing within seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from baton.monitor import hub
from tests.monitor.conftest import Running, StartAlertmanager, StartPrometheus, Webhook
from tests.waiting import wait_until

WAIT_S = 45.0


def _query(prometheus: Running, expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=5)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def _alerts(prometheus: Running) -> list[dict[str, Any]]:
    response = httpx.get(f"{prometheus.url}/api/v1/alerts", timeout=5)
    response.raise_for_status()
    alerts: list[dict[str, Any]] = response.json()["data"]["alerts"]
    return alerts


def _wait_for(what: str, check: Callable[[], Any]) -> Any:
    return wait_until(check, what, WAIT_S, every=0.5)


def _evaluations(prometheus: Running, group: str) -> float:
    """How many times Prometheus has evaluated the rule group ``group`` (its own metric)."""
    text = httpx.get(f"{prometheus.url}/metrics", timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "prometheus_rule_group_iterations_total"
        and sample.labels.get("rule_group", "").endswith(f";{group}")
    )


def _fast_rules(tmp_path: Path) -> Path:
    """A copy of the entry's rules with every ``for:`` cut to 2 s."""
    doc = yaml.safe_load(hub.load("node_exporter").file(hub.RULES).read_text("utf-8"))
    for group in doc["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = "2s"
    path = tmp_path / "rules.fast.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_rules_evaluate_on_live_metrics_and_the_down_alert_fires(
    node_exporter: Running, prometheus: StartPrometheus, tmp_path: Path
) -> None:
    entry = hub.load("node_exporter")
    (job,) = entry.scrape_configs()
    job = {**job, "scrape_interval": "1s", "static_configs": [{"targets": [node_exporter.address]}]}
    server = prometheus(
        {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"}, "scrape_configs": [job]},
        [_fast_rules(tmp_path)],
    )

    # the scrape job from the entry reaches the exporter
    up = _wait_for("the node job to be scraped", lambda: _query(server, 'up{job="node"} == 1'))
    assert up[0]["metric"]["instance"] == node_exporter.address

    # the recording rules produce series from live metrics, with sane values
    for record in (
        "instance:node_cpu_utilisation:rate5m",
        "instance:node_memory_utilisation:ratio",
    ):
        series = _wait_for(f"{record} to have a value", lambda r=record: _query(server, r))
        assert 0.0 <= float(series[0]["value"][1]) <= 1.0, (record, series)

    # every rule evaluates without error against the real metric names and labels
    groups = httpx.get(f"{server.url}/api/v1/rules", timeout=5).json()["data"]["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert {r["name"] for r in rules} == {r.name for r in entry.rules}
    assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []
    down = [a for a in _alerts(server) if a["labels"]["alertname"] == "NodeExporterDown"]
    assert down == []

    # stop the exporter: the down alert goes pending, then firing, for that instance
    node_exporter.stop()

    def down_firing() -> list[dict[str, Any]]:
        return [
            a
            for a in _alerts(server)
            if a["labels"]["alertname"] == "NodeExporterDown" and a["state"] == "firing"
        ]

    firing = _wait_for("NodeExporterDown to fire", down_firing)
    assert firing[0]["labels"]["instance"] == node_exporter.address
    assert firing[0]["labels"]["severity"] == "critical"
    assert "node_exporter job node is down" in firing[0]["annotations"]["summary"]


def test_the_down_alert_reaches_a_receiver_through_alertmanager(
    node_exporter: Running,
    prometheus: StartPrometheus,
    alertmanager: StartAlertmanager,
    webhook: Webhook,
    tmp_path: Path,
) -> None:
    """A page that never arrives is worse than none: follow it to the receiver."""
    manager = alertmanager(
        {
            "route": {
                "receiver": "host-team",
                "group_by": ["alertname", "instance"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [{"name": "host-team", "webhook_configs": [{"url": webhook.url}]}],
        }
    )
    (job,) = hub.load("node_exporter").scrape_configs()
    job = {**job, "scrape_interval": "1s", "static_configs": [{"targets": [node_exporter.address]}]}
    server = prometheus(
        {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [manager.address]}]}]},
            "scrape_configs": [job],
        },
        [_fast_rules(tmp_path)],
    )
    # a live exporter, scraped, and the down alert evaluated against it for longer than its
    # 2 s ``for`` plus Alertmanager's 1 s group wait: a false alert would have arrived
    _wait_for("the node job to be scraped", lambda: _query(server, 'up{job="node"} == 1'))
    start = _evaluations(server, "node_exporter.alerts")
    _wait_for(
        "four evaluations of the alerts",
        lambda: _evaluations(server, "node_exporter.alerts") >= start + 4,
    )
    assert [a for a in _alerts(server) if a["labels"]["alertname"] == "NodeExporterDown"] == []
    assert [
        a for n in webhook.received for a in n["alerts"] if "Down" in a["labels"]["alertname"]
    ] == []

    node_exporter.stop()

    def delivered() -> list[dict[str, Any]]:
        return [
            a
            for n in webhook.received
            for a in n["alerts"]
            if a["labels"]["alertname"] == "NodeExporterDown" and a["status"] == "firing"
        ]

    alert = _wait_for("NodeExporterDown at the webhook", delivered)[0]
    assert alert["labels"]["instance"] == node_exporter.address
    assert alert["labels"]["severity"] == "critical"
