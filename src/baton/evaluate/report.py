"""The evaluation report as people read it: one self-contained HTML file, or summary rows.

The stored JSON report is the source; this module only renders it. The HTML inlines
plotly.js once, so the file opens offline and can be attached to a ticket.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, select_autoescape

from baton.core.evaluation import EvaluationReport, Int8Tradeoff
from baton.core.policy import HIGHER_IS_BETTER, canonical
from baton.core.serving_config import ServingConfig
from baton.evaluate import charts
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
<table><tr><th>metric</th><th>better</th><th>this version</th><th>baseline</th><th>claimed</th>
</tr>{% for m in metric_rows %}<tr>{% for cell in m %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</table>{% endif %}
{% for fig in figures %}<div>{{ fig | safe }}</div>{% endfor %}
{% if r.regression and r.regression.examples %}<h2>Where the two versions disagree most</h2>
<p>{{ r.regression.disagreements }} rows disagree
({{ "%.1f" | format(100 * r.regression.agreement) }}% agreement).</p>
<table><tr>{% for k in r.regression.examples[0].keys() %}<th>{{ k }}</th>{% endfor %}</tr>
{% for e in r.regression.examples %}<tr>{% for v in e.values() %}<td>{{ fmt(v) }}</td>
{% endfor %}</tr>{% endfor %}</table>{% endif %}
{% if r.int8 %}<h2>int8 dynamic quantisation</h2><p>{{ r.int8.reason }}</p>{% endif %}
{% if r.recommended %}<h2>Recommended serving configuration</h2>
<table>{% for k, v in recommended %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}
</table>
<p><small>{{ r.profile.basis }}</small></p>
{% elif r.profile %}<h2>Recommended serving configuration</h2>
<p class="failed">none: no profiled configuration meets the SLO</p>{% endif %}
{% if r.profile %}<h2>Profile</h2><p><small>{{ r.profile.points | length }} points in
{{ "%.1f" | format(r.profile.elapsed_s) }} s; load time
{% for k, v in r.profile.load_seconds.items() %}{{ k }} {{ "%.1f" | format(1000 * v) }} ms
{% endfor %}; size {% for k, v in r.profile.size_bytes.items() %}{{ k }} {{ v }} B {% endfor %}
</small></p>
<table><tr><th>configuration</th><th>batch</th><th>concurrency</th><th>cores</th>
<th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>rows/s in-process</th></tr>
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


def summary_rows(report: EvaluationReport) -> list[tuple[str, str, str]]:
    """(check, status, reasons) for a terminal table."""
    return [(name, check.status, "; ".join(check.reasons)) for name, check in report.checks.items()]


def metric_rows(report: EvaluationReport) -> list[tuple[str, str, str, str, str]]:
    """(metric, which way is better, this version, baseline, claimed) for every scalar
    metric; a claim under an older name (recall_at_k) sits beside the metric it means."""
    mine = report.metrics or {}
    base = report.baseline_metrics or {}
    claimed = {canonical(k): v for k, v in (report.claimed or {}).items()}
    directions = {**HIGHER_IS_BETTER, **report.directions}
    better = {True: "higher", False: "lower", None: "?"}
    rows = []
    for name, value in mine.items():
        if isinstance(value, dict | list) or name in ("labels", "recall_k"):
            continue
        way = better[directions.get(name)]
        rows.append((name, way, fmt(value), fmt(base.get(name)), fmt(claimed.get(name))))
    return rows


def throughput_text(config: ServingConfig) -> str:
    """The recommended configuration's throughput, said the same way everywhere: rows per
    second measured in-process (the server's own HTTP cost comes on top)."""
    rate, cores = config.throughput_rps, config.cores
    if not rate:
        return "not measured"
    per_core = f" ({rate / cores:,.0f} per core)" if cores and cores > 1 else " on one core"
    return f"{rate:,.0f} rows/s in-process{per_core}"


def recommended_rows(config: ServingConfig, int8: Int8Tradeoff | None) -> list[tuple[str, str]]:
    """The recommended serving configuration as a person reads it, not as keys."""
    gpu = config.gpus
    precision: str = config.precision
    if precision == "int8":
        precision = "int8 (dynamic quantisation)" + (f": {int8.reason}" if int8 else "")
    rows = [
        ("precision", precision),
        ("runs on", f"{'GPU' if gpu else 'CPU'}, ONNX Runtime {config.provider}"),
        ("one replica", f"{config.cores} CPU core(s)" + (f", {gpu} GPU(s)" if gpu else "")),
        ("threads", f"{config.intra_op_threads} intra-op, {config.inter_op_threads} inter-op"),
        (
            "batching",
            f"up to {config.max_batch_size} queued requests per model call, "
            f"waiting at most {fmt(config.max_queue_delay_ms)} ms to fill one",
        ),
        ("graph optimisation", config.graph_optimization),
        (
            "latency as served",
            f"p50 {fmt(config.p50_latency_ms)} ms, p99 {fmt(config.p99_latency_ms)} ms",
        ),
        ("throughput", throughput_text(config)),
    ]
    if config.memory_bytes is not None:
        rows.append(("memory", f"{config.memory_bytes / 2**20:.1f} MiB more resident"))
    sha = config.model_sha256
    rows.append(("model file", f"int8 copy, sha256 {sha[:12]}" if sha else "the registered model"))
    return rows


def render_html(record: EvaluationRecord) -> str:
    """One self-contained HTML page: checks, metrics, interactive charts, the profile."""
    import plotly.offline

    r = record.report
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    template = env.from_string(_TEMPLATE)
    recommended = recommended_rows(r.recommended, r.int8) if r.recommended else []
    return template.render(
        r=r,
        status=record.status,
        when=record.finished_at.strftime("%Y-%m-%d %H:%M:%S"),
        actor=record.actor,
        plotly_js=plotly.offline.get_plotlyjs(),
        figures=[_html(f) for f in figures(r)],
        metric_rows=metric_rows(r),
        recommended=recommended,
        notes=[*r.notes, *(r.profile.notes if r.profile else [])],
        fmt=fmt,
    )


def _html(fig: Any) -> str:
    return str(fig.to_html(full_html=False, include_plotlyjs=False))


def figures(r: EvaluationReport) -> list[Any]:
    """The report's Plotly figures: the HTML report and the dashboard draw the same ones."""
    found = []
    if r.profile and r.profile.points:
        found.append(charts.latency_throughput(r.profile, r.slo))
    recall = r.per_class_recall()
    if recall:
        found.append(charts.per_class_recall(recall, r.per_class_recall(baseline=True) or None))
    confusion = r.confusion_matrix()
    if confusion is not None:
        found.append(charts.confusion(*confusion))
    if r.regression and r.regression.get("deltas"):
        found.append(charts.deltas(r.regression))
    return found
