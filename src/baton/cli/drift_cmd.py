"""``baton drift NAME``: per-feature drift of live traffic against the evaluation data."""

from __future__ import annotations

import typer
from rich.table import Table

from baton.cli.output import cells, console, print_json, safe
from baton.cli.state import state
from baton.errors import FailedCheck


def drift(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="model name"),
    url: list[str] = typer.Option(None, "--url", help="server URL (default: local servers)"),
    top: int = typer.Option(20, min=1, help="show the N most drifted features"),
    fail_on_drift: bool = typer.Option(False, help="exit 1 when any feature has drifted"),
    json_out: bool = typer.Option(False, "--json", help="print JSON for scripts"),
) -> None:
    """Drift (PSI) of recent traffic per input and output feature, from running servers."""
    from baton.core.refs import check_name
    from baton.monitor.drift_query import query, servers_for

    check_name(name)
    urls = url or servers_for(state(ctx).settings.scrape_targets, name)
    results = query(name, urls)
    drifted = [f for r in results for f in r.features if f["status"] == "drift"]
    if json_out:
        print_json(results)
    else:
        for r in results:
            if not r.reference:
                console.print(
                    f"{safe(r.server)}: {safe(name)}:{r.version} has no drift reference "
                    f"(run `baton evaluate {safe(name)}:{r.version}`)"
                )
                continue
            table = Table(
                "feature", "PSI", "rows", "status", title=safe(f"{name}:{r.version} at {r.server}")
            )
            for f in r.features[:top]:
                score = "-" if f["score"] is None else f"{f['score']:.3f}"
                colour = {"drift": "red", "ok": "green"}.get(f["status"], "yellow")
                status = f"[{colour}]{safe(f['status'])}[/]"
                table.add_row(*cells(f["feature"], score, f["samples"]), status)
            console.print(table)
    if fail_on_drift and drifted:
        raise FailedCheck(f"{len(drifted)} feature(s) of {name} have drifted (PSI above 0.2)")
