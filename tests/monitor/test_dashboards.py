"""Generated dashboards follow the provisioning conventions and read only served metrics."""

from __future__ import annotations

import json

from prometheus_client import CollectorRegistry

from baton.core.manifest import SLO
from baton.monitor.dashboard_lint import lint, panels
from baton.monitor.dashboards import model_dashboard, overview
from baton.serve.metrics import ServingMetrics


def served_metric_names() -> set[str]:
    """Every series name a real baton server exposes, plus what Prometheus adds."""
    metrics = ServingMetrics(CollectorRegistry())
    metrics.for_model("m", "1").request_duration.observe(0.01)
    metrics.count("m", "1", 200)
    names: set[str] = set()
    for family in metrics.registry.collect():
        names.update(sample.name for sample in family.samples)
        names.add(family.name)
    return names | {"up"}


def test_overview_is_clean_and_has_a_model_selector() -> None:
    board = overview()
    assert lint(board, served_metric_names() | {"baton_gpu_utilization_ratio"}) == []
    names = [v["name"] for v in board["templating"]["list"]]
    assert names == ["datasource", "model"]
    assert all(
        'model=~"$model"' in t["expr"]
        for p in panels(board)
        for t in p.get("targets", [])
        if "baton_" in t["expr"] and "process_" not in t["expr"]
    )


def test_model_dashboard_draws_the_slo_and_is_clean() -> None:
    board = model_dashboard("digits-classifier", SLO(p99_latency_ms=20, max_error_rate=0.001))
    assert lint(board, served_metric_names() | {"baton_gpu_utilization_ratio"}) == []
    latency = next(p for p in panels(board) if p["title"].startswith("Request latency"))
    steps = latency["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1]["value"] == 0.02
    errors = next(p for p in panels(board) if p["title"].startswith("Error ratio"))
    assert errors["fieldConfig"]["defaults"]["thresholds"]["steps"][-1]["value"] == 0.001


def test_uids_are_stable_and_distinct() -> None:
    a, b = model_dashboard("a", None), model_dashboard("b", None)
    assert a["uid"] == model_dashboard("a", SLO(p99_latency_ms=5))["uid"]
    assert a["uid"] != b["uid"] != overview()["uid"]
    json.dumps(a)  # plain JSON, ready to provision


def test_panels_do_not_overlap() -> None:
    cells: set[tuple[int, int]] = set()
    for panel in panels(overview()):
        pos = panel["gridPos"]
        mine = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & mine, panel["title"]
        cells |= mine
