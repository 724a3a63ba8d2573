"""The evaluation report's Plotly figures, drawn from the stored JSON report.

Each chart is built to read right without its author beside it: log axes get explicit
ranges from the data (Plotly reads annotation positions on a log axis as exponents, which
once stretched the latency axis to 10^21 ms), every difference says which way is better,
and a full profile's dozens of series fold into a few legend groups.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from baton.core.evaluation import ProfileRow, ProfileSummary
from baton.core.gate import MetricDelta
from baton.core.manifest import SLO

if TYPE_CHECKING:
    from pydantic import JsonValue

OPT_SYMBOLS = {"disable": "circle-open", "basic": "square", "extended": "diamond", "all": "circle"}
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
MAX_RECALL_BARS = 40  # more classes: only the lowest recalls are drawn
BETTER = "#17803d"


def log_range(values: list[float | None], pad: float = 0.12) -> list[float] | None:
    """[low, high] in log10 units around the positive finite ``values``; None when none."""
    logs = [math.log10(v) for v in values if v is not None and math.isfinite(v) and v > 0]
    if not logs:
        return None
    low, high = min(logs), max(logs)
    span = max(high - low, 0.5)
    return [low - pad * span, high + pad * span]


def _dtick(log: list[float] | None) -> float | str:
    """A label per decade when the axis spans several; Plotly's 2-and-5 labels otherwise."""
    return 1 if log is not None and log[1] - log[0] >= 2 else "D2"


def latency_throughput(profile: ProfileSummary, slo: SLO | None) -> Any:
    """p99 as served against rows/s, one panel per precision; one legend entry per
    threads x concurrency (its optimisation levels drawn as marker shapes)."""
    from plotly.subplots import make_subplots

    points = profile.points
    slo = slo or SLO()
    precisions = sorted({p.precision or "fp32" for p in points})
    fig = make_subplots(
        rows=1, cols=len(precisions), shared_yaxes=True, horizontal_spacing=0.04,
        subplot_titles=[f"{p} model" for p in precisions],
    )  # fmt: skip
    groups = sorted({_group(p) for p in points}, key=lambda g: (len(g), g))
    colour = {g: COLOURS[i % len(COLOURS)] for i, g in enumerate(groups)}
    shown: set[str] = set()
    for col, precision in enumerate(precisions, start=1):
        for trace in _series(points, precision, colour, shown):
            fig.add_trace(trace, row=1, col=col)
    x_range = log_range([p.throughput_rps for p in points] + [slo.min_throughput_rps])
    y_range = log_range([p.served_p99_ms for p in points] + [slo.p99_latency_ms])
    _slo_lines(fig, slo, precisions, x_range, y_range)
    _recommended(fig, points, profile.recommended_point, precisions)
    fig.update_xaxes(
        type="log", range=x_range, dtick=_dtick(x_range), title_text="rows/s, in-process"
    )
    fig.update_yaxes(type="log", range=y_range, dtick=_dtick(y_range))
    fig.update_yaxes(title_text="p99 latency as served (ms)", row=1, col=1)
    fig.update_layout(
        title="Latency and throughput per configuration"
        "<br><sup>lines join batch sizes; marker shape: graph optimisation "
        "(○ disable, ■ basic, ◆ extended, ● all); click a legend entry to hide it</sup>",
        height=560,
        legend={
            "orientation": "h",
            "y": -0.18,
            "x": 0,
            "title": {"text": "threads, requests at a time"},
        },
        margin={"t": 110},
    )
    return fig


def _group(point: ProfileRow) -> str:
    if point.gpus:
        return f"GPU, {point.concurrency} at a time"
    return f"{point.threads} thread(s), {point.concurrency} at a time"


def _series(
    points: list[ProfileRow], precision: str, colour: dict[str, str], shown: set[str]
) -> list[Any]:
    import plotly.graph_objects as go

    lines: dict[tuple[str, str], list[ProfileRow]] = {}
    for p in points:
        if (p.precision or "fp32") == precision:
            lines.setdefault((_group(p), str(p.graph_optimization)), []).append(p)
    traces = []
    for (group, opt), line in sorted(lines.items()):
        line.sort(key=lambda p: p.batch_size or 0)
        traces.append(
            go.Scatter(
                x=[p.throughput_rps for p in line],
                y=[p.served_p99_ms for p in line],
                mode="lines+markers",
                name=group,
                legendgroup=group,
                showlegend=group not in shown,
                line={"color": colour[group], "width": 1.5},
                marker={"symbol": OPT_SYMBOLS.get(opt, "circle"), "size": 8},
                text=[f"{p.key}<br>{p.cores} core(s)" for p in line],
                hovertemplate="%{text}<br>%{x:,.0f} rows/s in-process"
                "<br>p99 %{y:.3f} ms as served<extra></extra>",
            )
        )
        shown.add(group)
    return traces


def _slo_lines(
    fig: Any,
    slo: SLO,
    precisions: list[str],
    x_range: list[float] | None,
    y_range: list[float] | None,
) -> None:
    """The SLO as dashed traces in data units (a shape's annotation on a log axis would
    be read as an exponent)."""
    import plotly.graph_objects as go

    lines = []
    if slo.p99_latency_ms and x_range:
        xs = [10 ** x_range[0], 10 ** x_range[1]]
        value = slo.p99_latency_ms
        lines.append((f"SLO: p99 ≤ {value:g} ms", xs, [value, value]))
    if slo.min_throughput_rps and y_range:
        ys = [10 ** y_range[0], 10 ** y_range[1]]
        value = slo.min_throughput_rps
        lines.append((f"SLO: ≥ {value:g} req/s", [value, value], ys))
    for name, xs, ys in lines:
        for col in range(1, len(precisions) + 1):
            fig.add_trace(
                go.Scatter(
                    x=xs, y=ys, mode="lines", name=name, legendgroup=name, showlegend=col == 1,
                    line={"dash": "dash", "color": "#555", "width": 1}, hoverinfo="name",
                ),
                row=1, col=col,
            )  # fmt: skip


def _recommended(
    fig: Any, points: list[ProfileRow], key: str | None, precisions: list[str]
) -> None:
    import plotly.graph_objects as go

    best = next((p for p in points if p.key == key), None)
    if best is None:
        return
    fig.add_trace(
        go.Scatter(
            x=[best.throughput_rps], y=[best.served_p99_ms], mode="markers",
            name="recommended", marker={"symbol": "star", "size": 18, "color": "#111"},
            text=[best.key], hovertemplate="recommended: %{text}<extra></extra>",
        ),
        row=1, col=precisions.index(best.precision or "fp32") + 1,
    )  # fmt: skip


def confusion(matrix: list[list[int]], labels: list[str] | None) -> Any:
    import plotly.graph_objects as go

    names = labels or [str(i) for i in range(len(matrix))]
    fig = go.Figure(go.Heatmap(z=matrix, x=names, y=names, colorscale="Blues", texttemplate="%{z}"))
    fig.update_layout(
        title="Confusion matrix",
        xaxis_title="predicted",
        yaxis_title="true",
        yaxis_autorange="reversed",
        height=480,
        width=560,
    )
    return fig


def per_class_recall(mine: dict[str, float], baseline: dict[str, float] | None) -> Any:
    """Recall of each class (the lowest first when there are many), beside the baseline's."""
    import plotly.graph_objects as go

    names = list(mine)
    title = "Recall per class"
    if len(names) > MAX_RECALL_BARS:
        names = sorted(names, key=lambda n: mine[n])[:MAX_RECALL_BARS]
        title += f" (the {MAX_RECALL_BARS} lowest of {len(mine)} classes)"
    fig = go.Figure()
    bars = [("this version", mine, "#1f77b4")]
    if baseline:
        bars.append(("baseline", baseline, "#bbb"))
    for name, values, colour in bars:
        labelled = len(names) <= 20 and name == "this version"
        fig.add_trace(
            go.Bar(
                x=names, y=[values.get(n) for n in names], name=name, marker_color=colour,
                texttemplate="%{y:.2f}" if labelled else None, textposition="outside",
                showlegend=baseline is not None,
                hovertemplate="class %{x}: recall %{y:.4f}<extra>" + name + "</extra>",
            )
        )  # fmt: skip
    fig.update_layout(
        title=title,
        barmode="group",
        xaxis={"title": "class", "type": "category"},
        yaxis={"title": "recall (share of the class found)", "range": [0, 1.1]},
        height=400,
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
    )
    return fig


def _number(value: JsonValue) -> float | None:
    return float(value) if isinstance(value, float | int) else None


def _drawable(regression: Mapping[str, JsonValue]) -> list[MetricDelta]:
    """The stored deltas (``compare._delta``) that have a value and both ends of their
    interval; the stored direction, else higher is better."""
    rows = regression.get("deltas")
    out = []
    for d in rows if isinstance(rows, list) else []:
        if not isinstance(d, dict):
            continue
        delta, low, high = (_number(d.get(k)) for k in ("delta", "low", "high"))
        if delta is None or low is None or high is None:
            continue
        higher = d.get("higher_is_better", True)
        out.append(MetricDelta(
            name=str(d.get("name")), candidate=_number(d.get("candidate")) or 0.0,
            baseline=_number(d.get("baseline")) or 0.0, delta=delta, low=low, high=high,
            higher=higher if isinstance(higher, bool) else True,
        ))  # fmt: skip
    return out


def deltas(regression: Mapping[str, JsonValue]) -> Any:
    """This version minus the baseline, one panel per metric on its own scale, the better
    side shaded: log loss falling and accuracy rising both read as good."""
    from plotly.subplots import make_subplots

    shown = _drawable(regression)
    listed = regression.get("gated")
    gated = {g for g in listed if isinstance(g, str)} if isinstance(listed, list) else set()
    titles = [
        f"<b>{d.name}</b>: {'higher' if d.higher_is_better else 'lower'} is better"
        + (" · gated" if d.name in gated else "")
        for d in shown
    ]
    rows = max(len(shown), 1)
    height = 150 + 125 * rows  # per metric: a 65 px panel and 60 px for its title and ticks
    fig = make_subplots(rows=rows, cols=1, subplot_titles=titles,
                        vertical_spacing=60 / (height - 150) if rows > 1 else 0)  # fmt: skip
    for row, d in enumerate(shown, start=1):
        _delta_panel(fig, d, row)
    confidence = _number(regression.get("confidence", 0.95))
    level = round(100 * (0.95 if confidence is None else confidence))
    fig.update_layout(
        title=f"This version minus the baseline, with {level}% bootstrap intervals"
        "<br><sup>each metric on its own scale; the shaded side is better</sup>",
        height=height,
        showlegend=False,
        margin={"t": 100},
    )
    return fig


def _delta_panel(fig: Any, d: MetricDelta, row: int) -> None:
    import plotly.graph_objects as go

    # an identical metric (top-5 accuracy of 1 on both) keeps a readable scale, not ±1e-9
    floor = 1e-3 * max(abs(d.candidate), abs(d.baseline), 1.0)
    reach = max(abs(d.low), abs(d.high), abs(d.delta), floor) * 1.3
    better = reach if d.higher_is_better else -reach
    fig.add_trace(
        go.Scatter(
            x=[d.delta], y=[""], mode="markers", marker={"size": 10, "color": "#222"},
            error_x={"type": "data", "symmetric": False, "array": [d.high - d.delta],
                     "arrayminus": [d.delta - d.low]},
            hovertemplate=f"{d.name}: %{{x:+.4f}} [{d.low:+.4f}, {d.high:+.4f}]"
            f"<br>{d.candidate:.4g} vs {d.baseline:.4g}<extra></extra>",
        ),
        row=row, col=1,
    )  # fmt: skip
    # after the trace: Plotly leaves shapes off a subplot that holds no data yet
    fig.add_vrect(x0=0, x1=better, fillcolor=BETTER, opacity=0.15, line_width=0, row=row, col=1)
    fig.add_vline(x=0, line_color="#666", row=row, col=1)
    fig.update_xaxes(range=[-reach, reach], zeroline=False, row=row, col=1)
    fig.update_yaxes(showticklabels=False, row=row, col=1)
    fig.add_annotation(
        text="better →" if better > 0 else "← better", showarrow=False, font={"color": BETTER},
        xref=f"x{row if row > 1 else ''} domain", x=1 if better > 0 else 0,
        xanchor="right" if better > 0 else "left", yref=f"y{row if row > 1 else ''} domain", y=1,
    )  # fmt: skip
