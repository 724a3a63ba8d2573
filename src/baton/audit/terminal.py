"""The audit in a terminal: a table where it fits, one block per deployment where it does not.

Rows to act on come first (at risk, then by monthly savings); a fleet summary and the
reasons behind every at-risk row follow. Nine columns need about 170 characters: on a
narrower terminal (80 columns is common) Rich would wrap every cell into a column a few
letters wide, so, as ``kubectl`` and ``gh`` do, each deployment becomes a block of labelled
lines instead. The choice is the terminal's width against the table's natural width.
"""

from __future__ import annotations

import math

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from baton.audit.result import AuditResult, Row
from baton.audit.table import (
    EXAMPLE_LABEL,
    capacity_now,
    coverage,
    currency,
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

VERDICT_STYLE = {
    "at risk": "bold red",
    "under-provisioned": "yellow",
    "over-provisioned": "cyan",
    "idle": "magenta",
    "insufficient data": "dim",
    "right-sized": "green",
}
HEADERS = (
    ("deployment", "left"),
    ("verdict", "left"),
    ("replicas", "left"),
    ("per replica", "left"),
    ("peak / capacity req/s", "right"),
    ("p99 / SLO ms", "right"),
    ("cost/month", "right"),
    ("savings", "right"),
    ("data", "left"),
)


def render_table(
    result: AuditResult, console: Console, limit: int | None = None, stacked: bool | None = None
) -> None:
    """The rows, a fleet summary, and why each at-risk row is at risk.

    ``stacked``: one block per deployment (True), the table (False), or whichever the
    console's width allows (None).
    """
    rows = result.sorted_rows()
    shown = rows if limit is None else rows[:limit]
    title = (
        f"Right-size audit: {len(rows)} deployment(s), {when(result.start)} .. {when(result.end)}"
    )
    table = _table(result, shown, title)
    if stacked is None:
        unbounded = console.options.update(width=10_000)  # the table's natural width
        stacked = Measurement.get(console, unbounded, table).maximum > console.width
    if stacked:
        console.print(Text(title, style="bold"))
        for row in shown:
            console.print(_block(row, currency(result)))
    else:
        console.print(table)
    if len(shown) < len(rows):
        console.print(f"... and {len(rows) - len(shown)} more (raise --top to see them)")
    console.print(fleet_line(result))
    for row in rows:
        if row.at_risk:
            line = Text(f"at risk: {row.deployment.name}: ", style="bold red")
            line.append("; ".join(_risk_reasons(row)))
            console.print(line)
    for note in result.notes:
        console.print(Text(f"note: {note}", style="dim"))


def _cells(row: Row, unit: str) -> dict[str, Text | str]:
    """One row's figures, by column header: the table and the blocks show the same."""
    rec, obs = row.recommendation, row.observed
    usage = obs.usage if obs else None
    peak = usage.rps_peak if usage else None
    load = f"{rate(peak)} / {rate(capacity_now(row))}"
    if rec.utilization is not None and math.isfinite(rec.utilization):
        load += f" ({percent(rec.utilization)})"
    p99 = usage.p99_latency_ms if usage else None
    latency = Text(f"{rate(p99)} / {rate(row.slo_p99_ms)}")
    if p99 is not None and row.slo_p99_ms is not None and p99 > row.slo_p99_ms:
        latency.stylize("red")
    savings = rec.monthly_savings if rec.monthly_cost_after is not None else None
    cost = f"{money(rec.monthly_cost_now, unit)} -> {money(rec.monthly_cost_after, unit)}"
    return {
        "verdict": Text(row.verdict, style=VERDICT_STYLE.get(row.verdict, "")),
        "replicas": f"{replicas_now(row)} -> {replicas_after(row)}",
        "per replica": f"{shape_now(row)} -> {shape_after(row)}",
        "peak / capacity req/s": load,
        "p99 / SLO ms": latency,
        "cost/month": cost,
        "savings": money(savings, unit, signed=True),
        "data": coverage(row),
    }


def _table(result: AuditResult, rows: list[Row], title: str) -> Table:
    unit = currency(result)
    table = Table(title=title, title_justify="left", header_style="bold")
    for header, justify in HEADERS:
        table.add_column(
            f"{header} ({unit})" if header == "cost/month" else header,
            justify=justify,  # type: ignore[arg-type]
            no_wrap=header in ("deployment", "verdict"),
        )
    for row in rows:
        name = Text(row.deployment.name)
        name.append(f"\n{row.deployment.model}@{row.deployment.version}", style="dim")
        cells = _cells(row, unit)
        table.add_row(name, *(cells[header] for header, _ in HEADERS[1:]))
    return table


def _block(row: Row, unit: str) -> Text:
    """One deployment as labelled lines, for terminals too narrow for the table."""
    cells = _cells(row, unit)
    d = row.deployment
    out = Text()
    out.append(d.name, style="bold")
    out.append(f"  {d.model}@{d.version}  ", style="dim")
    verdict = cells.pop("verdict")
    out.append_text(verdict if isinstance(verdict, Text) else Text(verdict))
    if row.flags:
        out.append(f"  ({', '.join(row.flags)})")
    labels = {"peak / capacity req/s": "peak / capacity", "cost/month": f"cost/month {unit}"}
    width = max(len(labels.get(k, k)) for k in cells)
    for key, value in cells.items():
        out.append(f"\n  {labels.get(key, key):<{width}}  ", style="dim")
        out.append_text(value if isinstance(value, Text) else Text(value))
    out.append("\n")
    return out


def fleet_line(result: AuditResult) -> Text:
    s = summary(result)
    unit = s["currency"]
    counts = ", ".join(f"{n} {v}" for v, n in s["by_verdict"].items())
    line = Text(
        f"Fleet: {s['deployments']} deployment(s) ({counts}); cost "
        f"{money(s['monthly_cost_now'], unit)}/month now, "
        f"{money(s['monthly_cost_after'], unit)} after, "
        f"savings {money(s['monthly_savings'], unit, signed=True)}/month"
    )
    if s["example_prices"]:
        line.append(f" ({EXAMPLE_LABEL}: pass --prices for yours)", style="yellow")
    return line


def _risk_reasons(row: Row) -> list[str]:
    """The reasons that make it at risk, rather than the sizing arithmetic."""
    reasons = row.recommendation.reasons
    risky = [
        r
        for r in reasons
        if "breach" in r or "cannot" in r or ("capacity" in r and not r.startswith("capacity:"))
    ]
    return risky or list(reasons)
