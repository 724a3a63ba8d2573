"""The audit's Plotly figures, each as an HTML fragment for the report page.

Fleet charts (cost by verdict, savings by deployment, peak against capacity) and per
deployment charts (usage over the window against allocation and recommendation, the daily
pattern). Plotly is imported inside the functions: only rendering a report pays for it. The
fragments leave plotly.js out; the page inlines it once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from baton.audit.observed import Observed, Series
from baton.audit.result import AuditResult, Row
from baton.audit.table import (
    EXAMPLE_LABEL,
    capacity_after,
    capacity_now,
    currency,
    example_prices,
)
from baton.core.pricing import GIB

# One colour per verdict, shared by the charts and the report's badges.
VERDICT_COLOURS = {
    "at risk": "#b42318",
    "under-provisioned": "#c2410c",
    "over-provisioned": "#0e7490",
    "idle": "#7c3aed",
    "insufficient data": "#777777",
    "right-sized": "#17803d",
}

_LAYOUT: dict[str, object] = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 20, "t": 50, "b": 40},
    "legend": {"orientation": "h", "y": -0.12},
}
_CONFIG = {"displaylogo": False, "responsive": True}


def _html(fig: Any, div_id: str) -> str:
    return str(fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=_CONFIG))


def _finite(values: tuple[float, ...], scale: float = 1.0) -> list[float | None]:
    return [v / scale if math.isfinite(v) else None for v in values]


def has_data(observed: Observed) -> bool:
    """Whether any timeline holds a real sample: no charts are drawn from nothing."""
    return any(math.isfinite(v) for s in observed.timeline.values() for v in s.values)


def _x(series: Series) -> list[str]:
    return [datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M") for t in series.timestamps]


def fleet_charts(result: AuditResult, top: int) -> list[str]:
    """Cost by verdict, savings by deployment, and peak load against capacity at the SLO."""
    unit = currency(result)
    label = f"{unit}/month" + (f", {EXAMPLE_LABEL}" if example_prices(result) else "")
    by_verdict = result.costs_by_verdict()
    present = [verdict for verdict, _, _, _ in by_verdict]
    charts = [_cost_chart(by_verdict, label)]
    savings = _savings_chart(result, top, unit, label)
    capacity = _capacity_chart(result, present)
    return charts + [c for c in (savings, capacity) if c is not None]


def _cost_chart(by_verdict: list[tuple[str, int, float, float]], label: str) -> str:
    import plotly.graph_objects as go

    present = [verdict for verdict, _, _, _ in by_verdict]
    now = [cost_now for _, _, cost_now, _ in by_verdict]
    after = [cost_after for _, _, _, cost_after in by_verdict]
    cost = go.Figure(
        [
            go.Bar(x=present, y=now, name="now", marker_color="#9ca3af"),
            go.Bar(x=present, y=after, name="after", marker_color="#0e7490"),
        ]
    )
    cost.update_layout(_LAYOUT, title="Cost now and after, by verdict", yaxis_title=label,
                       barmode="group", height=360)  # fmt: skip
    return _html(cost, "fleet-cost")


def _savings_chart(result: AuditResult, top: int, unit: str, label: str) -> str | None:
    import plotly.graph_objects as go

    priced = [r for r in result.rows if r.recommendation.monthly_cost_after is not None]
    priced.sort(key=lambda r: -abs(r.recommendation.monthly_savings))
    priced = priced[: max(top, 10)]
    if not priced:
        return None
    savings = go.Figure(
        go.Bar(
            x=[r.recommendation.monthly_savings for r in priced],
            y=[r.deployment.name for r in priced],
            orientation="h",
            marker_color=[VERDICT_COLOURS.get(r.verdict, "#555") for r in priced],
            customdata=[r.verdict for r in priced],
            hovertemplate="%{y}: %{x:,.0f} " + unit + "/month (%{customdata})<extra></extra>",
        )
    )
    savings.update_layout(
        _LAYOUT,
        title="Savings per month by deployment (negative: the fix costs more)",
        xaxis_title=label,
        yaxis_autorange="reversed",
        height=160 + 24 * len(priced),
    )
    return _html(savings, "fleet-savings")


def _capacity_chart(result: AuditResult, present: list[str]) -> str | None:
    """Each deployment's observed peak against its capacity now, by verdict, log-log."""
    import plotly.graph_objects as go

    points = [
        (r, r.observed.usage.rps_peak, capacity_now(r))
        for r in result.rows
        if r.observed is not None
        and r.observed.usage.rps_peak
        and math.isfinite(r.observed.usage.rps_peak)
        and capacity_now(r)
    ]
    if not points:
        return None
    scatter = go.Figure()
    for verdict in present:
        mine = [p for p in points if p[0].verdict == verdict]
        if not mine:
            continue
        scatter.add_trace(
            go.Scatter(
                x=[p[2] for p in mine],
                y=[p[1] for p in mine],
                mode="markers",
                name=verdict,
                marker={"color": VERDICT_COLOURS.get(verdict, "#555"), "size": 10},
                text=[p[0].deployment.name for p in mine],
                hovertemplate="%{text}<br>capacity %{x:.4g} req/s<br>peak %{y:.4g} req/s",
            )
        )
    low = min(min(p[1] or 1, p[2] or 1) for p in points) / 2
    high = max(max(p[1] or 1, p[2] or 1) for p in points) * 2
    for share, dash, name in ((1.0, "solid", "peak = capacity"), (0.8, "dot", "80%")):
        scatter.add_trace(
            go.Scatter(x=[low, high], y=[low * share, high * share], mode="lines",
                       name=name, line={"color": "#b42318", "dash": dash, "width": 1})
        )  # fmt: skip
    scatter.update_layout(
        _LAYOUT,
        title="Peak load against the capacity now at the SLO (above the line: at risk)",
        xaxis_title="capacity at the SLO, req/s",
        yaxis_title="observed peak, req/s",
        xaxis_type="log",
        yaxis_type="log",
        height=440,
    )
    return _html(scatter, "fleet-capacity")


def _constant(fig: Any, x: list[str], value: float | None, name: str, colour: str,
              dash: str, row: int) -> None:  # fmt: skip
    import plotly.graph_objects as go

    if value is None or not math.isfinite(value) or not x:
        return
    fig.add_trace(
        go.Scatter(x=[x[0], x[-1]], y=[value, value], mode="lines", name=name,
                   line={"color": colour, "dash": dash, "width": 1.5}, legendgroup=str(row)),
        row=row, col=1,
    )  # fmt: skip


_PANELS = {  # name: (legend of the observed line, panel title)
    "rps": ("requests/s", "requests/s against capacity at the SLO"),
    "replicas": ("replicas", "replicas"),
    "cpu": ("CPU cores", "CPU cores per replica"),
    "memory": ("memory GiB", "memory per replica (GiB)"),
    "p99_ms": ("p99 ms", "p99 latency (ms)"),
}


def usage_chart(row: Row, div_id: str) -> str:
    """Load, replicas, CPU and memory over the window against allocation and recommendation."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    assert row.observed is not None
    timeline = row.observed.timeline
    panels = [
        name
        for name in _PANELS
        if name in timeline and any(math.isfinite(v) for v in timeline[name].values)
    ]
    fig = make_subplots(
        rows=len(panels), cols=1, shared_xaxes=True, vertical_spacing=0.06,
        subplot_titles=[_PANELS[p][1] for p in panels],
    )  # fmt: skip
    for i, name in enumerate(panels, start=1):
        series = timeline[name]
        x = _x(series)
        scale = GIB if name == "memory" else 1.0
        fig.add_trace(
            go.Scatter(x=x, y=_finite(series.values, scale), mode="lines", name=_PANELS[name][0],
                       line={"color": "#1f2937", "width": 1.2}, legendgroup=str(i)),
            row=i, col=1,
        )  # fmt: skip
        _REFERENCES[name](fig, row, x, i)
    fig.update_layout(
        _LAYOUT,
        title=f"{row.deployment.name}: usage over the window against allocation and recommendation",
        height=180 + 190 * len(panels),
        legend={"orientation": "v", "x": 1.02, "y": 1},
        margin={"l": 60, "r": 220, "t": 70, "b": 40},
    )
    fig.update_yaxes(rangemode="tozero")
    return _html(fig, div_id)


def _rps_lines(fig: Any, row: Row, x: list[str], i: int) -> None:
    """Capacity now (following the replicas seen, where known) and recommended."""
    import plotly.graph_objects as go

    per = row.recommendation.load_per_replica
    if not per:
        return
    assert row.observed is not None
    series, replicas = row.observed.timeline["rps"], row.observed.timeline.get("replicas")
    if replicas is not None and len(replicas.values) == len(series.values):
        fig.add_trace(
            go.Scatter(x=x, y=_finite(tuple(per * v for v in replicas.values)),
                       mode="lines", name="capacity now (replicas x per replica)",
                       line={"color": "#b42318", "dash": "dash", "width": 1.5},
                       legendgroup=str(i)),
            row=i, col=1,
        )  # fmt: skip
    else:
        _constant(fig, x, capacity_now(row), "capacity now", "#b42318", "dash", i)
    after = "capacity recommended" + (" (upper bound)" if row.target.max_replicas else "")
    _constant(fig, x, capacity_after(row), after, "#17803d", "dash", i)


def _replica_lines(fig: Any, row: Row, x: list[str], i: int) -> None:
    d, t = row.deployment, row.target
    _constant(fig, x, d.max_replicas, "max replicas now", "#b42318", "dot", i)
    _constant(fig, x, d.min_replicas if d.autoscaled else d.replicas,
              "replicas now" if not d.autoscaled else "min replicas now",
              "#b42318", "dash", i)  # fmt: skip
    _constant(fig, x, t.max_replicas, "max recommended", "#17803d", "dot", i)
    _constant(fig, x, t.min_replicas if t.min_replicas is not None else t.replicas,
              "recommended" if t.min_replicas is None else "min recommended",
              "#17803d", "dash", i)  # fmt: skip


def _cpu_lines(fig: Any, row: Row, x: list[str], i: int) -> None:
    res = row.deployment.resources
    _constant(fig, x, res.cores, "CPU request", "#b42318", "dash", i)
    _constant(fig, x, res.cpu_limit, "CPU limit", "#b42318", "dot", i)
    _constant(fig, x, row.target.cores, "CPU recommended", "#17803d", "dash", i)
    _constant(fig, x, row.recommendation.baseline_cpu_request, "CPU p95 (baseline)", "#6b7280",
              "dot", i)  # fmt: skip


def _memory_lines(fig: Any, row: Row, x: list[str], i: int) -> None:
    res, t = row.deployment.resources, row.target
    _constant(fig, x, res.memory_bytes / GIB, "memory request", "#b42318", "dash", i)
    limit = res.memory_limit_bytes
    _constant(fig, x, limit / GIB if limit else None, "memory limit", "#b42318", "dot", i)
    _constant(fig, x, t.memory_bytes / GIB if t.memory_bytes else None,
              "memory recommended", "#17803d", "dash", i)  # fmt: skip


def _p99_lines(fig: Any, row: Row, x: list[str], i: int) -> None:
    _constant(fig, x, row.slo_p99_ms, "SLO p99", "#b42318", "dash", i)


# each panel's reference lines: what was given and what is recommended
_REFERENCES: dict[str, Callable[[Any, Row, list[str], int], None]] = {
    "rps": _rps_lines,
    "replicas": _replica_lines,
    "cpu": _cpu_lines,
    "memory": _memory_lines,
    "p99_ms": _p99_lines,
}


def daily_chart(pattern: tuple[float, ...], div_id: str) -> str:
    """Mean requests/s per UTC hour of the day: when a scale-down could happen."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(x=list(range(len(pattern))), y=_finite(pattern), marker_color="#0e7490"))
    fig.update_layout(
        _LAYOUT,
        title="Daily pattern: mean requests/s by hour of day (UTC)",
        xaxis={"title": "hour (UTC)", "dtick": 2},
        yaxis_title="req/s",
        height=300,
    )
    return _html(fig, div_id)
