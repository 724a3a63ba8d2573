"""The evaluation report as people read it: one self-contained HTML file, or summary rows.

The stored JSON report is the source; this module only renders it. The HTML inlines
plotly.js once, so the file opens offline and can be attached to a ticket.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, select_autoescape

from baton.store.evaluations import EvaluationRecord

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ r.model }}:{{ r.version }} evaluation</title>
<script>{{ plotly_js | safe }}</script>
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.5rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0} td,th{padding:.25rem .6rem;border:1px solid #ddd;
text-align:left;vertical-align:top} th{background:#f5f5f5}
.passed{color:#17803d;font-weight:600} .failed,.error{color:#b42318;font-weight:600}
.skipped{color:#777} .badge{padding:.2rem .6rem;border-radius:4px;color:#fff}
.badge.passed{background:#17803d} .badge.failed,.badge.error{background:#b42318}
small{color:#666}
</style></head><body>
<h1>{{ r.model }}:{{ r.version }} <span class="badge {{ status }}">{{ status }}</span></h1>
<p>task {{ r.task or "-" }} &middot; owner {{ r.owner or "-" }} &middot;
{% if r.against %}compared with version {{ r.against }}{% else %}no baseline{% endif %}
&middot; {{ r.mode }} profile &middot; evaluated {{ when }} by {{ actor }}
{% if r.data %}<br><small>{{ r.data.rows }} rows of {{ r.data.file }}
(sha256 {{ r.data.sha256[:12] }})</small>{% endif %}</p>
{% if r.error %}<h2>Error</h2><p class="error">{{ r.error }}</p>{% endif %}
<h2>Checks</h2>
<table><tr><th>check</th><th>verdict</th><th>why</th></tr>
{% for name, c in (r.checks or {}).items() %}<tr><td>{{ name }}</td>
<td class="{{ c.status }}">{{ c.status }}</td>
<td>{% for reason in c.reasons %}{{ reason }}<br>{% endfor %}</td></tr>{% endfor %}
</table>
{% if metric_rows %}<h2>Quality</h2>
<table><tr><th>metric</th><th>this version</th><th>baseline</th><th>claimed</th></tr>
{% for m in metric_rows %}<tr><td>{{ m[0] }}</td><td>{{ m[1] }}</td><td>{{ m[2] }}</td>
<td>{{ m[3] }}</td></tr>{% endfor %}</table>{% endif %}
{% for fig in figures %}<div>{{ fig | safe }}</div>{% endfor %}
{% if r.regression and r.regression.examples %}<h2>Where the two versions disagree most</h2>
<p>{{ r.regression.disagreements }} rows disagree
({{ "%.1f" | format(100 * r.regression.agreement) }}% agreement).</p>
<table><tr>{% for k in r.regression.examples[0].keys() %}<th>{{ k }}</th>{% endfor %}</tr>
{% for e in r.regression.examples %}<tr>{% for v in e.values() %}<td>{{ fmt(v) }}</td>
{% endfor %}</tr>{% endfor %}</table>{% endif %}
{% if r.int8 %}<h2>int8 dynamic quantisation</h2><p>{{ r.int8.reason }}</p>{% endif %}
{% if r.recommended %}<h2>Recommended serving configuration</h2>
<table>{% for k, v in r.recommended.items() %}<tr><th>{{ k }}</th><td>{{ fmt(v) }}</td></tr>
{% endfor %}<tr><th>throughput per core</th><td>{{ per_core }}</td></tr></table>
<p><small>{{ r.profile.basis }}</small></p>
{% elif r.profile %}<h2>Recommended serving configuration</h2>
<p class="failed">none: no profiled configuration meets the SLO</p>{% endif %}
{% if r.profile %}<h2>Profile</h2><p><small>{{ r.profile.points | length }} points in
{{ "%.1f" | format(r.profile.elapsed_s) }} s; load time
{% for k, v in r.profile.load_seconds.items() %}{{ k }} {{ "%.1f" | format(1000 * v) }} ms
{% endfor %}; size {% for k, v in r.profile.size_bytes.items() %}{{ k }} {{ v }} B {% endfor %}
</small></p>
<table><tr><th>configuration</th><th>batch</th><th>concurrency</th><th>cores</th>
<th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>rows/s</th></tr>
{% for p in r.profile.points %}<tr><td>{{ p.config }}</td><td>{{ p.batch_size }}</td>
<td>{{ p.concurrency }}</td><td>{{ p.cores }}</td><td>{{ "%.3f" | format(p.p50_ms) }}</td>
<td>{{ "%.3f" | format(p.p95_ms) }}</td><td>{{ "%.3f" | format(p.p99_ms) }}</td>
<td>{{ "%.0f" | format(p.throughput_rps) }}</td></tr>{% endfor %}</table>{% endif %}
{% for note in notes %}<p><small>note: {{ note }}</small></p>{% endfor %}
</body></html>
"""


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def summary_rows(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(check, status, reasons) for a terminal table."""
    return [
        (name, str(check.get("status")), "; ".join(check.get("reasons", [])))
        for name, check in (report.get("checks") or {}).items()
    ]


def metric_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(metric, this version, baseline, claimed) for every scalar metric."""
    mine = report.get("metrics") or {}
    base = report.get("baseline_metrics") or {}
    claimed = report.get("claimed") or {}
    rows = []
    for name, value in mine.items():
        if isinstance(value, dict | list) or name in ("labels", "recall_k"):
            continue
        rows.append((name, fmt(value), fmt(base.get(name)), fmt(claimed.get(name))))
    return rows


def render_html(record: EvaluationRecord) -> str:
    """One self-contained HTML page: checks, metrics, interactive charts, the profile."""
    import plotly.offline

    r = record.report
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    template = env.from_string(_TEMPLATE)
    recommended = r.get("recommended") or {}
    per_core = (
        f"{recommended['throughput_rps'] / recommended['cores']:.0f} req/s"
        if recommended.get("throughput_rps") and recommended.get("cores")
        else "-"
    )
    return template.render(
        r=r,
        status=record.status,
        when=record.finished_at.strftime("%Y-%m-%d %H:%M:%S"),
        actor=record.actor,
        plotly_js=plotly.offline.get_plotlyjs(),
        figures=[_html(f) for f in _figures(r)],
        metric_rows=metric_rows(r),
        per_core=per_core,
        notes=[*(r.get("notes") or []), *((r.get("profile") or {}).get("notes") or [])],
        fmt=fmt,
    )


def _html(fig: Any) -> str:
    return str(fig.to_html(full_html=False, include_plotlyjs=False))


def _figures(r: dict[str, Any]) -> list[Any]:
    figures = []
    profile = r.get("profile")
    if profile and profile.get("points"):
        figures.append(_latency_throughput(profile["points"], r.get("slo") or {}))
    metrics = r.get("metrics") or {}
    if metrics.get("confusion_matrix"):
        figures.append(_confusion(metrics["confusion_matrix"], metrics.get("labels")))
    regression = r.get("regression")
    if regression and regression.get("deltas"):
        figures.append(_deltas(regression))
    return figures


def _latency_throughput(points: list[dict[str, Any]], slo: dict[str, Any]) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    groups: dict[str, list[dict[str, Any]]] = {}
    for p in points:
        groups.setdefault(f"{p['config']} x{p['concurrency']}", []).append(p)
    for name, group in groups.items():
        group = sorted(group, key=lambda p: p["batch_size"])
        fig.add_trace(
            go.Scatter(
                x=[p["throughput_rps"] for p in group],
                y=[p["served_p99_ms"] for p in group],
                mode="lines+markers",
                name=name,
                text=[f"batch {p['batch_size']}, {p['cores']} core(s)" for p in group],
                hovertemplate="%{text}<br>%{x:.0f} rows/s<br>p99 %{y:.3f} ms",
            )
        )
    if slo.get("p99_latency_ms"):
        fig.add_hline(y=slo["p99_latency_ms"], line_dash="dash", annotation_text="SLO p99")
    if slo.get("min_throughput_rps"):
        fig.add_vline(x=slo["min_throughput_rps"], line_dash="dash", annotation_text="SLO rps")
    fig.update_layout(
        title="Latency and throughput per configuration (p99 as served, rows/s in-process)",
        xaxis_title="throughput (rows/s)",
        yaxis_title="p99 latency (ms)",
        xaxis_type="log",
        yaxis_type="log",
        height=480,
    )
    return fig


def _confusion(matrix: list[list[int]], labels: list[str] | None) -> Any:
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


def _deltas(regression: dict[str, Any]) -> Any:
    import plotly.graph_objects as go

    deltas = [
        d for d in regression["deltas"] if None not in (d.get("delta"), d.get("low"), d.get("high"))
    ]
    level = round(100 * regression.get("confidence", 0.95))
    fig = go.Figure(
        go.Scatter(
            x=[d["delta"] for d in deltas],
            y=[d["name"] for d in deltas],
            mode="markers",
            marker={"size": 10},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [d["high"] - d["delta"] for d in deltas],
                "arrayminus": [d["delta"] - d["low"] for d in deltas],
            },
        )
    )
    fig.add_vline(x=0, line_color="#888")
    fig.update_layout(
        title=f"This version minus the baseline, with {level}% bootstrap intervals",
        xaxis_title="difference",
        height=120 + 60 * len(deltas),
    )
    return fig
