"""Usage from Prometheus: what every deployment used over the audit window.

The queries (``audit.queries``) each cover all deployments at once, so 1,000 deployments
cost what 10 do. This module chooses the steps, runs the queries a few at a time and hands
the answers to ``audit.observe``, which turns them into one ``Observed`` per deployment,
once ``audit.observe_joins`` has joined the per-replica figures to their models. Each
series is read once, as a range query at the statistics step; only the p99 latency
timeline, which needs every bucket, is a query of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace

import numpy as np

from baton.audit.observe import Builder
from baton.audit.observe_joins import join_answers
from baton.audit.observed import Observed
from baton.audit.prometheus import FloatArray, InstantResult, Prometheus, RangeResult
from baton.audit.queries import Queries, choose_steps, series_queries, window_queries
from baton.core.inventory import Deployment
from baton.errors import BadInput

Progress = Callable[[int, int], None]

WORKERS = 4  # queries in flight at most; Prometheus evaluates them in parallel


@dataclass(frozen=True)
class UsageData:
    """Everything ``collect`` learnt, keyed by deployment name."""

    by_name: dict[str, Observed]
    step_s: float  # subquery step of the statistics
    plot_step_s: float  # step of the timelines
    queries: int  # HTTP API calls made
    notes: tuple[str, ...] = ()


def collect(
    prom: Prometheus,
    deployments: Sequence[Deployment],
    start: float,
    end: float,
    *,
    rate_window_s: float = 300,
    slo_p99_ms: Mapping[str, float] | None = None,
    progress: Progress | None = None,
) -> UsageData:
    """What each deployment used between ``start`` and ``end`` (epoch seconds)."""
    _check_window(start, end, rate_window_s)
    window = end - start
    step, plot = choose_steps(window, rate_window_s)
    notes: list[str] = []
    runtime = prom.runtime()
    retention = runtime.retention_s
    if retention is not None and window > retention:
        notes.append(
            f"the window ({_days(window)}) is longer than the {_days(retention)} Prometheus "
            "retains: figures cover the retained part only, and coverage shows how much"
        )
    namespaces = tuple(sorted({d.namespace for d in deployments if d.namespace and d.pod_prefix}))
    q = Queries(round(rate_window_s), round(window), round(step), namespaces)
    step_grid, plot_grid = _grids(start, end, step, plot, prom.max_points)
    plan = _plan(q, bool(namespaces), end, step_grid, plot_grid)
    instant, ranged = _run(prom, plan, in_flight(runtime.cores), progress)
    grid = step_grid.points()
    builder = Builder(
        instant, join_answers(ranged, grid), grid, plot_grid.points(), slo_p99_ms or {}
    )
    by_name = {d.name: builder.observed(d) for d in deployments}
    if deployments and all(o.usage.coverage == 0 for o in by_name.values()):
        notes.append(
            f"Prometheus at {prom.url} has no baton metrics for any deployment in the window: "
            "check that it scrapes the servers and that --window covers their traffic"
        )
    return UsageData(by_name, step, plot, prom.queries, tuple(notes))


def _check_window(start: float, end: float, rate_window_s: float) -> None:
    window = end - start
    if window <= 0:
        raise BadInput(f"the audit window must end after it starts (start {start}, end {end})")
    if rate_window_s <= 0:
        raise BadInput(f"the rate window must be positive, got {rate_window_s:g} s")
    if window < rate_window_s:
        raise BadInput(
            f"the window ({window:.0f} s) is shorter than the rate window "
            f"({rate_window_s:.0f} s): widen --window"
        )


@dataclass(frozen=True)
class _Grid:
    """Evaluation times from ``start`` to ``end`` every ``step`` seconds (aligned to it)."""

    start: float
    end: float
    step: float

    def points(self) -> FloatArray:
        return np.arange(self.start, self.end + self.step / 2, self.step, dtype=np.float64)

    def steps(self) -> float:
        return (self.end - self.start) / self.step


def _grids(
    start: float, end: float, step: float, plot: float, max_points: int
) -> tuple[_Grid, _Grid]:
    """The statistics grid and the plot grid; a window within one plot step plots one point."""
    stats = _Grid(math.ceil(start / step) * step, math.floor(end / step) * step, step)
    plot_grid = _Grid(math.ceil(start / plot) * plot, math.floor(end / plot) * plot, plot)
    if plot_grid.end < plot_grid.start:
        plot_grid = replace(plot_grid, start=plot_grid.end)
    assert plot_grid.steps() <= max_points, "plot step too fine"
    assert stats.steps() <= max_points, "statistics step too fine"
    return stats, plot_grid


def _plan(q: Queries, pods: bool, end: float, stats: _Grid, plot: _Grid) -> list[_Query]:
    """Every query, the slowest first (every bucket series, read twice) so it overlaps the
    rest: the p99 timeline, the instant ones over the window, the series at the step."""
    p99_line = q.latency_p99_ms_timeline(plot.step)
    plan = [_Query("range", "p99_ms", p99_line, plot.start, plot.end, plot.step)]
    plan += [
        _Query("instant", name, text, end, end, 0) for name, text in window_queries(q, pods).items()
    ]
    plan += [
        _Query("range", name, text, stats.start, stats.end, stats.step)
        for name, text in series_queries(q, pods).items()
    ]
    return plan


@dataclass(frozen=True)
class _Query:
    kind: str  # "instant" or "range"
    name: str
    text: str
    start: float
    end: float
    step: float


def in_flight(cores: int | None) -> int:
    """Queries sent side by side: as many as Prometheus has cores, 2 to ``WORKERS``.

    Prometheus evaluates each query on one core. More in flight than it has cores only
    share them: the p99 timeline, sent first and about half of Prometheus' work on 1,000
    deployments, then gets half a core while the others run and ends long after them, with
    a core idle. At least 2, so one answer is decoded here while Prometheus evaluates the
    next query.
    """
    return max(2, min(WORKERS, cores or WORKERS))


def _run(
    prom: Prometheus, plan: list[_Query], workers: int, progress: Progress | None
) -> tuple[dict[str, InstantResult], dict[str, RangeResult]]:
    instant: dict[str, InstantResult] = {}
    ranged: dict[str, RangeResult] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        points: dict[Future[InstantResult], str] = {}
        lines: dict[Future[RangeResult], str] = {}
        for p in plan:  # submitted in the plan's order
            if p.kind == "instant":
                points[pool.submit(prom.instant, p.text, p.end)] = p.name
            else:
                lines[pool.submit(prom.range, p.text, p.start, p.end, p.step)] = p.name
        every: list[Future[InstantResult] | Future[RangeResult]] = [*points, *lines]
        try:
            for done, future in enumerate(as_completed(every), start=1):
                future.result()  # raises the first failure as it comes
                if progress is not None:
                    progress(done, len(every))
        except BaseException:
            for other in every:
                other.cancel()
            raise
    for pf, name in points.items():
        instant[name] = pf.result()
    for rf, name in lines.items():
        ranged[name] = rf.result()
    return instant, ranged


def _days(seconds: float) -> str:
    days = seconds / 86400
    return f"{days:g}d" if days >= 1 else f"{seconds / 3600:g}h"
