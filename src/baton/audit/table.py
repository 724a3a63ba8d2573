"""The audit's figures as text (shared by the terminal, the HTML and the charts) and as JSON.

The terminal rendering itself is ``audit.terminal``. Money figures built on the built-in
price table are labelled "example prices".

``to_json(result)`` shape (keys always present; ``null`` where not measured, never NaN)::

    {"prometheus_url": str, "window": {"start", "end": ISO-8601 UTC, "seconds",
     "step_s", "plot_step_s"}, "queries": int, "elapsed_s": float,
     "prices": {"currency", "example", "cpu", "hardware", "source"},
     "settings": {...}, "notes": [str],
     "summary": {"deployments", "by_verdict": {verdict: count}, "at_risk": [name],
                 "monthly_cost_now", "monthly_cost_after", "monthly_savings",
                 "currency", "example_prices"},
     "rows": [{"name", "model", "version", "verdict", "at_risk", "flags": [str],
               "slo_p99_ms", "capacity_source",
               "deployment": {"source", "namespace", "owner", "origin", "replicas",
                              "min_replicas", "max_replicas", "autoscaled",
                              "resources": {...}, "serving": {...}, "instances": [str]},
               "observed": null | {"rps_mean", "rps_p95", "rps_p99", "rps_peak",
                                   "requests", "p99_latency_ms", "slo_breach_share",
                                   "cpu_cores_p95", "cpu_cores_mean", "memory_peak_bytes",
                                   "gpu_utilization_mean", "gpu_memory_peak_bytes",
                                   "replicas_min", "replicas_max", "replicas_mean",
                                   "cpu_seconds_per_request", "cpu_source",
                                   "memory_source", "gpu_source", "coverage",
                                   "data_from", "shared_models", "missing": [str],
                                   "daily_pattern": [24]},
               "recommendation": {"replicas", "min_replicas", "max_replicas", "cores",
                                  "memory_bytes", "load_per_replica", "utilization",
                                  "capacity_now_rps", "capacity_after_rps", "reasons"},
               "baseline": {"cpu_request", "memory_request"},  # CPU p95; memory peak+15%
               "target": {...},                                # SizingTarget's fields
               "cost": {"monthly_now", "monthly_after", "monthly_savings",
                        "per_million_now", "per_million_after"},
               "timeline": {name: {"t": [epoch s], "v": [value | null]}}  # with timelines
              }]}
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, TypedDict

from baton.audit.observed import Observed
from baton.audit.result import VERDICT_ORDER, AuditResult, Row
from baton.core.inventory import Deployment
from baton.core.pricing import GIB

EXAMPLE_LABEL = "example prices"


def example_prices(result: AuditResult) -> bool:
    return bool(result.prices.get("example"))


def currency(result: AuditResult) -> str:
    return str(result.prices.get("currency") or "USD")


def money(value: float | None, unit: str = "USD", signed: bool = False) -> str:
    """``$1,234`` (USD) or ``1,234 EUR``; two decimals below 10 so small figures show."""
    if value is None or not math.isfinite(value):
        return "-"
    digits = 2 if abs(value) < 10 else 0
    sign = ("+" if value > 0 else "-" if value < 0 else "") if signed else "-" * (value < 0)
    number = f"{abs(value):,.{digits}f}"
    return f"{sign}${number}" if unit == "USD" else f"{sign}{number} {unit}"


def cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def memory(value: float | None) -> str:
    """Bytes as GiB (or MiB below 1 GiB), the unit Kubernetes requests are written in."""
    if value is None or not math.isfinite(value):
        return "-"
    if value >= GIB:
        return f"{value / GIB:.3g}Gi"
    return f"{value / 1024**2:.3g}Mi"


def rate(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.4g}"


def percent(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.0%}"


def capacity_now(row: Row) -> float | None:
    """Req/s the current allocation serves within the SLO (autoscaled: at its upper bound)."""
    per = row.recommendation.load_per_replica
    if per is None:
        return None
    d = row.deployment
    return per * (d.max_replicas or d.replicas)


def capacity_after(row: Row) -> float | None:
    per, target = row.recommendation.load_per_replica, row.target
    count = target.max_replicas or target.replicas
    return None if per is None or count is None else per * count


def replicas_now(row: Row) -> str:
    d = row.deployment
    if d.max_replicas is not None:
        return f"{d.min_replicas if d.min_replicas is not None else d.replicas}..{d.max_replicas}"
    return str(d.replicas)


def replicas_after(row: Row) -> str:
    t = row.target
    if t.min_replicas is not None and t.max_replicas is not None:
        return f"{t.min_replicas}..{t.max_replicas}"
    return "-" if t.replicas is None else str(t.replicas)


def shape_now(row: Row) -> str:
    r = row.deployment.resources
    gpu = f" {r.gpus}x{r.hardware}" if r.gpus else ""
    return f"{cores(r.cores)}c/{memory(r.memory_bytes)}{gpu}"


def shape_after(row: Row) -> str:
    """Cores (with the limit where it is above the request), memory and GPUs."""
    t = row.target
    if t.cores is None and t.memory_bytes is None:
        return "-"
    gpu = f" {t.gpus}x{t.hardware}" if t.gpus else ""
    limit = ""
    if t.cpu_limit is not None and t.cores is not None and t.cpu_limit > t.cores:
        limit = f" (limit {cores(t.cpu_limit)})"
    return f"{cores(t.cores)}c{limit}/{memory(t.memory_bytes)}{gpu}"


def coverage(row: Row) -> str:
    if row.observed is None:
        return "no data"
    text = percent(row.observed.usage.coverage)
    if row.observed.missing:
        text += f" (no {', '.join(row.observed.missing)})"
    return text


class FleetSummary(TypedDict):
    """The fleet's totals: the JSON's ``summary``, the terminal's and the HTML's fleet line."""

    deployments: int
    by_verdict: dict[str, int]
    at_risk: list[str]
    monthly_cost_now: float
    monthly_cost_after: float
    monthly_savings: float
    currency: str
    example_prices: bool


def summary(result: AuditResult) -> FleetSummary:
    """Fleet totals. A row without a recommendation counts at its current cost after too."""
    now = sum(row.cost_now for row in result.rows)
    after = sum(row.cost_after for row in result.rows)
    counts = Counter(row.verdict for row in result.rows)
    return {
        "deployments": len(result.rows),
        "by_verdict": {v: counts[v] for v in sorted(counts, key=lambda v: VERDICT_ORDER.get(v, 9))},
        "at_risk": [row.deployment.name for row in result.sorted_rows() if row.at_risk],
        "monthly_cost_now": now,
        "monthly_cost_after": after,
        "monthly_savings": now - after,
        "currency": currency(result),
        "example_prices": example_prices(result),
    }


def when(epoch: float) -> str:
    """A moment for people: UTC, to the minute."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M")


def _iso(epoch: float | None) -> str | None:
    if epoch is None or not math.isfinite(epoch):
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None, tuples lists, keys strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def row_json(row: Row, timelines: bool = False) -> dict[str, object]:
    """One row in the shape the module docstring documents."""
    d, rec, obs = row.deployment, row.recommendation, row.observed
    out: dict[str, object] = {
        "name": d.name,
        "model": d.model,
        "version": d.version,
        "verdict": row.verdict,
        "at_risk": row.at_risk,
        "flags": list(row.flags),
        "slo_p99_ms": row.slo_p99_ms,
        "capacity_source": row.capacity_source,
        "deployment": _deployment_json(d),
        "observed": _observed_json(obs) if obs is not None else None,
        "recommendation": _recommendation_json(row),
        "baseline": {
            "cpu_request": rec.baseline_cpu_request,
            "memory_request": rec.baseline_memory_request,
        },
        "target": asdict(row.target),
        "cost": {
            "monthly_now": rec.monthly_cost_now,
            "monthly_after": rec.monthly_cost_after,
            "monthly_savings": (
                rec.monthly_savings if rec.monthly_cost_after is not None else None
            ),
            "per_million_now": rec.cost_per_million_now,
            "per_million_after": rec.cost_per_million_after,
        },
    }
    if timelines:
        series = obs.timeline if obs else {}
        out["timeline"] = {
            name: {"t": list(s.timestamps), "v": list(s.values)} for name, s in series.items()
        }
    return clean(out)  # type: ignore[no-any-return]


def _deployment_json(d: Deployment) -> dict[str, object]:
    return {
        "source": d.source,
        "namespace": d.namespace,
        "owner": d.owner,
        "origin": d.origin,
        "replicas": d.replicas,
        "min_replicas": d.min_replicas,
        "max_replicas": d.max_replicas,
        "autoscaled": d.autoscaled,
        "resources": d.resources.model_dump(mode="json"),
        "serving": d.serving.model_dump(mode="json"),
        "instances": list(d.instances),
    }


def _observed_json(obs: Observed) -> dict[str, object]:
    u = obs.usage
    return {
        "rps_mean": u.rps_mean,
        "rps_p95": u.rps_p95,
        "rps_p99": obs.rps_p99,
        "rps_peak": u.rps_peak,
        "requests": obs.requests,
        "p99_latency_ms": u.p99_latency_ms,
        "slo_breach_share": obs.slo_breach_share,
        "cpu_cores_p95": u.cpu_cores_p95,
        "cpu_cores_mean": obs.cpu_cores_mean,
        "memory_peak_bytes": u.memory_peak_bytes,
        "gpu_utilization_mean": u.gpu_utilization_mean,
        "gpu_memory_peak_bytes": obs.gpu_memory_peak_bytes,
        "replicas_min": obs.replicas_min,
        "replicas_max": obs.replicas_max,
        "replicas_mean": obs.replicas_mean,
        "cpu_seconds_per_request": obs.cpu_seconds_per_request,
        "cpu_source": obs.cpu_source,
        "memory_source": obs.memory_source,
        "gpu_source": obs.gpu_source,
        "coverage": u.coverage,
        "data_from": _iso(obs.data_from),
        "shared_models": obs.shared_models,
        "missing": list(obs.missing),
        "daily_pattern": list(obs.daily_pattern),
    }


def _recommendation_json(row: Row) -> dict[str, object]:
    rec = row.recommendation
    return {
        "replicas": rec.replicas,
        "min_replicas": row.target.min_replicas,
        "max_replicas": row.target.max_replicas,
        "cores": rec.cores,
        "memory_bytes": rec.memory_bytes,
        "load_per_replica": rec.load_per_replica,
        "utilization": rec.utilization,
        "capacity_now_rps": capacity_now(row),
        "capacity_after_rps": capacity_after(row),
        "reasons": list(rec.reasons),
    }


def to_json(result: AuditResult, timelines: bool = False) -> dict[str, object]:
    """Everything the audit found, JSON-safe, in the shape the module docstring documents."""
    data = {
        "prometheus_url": result.prometheus_url,
        "window": {
            "start": _iso(result.start),
            "end": _iso(result.end),
            "seconds": result.end - result.start,
            "step_s": result.step_s,
            "plot_step_s": result.plot_step_s,
        },
        "queries": result.queries,
        "elapsed_s": result.elapsed_s,
        "prices": result.prices,
        "settings": result.settings,
        "notes": list(result.notes),
        "summary": summary(result),
        "rows": [row_json(row, timelines) for row in result.sorted_rows()],
    }
    return clean(data)  # type: ignore[no-any-return]
