"""``baton monitor bundle | check``: generate the monitoring bundle and prove it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from baton.cli.output import cells, console, print_json, safe
from baton.cli.state import state
from baton.errors import FailedCheck
from baton.monitor import addresses

if TYPE_CHECKING:
    from baton.cli.state import State
    from baton.monitor.bundle import Bundle

monitor_app = typer.Typer(help="Prometheus rules, Grafana dashboards and Alertmanager routes.")
JSON = typer.Option(False, "--json", help="print JSON for scripts")
EXPORTERS = typer.Option(
    None, "--exporter", help="a hub exporter to take as well (repeat; those added before stay)"
)
NAMES = typer.Argument(None, help="models (default: every deployed model)")
RECEIVERS = typer.Option(None, "--receivers", help="receivers.yaml")
SCRAPE_INTERVAL = typer.Option("15s", help="how often Prometheus scrapes and evaluates")
TIME_SCALE = typer.Option(
    1.0, min=1.0, max=3600.0, help="run every alert window this many times faster (drills)"
)


@monitor_app.command("bundle")
def bundle(
    ctx: typer.Context,
    names: list[str] = NAMES,
    out: Path = typer.Option(..., "--out", help="bundle directory (replaced whole)"),
    receivers: Path | None = RECEIVERS,
    alertmanager: str = typer.Option(addresses.ALERTMANAGER, help="Alertmanager host:port"),
    scrape_interval: str = SCRAPE_INTERVAL,
    time_scale: float = TIME_SCALE,
    exporters: list[str] = EXPORTERS,
    json_out: bool = JSON,
) -> None:
    """Write rules with their tests, dashboards, prometheus.yml and alertmanager.yml."""
    from baton.monitor.bundle import write_bundle

    made = _bundle(
        state(ctx), names, out, receivers=receivers, alertmanager=alertmanager,
        scrape_interval=scrape_interval, time_scale=time_scale, exporters=exporters,
    )  # fmt: skip
    write_bundle(made, out)
    if json_out:
        print_json({"out": out.resolve(), "files": sorted(made.files), "notes": made.notes})
        return
    console.print(f"[green]wrote[/] {len(made.files)} files to {safe(out)}")
    for note in made.notes:
        console.print(f"  [yellow]note[/] {safe(note)}")
    console.print(f"next: baton monitor check {safe(out)}")


def _bundle(
    s: State,
    names: list[str] | None,
    folder: Path,
    *,
    receivers: Path | None,
    alertmanager: str,
    scrape_interval: str,
    time_scale: float,
    exporters: list[str] | None,
) -> Bundle:
    """The bundle to write into ``folder``: the policy's default SLO, and the hub exporters
    ``folder`` already takes plus those named (``bundle`` and ``up`` build it alike)."""
    from baton.evaluate.policy_file import load_policy
    from baton.monitor.bundle_exporters import kept, merged
    from baton.monitor.service import bundle_for

    return bundle_for(
        s.store,
        names or [],
        targets_dir=s.settings.scrape_targets,
        receivers=receivers,
        default_slo=load_policy(s.settings.policy).default_slo,
        alertmanager=alertmanager,
        scrape_interval=scrape_interval,
        time_scale=time_scale,
        exporters=merged(kept(folder), exporters or []),
        runbook_url=s.settings.runbook_url,
    )


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
                *cells(r.check, r.target.replace(str(folder.resolve()), ".")),
                "[green]pass[/]" if r.passed else "[red]FAIL[/]",
                safe(first if not r.passed else ""),
            )  # fmt: skip
        console.print(table)
    if failed:
        raise FailedCheck(f"{len(failed)} of {len(results)} monitoring checks failed")


@monitor_app.command("up")
def up(
    ctx: typer.Context,
    names: list[str] = NAMES,
    receivers: Path | None = RECEIVERS,
    prometheus_port: int = typer.Option(addresses.PROMETHEUS_PORT, min=1, max=65535),
    alertmanager_port: int = typer.Option(addresses.ALERTMANAGER_PORT, min=1, max=65535),
    scrape_interval: str = SCRAPE_INTERVAL,
    time_scale: float = TIME_SCALE,
    exporters: list[str] = EXPORTERS,
    json_out: bool = JSON,
) -> None:
    """Start Prometheus and Alertmanager on 127.0.0.1 with a fresh, checked bundle."""
    from baton.monitor import stack
    from baton.monitor.bundle import write_bundle
    from baton.monitor.check import check_bundle

    s = state(ctx)
    folder = stack.bundle_folder(s.settings.home.resolve())
    made = _bundle(
        s, names, folder, receivers=receivers,
        alertmanager=f"{addresses.HOST}:{alertmanager_port}", scrape_interval=scrape_interval,
        time_scale=time_scale, exporters=exporters,
    )  # fmt: skip
    write_bundle(made, folder)
    s.settings.scrape_targets.mkdir(parents=True, exist_ok=True)
    failed = [r for r in check_bundle(folder) if not r.passed]
    if failed:
        raise FailedCheck(
            f"the generated bundle fails {failed[0].check}: {failed[0].message.splitlines()[-1]}"
        )
    started = stack.up(s.settings.home.resolve(), folder, prometheus_port, alertmanager_port)
    if json_out:
        print_json(
            {"services": started, "bundle": folder, "scrape_targets": s.settings.scrape_targets}
        )
        return
    for service in started:
        console.print(
            f"[green]{safe(service.name)}[/] {safe(service.url)}  (log {safe(service.log)})"
        )
    targets = s.settings.scrape_targets
    console.print(f"bundle: {safe(folder)}; scraping servers listed in {safe(targets)}")
    console.print("stop with: baton monitor down")


@monitor_app.command("down")
def down(ctx: typer.Context, json_out: bool = JSON) -> None:
    """Stop the Prometheus and Alertmanager that `baton monitor up` started."""
    from baton.monitor import stack

    stopped = stack.down(state(ctx).settings.home.resolve())
    if json_out:
        print_json({"stopped": stopped})
        return
    for service in stopped:
        console.print(f"stopped {safe(service.name)} ({safe(service.url)})")
    if not stopped:
        console.print("nothing was running")


@monitor_app.command("drill")
def drill(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="model"),
    severity: str = typer.Option("critical", help="critical or warning"),
    alertmanager: str | None = typer.Option(
        None, help="Alertmanager URL (default: the local stack)"
    ),
    json_out: bool = JSON,
) -> None:
    """Send a synthetic alert for a model and report which receivers Alertmanager chose."""
    from baton.errors import BadInput
    from baton.monitor import stack
    from baton.monitor.drill import drill as run_drill
    from baton.monitor.service import watched_models

    if severity not in ("critical", "warning"):
        raise BadInput(f"severity must be critical or warning (got {severity!r})")
    s = state(ctx)
    url = (
        alertmanager
        or stack.discover(s.settings.home.resolve(), "alertmanager")
        or addresses.ALERTMANAGER_URL
    )
    (model,), _ = watched_models(s.store, [name])
    result = run_drill(url, model.routing, model.version, severity)
    if json_out:
        print_json({**result.__dict__, "passed": result.passed})
    else:
        reached = ", ".join(result.reached) or "nobody"
        console.print(f"{safe(result.model)} {severity} alert reached: [bold]{safe(reached)}[/]")
        console.print(f"expected by the R&R matrix: {safe(', '.join(result.expected))}")
    if not result.passed:
        raise FailedCheck(
            f"the drill alert for {name} reached {', '.join(result.reached) or 'nobody'}, "
            f"not {', '.join(result.expected)}: regenerate the bundle and restart the stack"
        )
