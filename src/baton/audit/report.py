"""The audit as one self-contained HTML page: fleet summary, every deployment, charts.

plotly.js is inlined once, so the file opens offline and can be attached to a ticket. The
page leads with the fleet (cost now and after by verdict, savings by deployment, peak
against capacity), lists every deployment in a sortable table, then details the top ones
(at risk first, then by savings): usage over time against what was allocated and what is
recommended, the daily pattern, the reasons and the data coverage. A deployment without
data shows what is missing instead of charts drawn from nothing. Money figures from the
built-in price table carry an "example prices" banner. The figures come from
``audit.charts``; this module lays out the page around them.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from jinja2 import Environment, select_autoescape

from baton.audit.charts import VERDICT_COLOURS, daily_chart, fleet_charts, has_data, usage_chart
from baton.audit.result import VERDICT_ORDER, AuditResult, Row
from baton.audit.table import (
    EXAMPLE_LABEL,
    capacity_after,
    capacity_now,
    cores,
    coverage,
    currency,
    example_prices,
    memory,
    money,
    percent,
    rate,
    replicas_after,
    replicas_now,
    shape_after,
    shape_now,
    summary,
    when,
)

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Right-size audit {{ start }} .. {{ end }}</title>
<script>
window.batonErrors = [];
window.addEventListener("error", function (e) {
  window.batonErrors.push(String(e.message));
  var box = document.getElementById("js-errors");
  if (box) { box.hidden = false; box.textContent = "Charts failed to draw: " + e.message; }
});
</script>
<script>{{ plotly_js | safe }}</script>
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
h1{font-size:1.5rem} h2{font-size:1.2rem;margin-top:2.2rem;border-bottom:1px solid #ddd}
h3{font-size:1.05rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
td,th{padding:.25rem .55rem;border:1px solid #ddd;text-align:left;vertical-align:top}
th{background:#f5f5f5} td.n{text-align:right;font-variant-numeric:tabular-nums}
table.sortable th{cursor:pointer} table.sortable th:hover{background:#e8e8e8}
.banner{background:#fff4ce;border:1px solid #e0c060;padding:.6rem 1rem;border-radius:4px}
.errors{background:#fde8e8;border:1px solid #b42318;padding:.6rem 1rem;color:#b42318}
.badge{padding:.1rem .5rem;border-radius:4px;color:#fff;font-size:.85rem;white-space:nowrap}
{% for v, c in colours.items() %}.v-{{ loop.index }}{background:{{ c }}}
{% endfor %}
.missing{color:#b42318} small,.muted{color:#666} code{font-size:.85rem}
ul.reasons{margin:.3rem 0 .8rem 1.2rem;padding:0}
</style></head><body>
<div id="js-errors" class="errors" hidden></div>
<h1>Right-size audit: {{ s.deployments }} deployment(s)</h1>
<p>Window {{ start }} .. {{ end }} UTC ({{ days }}) &middot; Prometheus
<code>{{ r.prometheus_url }}</code> &middot; {{ r.queries }} queries in
{{ "%.1f" | format(r.elapsed_s) }} s &middot; statistics every {{ r.step_s | int }} s, charts
every {{ r.plot_step_s | int }} s &middot; generated {{ generated }}</p>
{% if example %}<p class="banner"><b>{{ EXAMPLE_LABEL | capitalize }}.</b> Every money figure
here comes from baton's built-in price table: rough public on-demand list prices, not what
your team pays. Pass <code>--prices prices.yaml</code> for your own.</p>{% endif %}
{% if settings %}<details><summary>Settings and queries</summary><table>
{% for k, v in settings.items() %}<tr><th>{{ k }}</th><td>{% if v is string or v is number %}
{{ v }}{% else %}{% for q in v %}<code>{{ q }}</code><br>{% endfor %}{% endif %}</td></tr>
{% endfor %}<tr><th>prices</th><td>{{ prices_source }} ({{ unit }})</td></tr></table></details>
{% endif %}
{% for note in r.notes %}<p><small>note: {{ note }}</small></p>{% endfor %}

<h2>Fleet</h2>
<table><tr><th>verdict</th><th>deployments</th><th>cost/month now</th>
<th>cost/month after</th><th>savings/month</th></tr>
{% for v in verdicts %}<tr><td><span class="badge v-{{ v.i }}">{{ v.name }}</span></td>
<td class="n">{{ v.count }}</td><td class="n">{{ v.now }}</td><td class="n">{{ v.after }}</td>
<td class="n">{{ v.savings }}</td></tr>{% endfor %}
<tr><th>all</th><th class="n">{{ s.deployments }}</th><th class="n">{{ total.now }}</th>
<th class="n">{{ total.after }}</th><th class="n">{{ total.savings }}</th></tr></table>
<p><small>Costs per month ({{ unit }}{% if example %}, {{ EXAMPLE_LABEL }}{% endif %}); a
deployment without a recommendation counts at its current cost after too.</small></p>
{% for fig in fleet %}<div class="plot">{{ fig | safe }}</div>{% endfor %}

<h2>All deployments</h2>
<table class="sortable" id="all"><thead><tr><th>deployment</th><th>model@version</th>
<th>verdict</th><th>replicas</th><th>per replica</th><th>peak req/s</th>
<th>capacity at SLO</th><th>use</th><th>p99 / SLO ms</th><th>cost now</th><th>cost after</th>
<th>savings</th><th>data</th></tr></thead><tbody>
{% for d in table %}<tr><td>{% if d.anchor %}<a href="#{{ d.anchor }}">{{ d.name }}</a>
{% else %}{{ d.name }}{% endif %}</td><td>{{ d.ref }}</td>
<td data-v="{{ d.order }}"><span class="badge v-{{ d.i }}">{{ d.verdict }}</span></td>
<td>{{ d.replicas }}</td><td>{{ d.shape }}</td>
<td class="n" data-v="{{ d.peak_v }}">{{ d.peak }}</td><td class="n">{{ d.capacity }}</td>
<td class="n" data-v="{{ d.use_v }}">{{ d.use }}</td><td class="n">{{ d.p99 }}</td>
<td class="n" data-v="{{ d.now_v }}">{{ d.now }}</td><td class="n">{{ d.after }}</td>
<td class="n" data-v="{{ d.savings_v }}">{{ d.savings }}</td><td>{{ d.coverage }}</td></tr>
{% endfor %}</tbody></table>

<h2>Deployments in detail{% if details | length < s.deployments %} (the first
{{ details | length }} of {{ s.deployments }}, at risk first, then by savings){% endif %}</h2>
{% for d in details %}<section id="{{ d.anchor }}">
<h3>{{ d.name }} <small>{{ d.ref }}</small>
<span class="badge v-{{ d.i }}">{{ d.verdict }}</span>
{% for f in d.flags %}<span class="badge" style="background:#555">{{ f }}</span> {% endfor %}
</h3>
<table>{% for k, v in d.facts %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>
<b>Why</b><ul class="reasons">{% for reason in d.reasons %}<li>{{ reason }}</li>{% endfor %}
</ul>
{% if d.missing %}<p class="missing">Missing data: {{ d.missing }}</p>{% endif %}
{% for fig in d.figures %}<div class="plot">{{ fig | safe }}</div>{% endfor %}
{% if not d.figures %}<p class="missing">No charts: Prometheus returned no samples for this
deployment in the window.</p>{% endif %}
</section>{% endfor %}
<script>
document.querySelectorAll("table.sortable th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0], rows = Array.from(body.rows);
    var dir = th.dataset.dir === "asc" ? -1 : 1; th.dataset.dir = dir > 0 ? "asc" : "desc";
    function key(r) { var c = r.cells[col], v = c.dataset.v;
      return v !== undefined && v !== "" ? parseFloat(v) : c.textContent.trim(); }
    rows.sort(function (a, b) { var x = key(a), y = key(b);
      return (typeof x === "number" && typeof y === "number" ? x - y
        : String(x).localeCompare(String(y))) * dir; });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
</script>
</body></html>
"""


def render_html(result: AuditResult, top: int = 25, generated: datetime | None = None) -> str:
    """One self-contained HTML page for the audit; details and charts for the first ``top``."""
    import plotly.offline

    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    template = env.from_string(_TEMPLATE)
    unit = currency(result)
    rows = result.sorted_rows()
    detailed = rows[: max(0, top)]
    anchors = {id(row): f"d{i}" for i, row in enumerate(detailed)}
    s = summary(result)
    settings = {k: v for k, v in result.settings.items() if v is not None}
    return template.render(
        r=result,
        s=s,
        unit=unit,
        example=example_prices(result),
        EXAMPLE_LABEL=EXAMPLE_LABEL,
        colours=VERDICT_COLOURS,
        start=when(result.start),
        end=when(result.end),
        days=f"{(result.end - result.start) / 86400:.3g} days",
        generated=(generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        settings=settings,
        prices_source=result.prices.get("source") or "given",
        verdicts=_by_verdict(result, unit),
        total={
            "now": money(s["monthly_cost_now"], unit),
            "after": money(s["monthly_cost_after"], unit),
            "savings": money(s["monthly_savings"], unit, signed=True),
        },
        fleet=fleet_charts(result, top),
        table=[_table_row(row, unit, anchors.get(id(row))) for row in rows],
        details=[_detail(row, unit, anchors[id(row)], result) for row in detailed],
        plotly_js=plotly.offline.get_plotlyjs(),
    )


_INDEX = {v: i for i, v in enumerate(VERDICT_COLOURS, start=1)}


def _num(value: float | None) -> str:
    """A sort key for the table: empty when unknown."""
    return "" if value is None or not math.isfinite(value) else f"{value:.6g}"


def _by_verdict(result: AuditResult, unit: str) -> list[dict[str, object]]:
    return [
        {
            "name": verdict,
            "i": _INDEX.get(verdict, 0),
            "count": count,
            "now": money(now, unit),
            "after": money(after, unit),
            "savings": money(now - after, unit, signed=True),
        }
        for verdict, count, now, after in result.costs_by_verdict()
    ]


def _table_row(row: Row, unit: str, anchor: str | None) -> dict[str, object]:
    rec, obs = row.recommendation, row.observed
    peak = obs.usage.rps_peak if obs else None
    p99 = obs.usage.p99_latency_ms if obs else None
    savings = rec.monthly_savings if rec.monthly_cost_after is not None else None
    return {
        "anchor": anchor,
        "name": row.deployment.name,
        "ref": f"{row.deployment.model}@{row.deployment.version}",
        "verdict": row.verdict,
        "i": _INDEX.get(row.verdict, 0),
        "order": VERDICT_ORDER.get(row.verdict, 9),
        "replicas": f"{replicas_now(row)} \u2192 {replicas_after(row)}",
        "shape": f"{shape_now(row)} \u2192 {shape_after(row)}",
        "peak": rate(peak),
        "peak_v": _num(peak),
        "capacity": rate(capacity_now(row)),
        "use": percent(rec.utilization),
        "use_v": _num(rec.utilization),
        "p99": f"{rate(p99)} / {rate(row.slo_p99_ms)}",
        "now": money(rec.monthly_cost_now, unit),
        "now_v": _num(rec.monthly_cost_now),
        "after": money(rec.monthly_cost_after, unit),
        "savings": money(savings, unit, signed=True),
        "savings_v": _num(savings),
        "coverage": coverage(row),
    }


def _detail(row: Row, unit: str, anchor: str, result: AuditResult) -> dict[str, object]:
    d, rec, obs = row.deployment, row.recommendation, row.observed
    figures = []
    if obs is not None and has_data(obs):
        figures.append(usage_chart(row, f"{anchor}-usage"))
        if any(math.isfinite(v) and v > 0 for v in obs.daily_pattern):
            figures.append(daily_chart(obs.daily_pattern, f"{anchor}-daily"))
    missing = ", ".join(obs.missing) if obs else "every metric (no series matched)"
    return {
        "anchor": anchor,
        "name": d.name,
        "ref": f"{d.model}@{d.version}",
        "verdict": row.verdict,
        "i": _INDEX.get(row.verdict, 0),
        "flags": row.flags,
        "facts": _facts(row, unit, result),
        "reasons": rec.reasons,
        "missing": missing,
        "figures": figures,
    }


def _facts(row: Row, unit: str, result: AuditResult) -> list[tuple[str, str]]:
    """The detail's facts: replicas, shape, baseline, load, latency, cost, serving, sources."""
    d, rec, obs, t = row.deployment, row.recommendation, row.observed, row.target
    u = obs.usage if obs else None
    return [
        ("replicas", f"{replicas_now(row)} \u2192 {replicas_after(row)}"),
        ("per replica (cores/memory)", f"{shape_now(row)} \u2192 {shape_after(row)}"),
        (
            "usage-percentile baseline",
            f"CPU p95 {cores(rec.baseline_cpu_request)} cores, memory peak + 15% "
            f"{memory(rec.baseline_memory_request)}",
        ),
        (
            "load",
            f"mean {rate(u.rps_mean if u else None)}, p95 {rate(u.rps_p95 if u else None)}, "
            f"peak {rate(u.rps_peak if u else None)} req/s; one replica takes "
            f"{rate(rec.load_per_replica)} req/s at the SLO; capacity now "
            f"{rate(capacity_now(row))}, after {rate(capacity_after(row))} req/s",
        ),
        (
            "latency",
            f"p99 {rate(u.p99_latency_ms if u else None)} ms against an SLO of "
            f"{rate(row.slo_p99_ms)} ms"
            + (
                f"; above it in {percent(obs.slo_breach_share)} of the window"
                if obs and obs.slo_breach_share
                else ""
            ),
        ),
        (
            "cost/month",
            f"{money(rec.monthly_cost_now, unit)} \u2192 {money(rec.monthly_cost_after, unit)}; "
            f"per million requests {money(rec.cost_per_million_now, unit)} \u2192 "
            f"{money(rec.cost_per_million_after, unit)}"
            + (f" ({EXAMPLE_LABEL})" if example_prices(result) else ""),
        ),
        (
            "serving",
            f"batch {t.max_batch_size or '-'}, threads {t.threads or '-'}, "
            f"{t.precision or '-'}, {t.gpus}x{t.hardware}"
            if t.gpus
            else f"batch {t.max_batch_size or '-'}, threads {t.threads or '-'}, "
            f"{t.precision or '-'}, {t.hardware}",
        ),
        ("capacity from", row.capacity_source),
        ("data", coverage(row)),
        ("inventory", f"{d.source}: {d.origin or '-'}" + (f", owner {d.owner}" if d.owner else "")),
    ]
