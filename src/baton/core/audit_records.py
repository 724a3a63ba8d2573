"""A stored right-size audit: the run (when, who, the window, the fleet's totals) and one
line per deployment (verdict, what it has, what it should have, cost, savings, why). Pure.

``baton audit`` saves each run through ``store/audits.py``; the dashboard, the API and
``baton audit show`` read them back. The totals are computed here from the lines, once, so
a run's figures always add up to its deployments'. Money is per month in the run's
currency; a deployment without a recommendation counts at its current cost after too
(savings 0), as the audit's own summary counts it.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import get_args

from baton.core.sizing import Verdict
from baton.errors import BadInput

# the audit's report order: the line to act on first
VERDICTS: tuple[str, ...] = (
    "at risk",
    "under-provisioned",
    "over-provisioned",
    "idle",
    "insufficient data",
    "right-sized",
)
assert set(VERDICTS) == set(get_args(Verdict))


@dataclass(frozen=True)
class AuditedDeployment:
    """One deployment's line in a stored audit."""

    name: str
    model: str
    version: str
    verdict: str
    owner: str | None
    cost_now: float  # per month
    cost_after: float  # per month, after the recommendation (= cost_now without one)
    savings: float  # cost_now - cost_after, kept as a field so JSON and SQL carry it
    replicas_now: str  # "2", or "1..5" when autoscaled
    replicas_after: str  # "-" without a recommendation
    shape_now: str  # per replica: cores/memory and GPUs, e.g. "2c/4Gi"
    shape_after: str
    hardware_now: str
    hardware_after: str
    batch_now: int | None
    batch_after: int | None
    flags: tuple[str, ...] = ()  # besides resizing: "scale to zero", "move to cpu"...
    reasons: tuple[str, ...] = ()

    @property
    def at_risk(self) -> bool:
        return self.verdict == "at risk"


@dataclass(frozen=True)
class NewAuditRun:
    """An audit as ``baton audit`` computed it, before it is stored."""

    prometheus_url: str
    window_start: datetime
    window_end: datetime
    currency: str
    example_prices: bool  # the built-in price table: the money is an example
    deployments: tuple[AuditedDeployment, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Totals:
    deployments: int
    at_risk: int
    cost_now: float
    cost_after: float
    savings: float
    by_verdict: dict[str, int]  # in report order, verdicts present only


@dataclass(frozen=True)
class AuditRun:
    """A stored run: its totals, not its lines (``Audits.deployments`` reads those)."""

    id: int
    at: datetime
    actor: str
    prometheus_url: str
    window_start: datetime
    window_end: datetime
    currency: str
    example_prices: bool
    deployments: int
    at_risk: int
    cost_now: float
    cost_after: float
    savings: float
    by_verdict: dict[str, int]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class StoredAudit:
    """A run with its lines, most savings first: what ``baton audit show`` and the API give."""

    run: AuditRun
    deployments: list[AuditedDeployment]


def totals(lines: Sequence[AuditedDeployment]) -> Totals:
    """The fleet's totals, from its lines; refuses a line whose money is not a number."""
    for line in lines:
        if not (math.isfinite(line.cost_now) and math.isfinite(line.cost_after)):
            raise BadInput(
                f"audit line {line.name!r}: cost now {line.cost_now} and after "
                f"{line.cost_after} must be finite numbers"
            )
        if not math.isclose(line.savings, line.cost_now - line.cost_after, abs_tol=1e-6):
            raise BadInput(
                f"audit line {line.name!r}: savings {line.savings} is not cost now "
                f"{line.cost_now} less cost after {line.cost_after}"
            )
        if line.verdict not in VERDICTS:
            raise BadInput(
                f"audit line {line.name!r}: verdict {line.verdict!r} is not one of "
                + ", ".join(VERDICTS)
            )
    counts = Counter(line.verdict for line in lines)
    now = math.fsum(line.cost_now for line in lines)
    after = math.fsum(line.cost_after for line in lines)
    return Totals(
        deployments=len(lines),
        at_risk=counts["at risk"],
        cost_now=now,
        cost_after=after,
        savings=now - after,
        by_verdict={v: counts[v] for v in VERDICTS if counts[v]},
    )


def by_savings(lines: Sequence[AuditedDeployment]) -> list[AuditedDeployment]:
    """Most savings first; ties in report order of verdict, then by name."""
    order = {v: i for i, v in enumerate(VERDICTS)}
    return sorted(lines, key=lambda d: (-d.savings, order.get(d.verdict, 9), d.name))
