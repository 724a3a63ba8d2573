"""``baton audit show``: a stored audit run (the latest by default), or the list of runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from baton.cli.output import cells, console, print_json, print_listing, safe
from baton.cli.state import state

if TYPE_CHECKING:
    from datetime import datetime

    from baton.core.audit_records import AuditedDeployment, AuditRun, StoredAudit

RUN_ARGUMENT = typer.Argument(None, min=1, help="the run's id (default: the latest)")
LIST_OPTION = typer.Option(False, "--list", help="list the stored runs, newest first")
VERDICT_OPTION = typer.Option(None, "--verdict", help="only deployments with this verdict")
TOP_OPTION = typer.Option(50, "--top", min=1, help="deployments shown, most savings first")
JSON_OPTION = typer.Option(False, "--json", help="print JSON for scripts")


def show(
    ctx: typer.Context,
    run_id: int | None = RUN_ARGUMENT,
    list_runs: bool = LIST_OPTION,
    verdict: str | None = VERDICT_OPTION,
    top: int = TOP_OPTION,
    json_out: bool = JSON_OPTION,
) -> None:
    """Show a stored audit: totals, then each deployment's verdict, sizing and savings."""
    from baton.store.audits import Audits

    audits = Audits(state(ctx).store.engine)
    if list_runs:
        _runs(audits.runs(limit=top), json_out)
        return
    stored = audits.stored(run_id, verdict)
    lines = stored.deployments
    if json_out:
        print_json({"run": stored.run, "deployments": lines})
        return
    _header(stored.run)
    _lines(stored, lines[:top], len(lines))


def _money(value: float, unit: str, signed: bool = False) -> str:
    from baton.audit.table import money

    return money(value, unit, signed=signed)


def _when(moment: datetime) -> str:
    from datetime import UTC

    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _header(run: AuditRun) -> None:
    unit = run.currency
    console.print(
        f"Audit run {run.id} by {safe(run.actor)} at {_when(run.at)}: {run.deployments} "
        f"deployment(s), window {_when(run.window_start)} .. {_when(run.window_end)}"
    )
    console.print(f"Prometheus {safe(run.prometheus_url)}")
    example = " (example prices)" if run.example_prices else ""
    console.print(
        f"cost/month now {_money(run.cost_now, unit)}, after {_money(run.cost_after, unit)}, "
        f"savings {_money(run.savings, unit, signed=True)}{example}"
    )
    counts = ", ".join(f"{v} {n}" for v, n in run.by_verdict.items())
    console.print(f"verdicts: {counts or 'none'}")
    for note in run.notes:
        console.print(f"note: {safe(note)}")


def _lines(stored: StoredAudit, shown: list[AuditedDeployment], total: int) -> None:
    unit = stored.run.currency
    table = Table("deployment", "model@version", "verdict", "replicas", "per replica",
                  "batch", "cost now", "after", "savings")  # fmt: skip
    for d in shown:
        table.add_row(*cells(
            d.name, f"{d.model}@{d.version}", d.verdict,
            f"{d.replicas_now} -> {d.replicas_after}",
            f"{d.shape_now} -> {d.shape_after}",
            f"{d.batch_now or '-'} -> {d.batch_after or '-'}",
            _money(d.cost_now, unit), _money(d.cost_after, unit),
            _money(d.savings, unit, signed=True),
        ))  # fmt: skip
    console.print(table)
    if total > len(shown):
        console.print(f"{len(shown)} of {total} shown, most savings first: --top for more")


def _runs(runs: list[AuditRun], json_out: bool) -> None:
    print_listing(
        runs,
        json_out,
        headers=("#", "when", "who", "deployments", "at risk", "cost now", "after", "savings"),
        row=lambda r: (
            r.id, _when(r.at), r.actor, r.deployments, r.at_risk, _money(r.cost_now, r.currency),
            _money(r.cost_after, r.currency), _money(r.savings, r.currency, signed=True),
        ),
        empty="no audit is stored yet: run `baton audit` (without --no-save)",
    )  # fmt: skip
