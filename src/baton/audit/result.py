"""One audit's outcome: a row per deployment, and how the data was gathered.

Built by ``audit.service``; rendered by ``audit.report`` (terminal table, JSON, HTML).
Rows sort at-risk first, then by monthly savings, so the first line is the one to act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from baton.audit.observed import Observed
from baton.core.inventory import Deployment
from baton.core.sizing import Recommendation

if TYPE_CHECKING:
    from pydantic import JsonValue

VERDICT_ORDER = {
    "at risk": 0,
    "under-provisioned": 1,
    "over-provisioned": 2,
    "idle": 3,
    "insufficient data": 4,
    "right-sized": 5,
}


@dataclass(frozen=True)
class SizingTarget:
    """What the deployment should be given, per replica, with bounds when autoscaled."""

    replicas: int | None
    min_replicas: int | None = None
    max_replicas: int | None = None
    cores: float | None = None
    cpu_limit: float | None = None
    memory_bytes: float | None = None
    memory_limit_bytes: float | None = None
    gpus: int = 0
    hardware: str = "cpu"
    max_batch_size: int | None = None
    threads: int | None = None
    precision: str | None = None


@dataclass(frozen=True)
class Row:
    deployment: Deployment
    observed: Observed | None  # None: Prometheus had nothing for it
    recommendation: Recommendation
    target: SizingTarget
    slo_p99_ms: float | None
    capacity_source: str  # where the per-replica capacity came from, in words

    @property
    def flags(self) -> tuple[str, ...]:
        """What to do besides resizing: scale to zero, consolidate, move to cpu..."""
        return self.recommendation.flags

    @property
    def verdict(self) -> str:
        return self.recommendation.verdict

    @property
    def at_risk(self) -> bool:
        return self.recommendation.verdict == "at risk"

    @property
    def cost_now(self) -> float:
        return self.recommendation.monthly_cost_now or 0.0

    @property
    def cost_after(self) -> float:
        """After the recommendation; a row without one stays at its current cost."""
        after = self.recommendation.monthly_cost_after
        return self.cost_now if after is None else after


@dataclass(frozen=True)
class AuditResult:
    prometheus_url: str
    start: float  # epoch seconds
    end: float
    step_s: float  # resolution of the statistics (subquery step)
    plot_step_s: float  # resolution of the timelines
    queries: int  # HTTP API queries made, all deployments at once each
    elapsed_s: float
    rows: tuple[Row, ...]
    prices: dict[str, JsonValue]  # the price table used, with `example: true` when defaults
    notes: tuple[str, ...] = ()  # e.g. "window longer than the 15d Prometheus retains"
    settings: dict[str, object] = field(default_factory=dict)  # headroom, floor, window...

    def sorted_rows(self) -> list[Row]:
        return sorted(
            self.rows,
            key=lambda r: (VERDICT_ORDER.get(r.verdict, 9), -r.recommendation.monthly_savings),
        )

    @property
    def at_risk(self) -> list[Row]:
        return [r for r in self.rows if r.at_risk]

    def costs_by_verdict(self) -> list[tuple[str, int, float, float]]:
        """(verdict, deployments, cost now, cost after) per verdict present, in report order."""
        out = []
        for verdict in sorted(VERDICT_ORDER, key=VERDICT_ORDER.__getitem__):
            rows = [r for r in self.rows if r.verdict == verdict]
            if rows:
                now = sum(r.cost_now for r in rows)
                out.append((verdict, len(rows), now, sum(r.cost_after for r in rows)))
        return out
