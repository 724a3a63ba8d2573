"""Service level objectives as error budgets, and the multi-window burn-rate alerts on them.

A model's SLO (``slo:`` in baton.yaml) becomes two objectives over a 30-day window:
*latency* (at least 99% of requests faster than ``p99_latency_ms``) and *availability*
(at most ``max_error_rate`` of requests fail). Alerts follow the multi-window,
multi-burn-rate recipe of Google's SRE workbook: an alert fires only when the budget burns
fast over a long window *and* is still burning over a short one, so it both catches real
incidents quickly and resets quickly once they end.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from baton.core.durations import parse_duration
from baton.core.manifest import SLO

BUDGET_DAYS = 30
DEFAULT_ERROR_RATE = 0.001  # 99.9% availability when the manifest names none
LATENCY_TARGET = 0.99  # "p99 below X" read as: 99% of requests below X

Severity = Literal["critical", "warning"]


@dataclass(frozen=True)
class BurnWindow:
    """Fire when the burn rate exceeds ``factor`` over both ``long`` and ``short``."""

    long: str
    short: str
    factor: float
    severity: Severity
    for_: str

    @property
    def budget_spent(self) -> float:
        """Share of the 30-day budget spent when the long window burns at ``factor``."""
        return self.factor * parse_duration(self.long) / (BUDGET_DAYS * 86400)


# SRE workbook, table 5-8: 2% of budget in 1h or 5% in 6h pages; 10% in 3d opens a ticket.
WINDOWS: tuple[BurnWindow, ...] = (
    BurnWindow("1h", "5m", 14.4, "critical", "2m"),
    BurnWindow("6h", "30m", 6.0, "critical", "15m"),
    BurnWindow("3d", "6h", 1.0, "warning", "1h"),
)


@dataclass(frozen=True)
class Objective:
    """One SLO: the share of good events to keep over the budget window."""

    name: Literal["latency", "availability"]
    target: float  # e.g. 0.999
    threshold_seconds: float | None = None  # latency objectives only: the bucket used

    @property
    def budget(self) -> float:
        return 1.0 - self.target

    def alert_threshold(self, window: BurnWindow) -> float:
        """Bad-event ratio above which ``window`` fires."""
        return window.factor * self.budget


@dataclass(frozen=True)
class Objectives:
    items: tuple[Objective, ...]
    notes: tuple[str, ...]  # what was assumed or adjusted, for the bundle's report


def bucket_at_or_above(threshold_s: float, buckets: Sequence[float]) -> float | None:
    """The histogram bucket bound to count "fast" requests against; None if none fits."""
    ordered = sorted(b for b in buckets if math.isfinite(b))
    i = bisect.bisect_left(ordered, threshold_s - 1e-12)
    return ordered[i] if i < len(ordered) else None


def objectives(slo: SLO | None, buckets: Sequence[float], default: SLO) -> Objectives:
    """The objectives to alert on, from a model's SLO (or the team default when it has none).

    The latency objective counts requests in the smallest histogram bucket at or above the
    SLO threshold; when that bucket is larger than the threshold the alert is more lenient
    than the SLO, and a note says so.
    """
    notes: list[str] = []
    if slo is None:
        slo = default
        notes.append("no slo in baton.yaml: using the team default")
    items: list[Objective] = []
    if slo.p99_latency_ms is not None:
        wanted = slo.p99_latency_ms / 1000
        bound = bucket_at_or_above(wanted, buckets)
        if bound is None:
            notes.append(
                f"p99_latency_ms {slo.p99_latency_ms} is above every histogram bucket: "
                "no latency alert"
            )
        else:
            if not math.isclose(bound, wanted, rel_tol=1e-9):
                notes.append(
                    f"latency measured against the {bound * 1000:g} ms bucket, the nearest at or "
                    f"above the {slo.p99_latency_ms:g} ms SLO"
                )
            items.append(Objective("latency", LATENCY_TARGET, bound))
    error_rate = slo.max_error_rate if slo.max_error_rate is not None else DEFAULT_ERROR_RATE
    if slo.max_error_rate is None:
        notes.append(f"no max_error_rate: assuming {DEFAULT_ERROR_RATE:g} (99.9% availability)")
    if error_rate > 0:
        items.append(Objective("availability", 1.0 - error_rate))
    else:
        notes.append("max_error_rate 0 leaves no error budget: no availability burn alert")
    return Objectives(tuple(items), tuple(notes))
