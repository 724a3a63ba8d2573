"""Grafana dashboards for served models, generated from the serving metrics contract.

One overview (every model, with a model selector) and one per model (its SLO drawn on the
latency and error panels). Percentiles come from summed histogram buckets, so they
aggregate correctly across replicas; counters are always read through ``rate`` over
``$__rate_interval``. The output follows the provisioning conventions that
``monitor.dashboard_lint`` checks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from baton.core import metric_names as m
from baton.core.drift import THRESHOLD as DRIFT_THRESHOLD
from baton.core.manifest import SLO

SCHEMA_VERSION = 39
DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
DATASOURCE_VARIABLE = {
    "name": "datasource",
    "type": "datasource",
    "query": "prometheus",
    "label": "Data source",
    "current": {},
}


@dataclass
class _Layout:
    """Places panels left to right, two per row, and numbers them."""

    panels: list[dict[str, object]] = field(default_factory=list)
    x: int = 0
    y: int = 0

    def row(self, title: str) -> None:
        if self.x:
            self.x, self.y = 0, self.y + 8
        self.panels.append({
            "type": "row", "title": title, "id": len(self.panels) + 1, "collapsed": False,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": [],
        })  # fmt: skip
        self.y += 1

    def add(self, panel: dict[str, object], width: int = 12) -> None:
        if self.x + width > 24:
            self.x, self.y = 0, self.y + 8
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"h": 8, "w": width, "x": self.x, "y": self.y}
        self.panels.append(panel)
        self.x += width


def _panel(
    title: str,
    unit: str,
    queries: list[tuple[str, str]],
    *,
    kind: str = "timeseries",
    description: str = "",
    threshold: float | None = None,
) -> dict[str, object]:
    defaults: dict[str, object] = {"unit": unit}
    if threshold is not None:
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": "green", "value": None}, {"color": "red", "value": threshold}],
        }
        defaults["custom"] = {"thresholdsStyle": {"mode": "line+area"}}
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom"}}
        if kind == "timeseries"
        else {},
        "targets": [
            {"refId": chr(65 + i), "datasource": DS, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(queries)
        ],
    }


_BY = "sum by (model, version)"  # one series per model version, over replicas


def _quantile(q: float, metric: str, sel: str) -> str:
    return (
        f"histogram_quantile({q}, sum by (le, model, version) "
        f"(rate({metric}_bucket{{{sel}}}[{RATE}])))"
    )


def _mean(metric: str, sel: str) -> str:
    total = f"{_BY} (rate({metric}_sum{{{sel}}}[{RATE}]))"
    return f"{total} / {_BY} (rate({metric}_count{{{sel}}}[{RATE}]))"


def _body(sel: str, slo: SLO | None) -> list[dict[str, object]]:
    lay = _Layout()
    _traffic(lay, sel, slo)
    _latency(lay, sel, slo)
    _load(lay, sel)
    _resources(lay, sel)
    _drift(lay, sel)
    return lay.panels


def _traffic(lay: _Layout, sel: str, slo: SLO | None) -> None:
    max_err = slo.max_error_rate if slo and slo.max_error_rate is not None else None
    lay.row("Traffic and errors")
    lay.add(_panel(
        "Requests per second by status", "reqps",
        [(f"sum by (model, version, code) (rate({m.REQUESTS_TOTAL}{{{sel}}}[{RATE}]))",
          "{{model}}:{{version}} {{code}}")],
    ))  # fmt: skip
    lay.add(_panel(
        "Error ratio (5xx and 429)", "percentunit",
        [(f'{_BY} (rate({m.REQUESTS_TOTAL}{{{sel},code=~"5..|429"}}[{RATE}])) / '
          f"{_BY} (rate({m.REQUESTS_TOTAL}{{{sel}}}[{RATE}]))", "{{model}}:{{version}}")],
        description="Requests the service failed or refused; client mistakes (4xx) excluded.",
        threshold=max_err,
    ))  # fmt: skip


def _latency(lay: _Layout, sel: str, slo: SLO | None) -> None:
    p99 = slo.p99_latency_ms / 1000 if slo and slo.p99_latency_ms else None
    lay.row("Latency")
    lay.add(_panel(
        "Request latency p50 / p95 / p99", "s",
        [(_quantile(q, m.REQUEST_DURATION, sel), f"p{round(q * 100)} {{{{model}}}}:{{{{version}}}}")
         for q in (0.5, 0.95, 0.99)],
        description="From histogram buckets summed over replicas; the red line is the SLO.",
        threshold=p99,
    ))  # fmt: skip
    lay.add(_panel(
        "Queue wait versus compute (mean)", "s",
        [(_mean(m.QUEUE_DURATION, sel), "queue {{model}}:{{version}}"),
         (_mean(m.COMPUTE_DURATION, sel), "compute {{model}}:{{version}}")],
        description="Queue wait well above compute time means the replicas are saturated.",
    ))  # fmt: skip


def _load(lay: _Layout, sel: str) -> None:
    lay.row("Batching and load")
    lay.add(_panel(
        "Mean batch size", "short",
        [(_mean(m.BATCH_SIZE, sel), "{{model}}:{{version}}")],
    ))  # fmt: skip
    lay.add(_panel(
        "In-flight requests", "short",
        [(f"{_BY} ({m.INFLIGHT}{{{sel}}})", "{{model}}:{{version}}")],
    ))  # fmt: skip


def _resources(lay: _Layout, sel: str) -> None:
    lay.row("Resources (per server)")
    served = f"on (instance) group_left () max by (instance) ({m.MODEL_INFO}{{{sel}}})"
    lay.add(_panel(
        "CPU cores used", "short",
        [(f"rate(process_cpu_seconds_total[{RATE}]) * {served}", "{{instance}}")],
    ), width=8)  # fmt: skip
    lay.add(_panel(
        "Resident memory", "bytes",
        [(f"process_resident_memory_bytes * {served}", "{{instance}}")],
    ), width=8)  # fmt: skip
    lay.add(_panel(
        "GPU utilisation", "percentunit",
        [(f"{m.GPU_UTILIZATION} * {served}", "{{instance}} gpu {{gpu}}")],
        description="Empty on hosts without NVML.",
    ), width=8)  # fmt: skip


def _drift(lay: _Layout, sel: str) -> None:
    lay.row("Drift")
    lay.add(_panel(
        "Input drift (PSI) by feature", "short",
        [(f"max by (model, version, feature) ({m.DRIFT_SCORE}{{{sel}}})",
          "{{model}}:{{version}} {{feature}}")],
        description="Population stability index against the evaluation data; "
        f"above {DRIFT_THRESHOLD:g} is a shift.",
        threshold=DRIFT_THRESHOLD,
    ))  # fmt: skip
    lay.add(_panel(
        "Rows behind the drift scores", "short",
        [(f"{_BY} ({m.DRIFT_SAMPLES}{{{sel}}})", "{{model}}:{{version}}")],
    ))  # fmt: skip


def _uid(title: str) -> str:
    return "baton-" + hashlib.sha256(title.encode()).hexdigest()[:12]


def _dashboard(
    title: str, panels: list[dict[str, object]], variables: list[dict[str, object]]
) -> dict[str, object]:
    return {
        "id": None,
        "uid": _uid(title),
        "title": title,
        "tags": ["baton", "model-serving"],
        "timezone": "utc",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [DATASOURCE_VARIABLE, *variables]},
        "annotations": {"list": []},
        "panels": panels,
    }


def _query_variable(name: str, query: str, *, multi: bool) -> dict[str, object]:
    return {
        "name": name,
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": name},
        "definition": query,
        "refresh": 2,
        "includeAll": multi,
        "multi": multi,
        "sort": 1,
        "current": {},
    }


def overview() -> dict[str, object]:
    """Every served model, filtered by the ``model`` selector."""
    variables = [_query_variable("model", f"label_values({m.MODEL_INFO}, model)", multi=True)]
    return _dashboard("baton / models overview", _body('model=~"$model"', None), variables)


def model_dashboard(model: str, slo: SLO | None) -> dict[str, object]:
    """One model, its versions selectable, its SLO drawn on the latency and error panels."""
    variables = [
        _query_variable(
            "version", f'label_values({m.MODEL_INFO}{{model="{model}"}}, version)', multi=True
        )
    ]
    sel = f'model="{model}",version=~"$version"'
    return _dashboard(f"baton / {model}", _body(sel, slo), variables)
