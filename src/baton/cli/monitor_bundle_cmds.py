"""``baton monitor bundle | check``: generate the monitoring bundle and prove it."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from baton.cli.output import console, print_json
from baton.cli.state import state
from baton.errors import FailedCheck

monitor_app = typer.Typer(help="Prometheus rules, Grafana dashboards and Alertmanager routes.")
JSON = typer.Option(False, "--json", help="print JSON for scripts")


@monitor_app.command("bundle")
def bundle(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, help="models (default: every deployed model)"),
    out: Path = typer.Option(..., "--out", help="bundle directory (replaced whole)"),
    receivers: Path | None = typer.Option(None, "--receivers", help="receivers.yaml"),
    alertmanager: str = typer.Option("127.0.0.1:9093", help="Alertmanager host:port"),
    json_out: bool = JSON,
) -> None:
    """Write rules with their tests, dashboards, prometheus.yml and alertmanager.yml."""
    from baton.monitor.bundle import write_bundle
    from baton.monitor.service import bundle_for

    s = state(ctx)
    made = bundle_for(
        s.store,
        names or [],
        targets_dir=s.settings.scrape_targets,
        receivers=receivers,
        alertmanager=alertmanager,
    )
    write_bundle(made, out)
    if json_out:
        print_json({"out": out.resolve(), "files": sorted(made.files), "notes": made.notes})
        return
    console.print(f"[green]wrote[/] {len(made.files)} files to {out}")
    for note in made.notes:
        console.print(f"  [yellow]note[/] {note}")
    console.print(f"next: baton monitor check {out}")


@monitor_app.command("check")
def check(
    folder: Path = typer.Argument(..., help="bundle directory"), json_out: bool = JSON
) -> None:
    """Run promtool and amtool over a bundle; exit 1 if any check fails."""
    from baton.monitor.check import check_bundle

    results = check_bundle(folder)
    failed = [r for r in results if not r.passed]
    if json_out:
        print_json(results)
    else:
        table = Table("check", "target", "result", "message")
        for r in results:
            first = r.message.strip().splitlines()[-1] if r.message.strip() else ""
            table.add_row(
                r.check, r.target.replace(str(folder.resolve()), "."),
                "[green]pass[/]" if r.passed else "[red]FAIL[/]",
                first if not r.passed else "",
            )  # fmt: skip
        console.print(table)
    if failed:
        raise FailedCheck(f"{len(failed)} of {len(results)} monitoring checks failed")
