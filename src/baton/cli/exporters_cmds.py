"""``baton exporters list | show NAME | add NAME... --out DIR``: the exporter hub."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import typer
from rich.table import Table

from baton.cli.output import cells, console, print_json, safe

if TYPE_CHECKING:  # the hub (pydantic, YAML) is imported by the commands that use it
    from baton.monitor import hub

JSON = typer.Option(False, "--json", help="print JSON for scripts")
exporters_app = typer.Typer(
    help="The exporter hub: curated exporters with tested alert rules and dashboards.",
    no_args_is_help=True,
)


class ExporterSummary(TypedDict):
    """An exporter as ``exporters list`` shows it (its --json rows)."""

    name: str
    category: str
    version: str
    port: int
    requires: list[str]
    alerts: list[str]
    summary: str


def _summary(exporter: hub.Exporter) -> ExporterSummary:
    entry = exporter.entry
    return {
        "name": entry.name,
        "category": entry.category.value,
        "version": entry.version,
        "port": entry.port,
        "requires": [r.value for r in entry.requires],
        "alerts": [r.name for r in exporter.rules if r.kind == "alert"],
        "summary": entry.summary,
    }


@exporters_app.command("list")
def list_exporters(json_out: bool = JSON) -> None:
    """Every exporter in the hub: what it measures, its port and what it needs."""
    from baton.monitor import hub

    exporters = hub.catalogue()
    if json_out:
        print_json([_summary(e) for e in exporters])
        return
    table = Table(title="exporter hub", title_justify="left")
    for column in ("name", "category", "version", "port"):
        table.add_column(column, no_wrap=True)
    table.add_column("needs", overflow="fold")
    table.add_column("alerts", justify="right")
    table.add_column("measures", overflow="fold", ratio=1)
    for e in exporters:
        s = _summary(e)
        table.add_row(
            *cells(
                s["name"],
                s["category"],
                s["version"],
                s["port"],
                ", ".join(s["requires"]) or "-",
                len(s["alerts"]),
                s["summary"],
            )
        )
    console.print(table)
    console.print("`baton exporters show NAME` for install steps, alerts and key metrics")


@exporters_app.command("show")
def show(
    name: str = typer.Argument(..., help="exporter name, from `baton exporters list`"),
    json_out: bool = JSON,
) -> None:
    """One exporter: install steps, scrape job, key metrics and its alert rules."""
    from baton.monitor import hub

    exporter = hub.load(name)
    entry = exporter.entry
    if json_out:
        print_json(
            {
                **entry.model_dump(mode="json"),
                "rules": [
                    {"kind": r.kind, "name": r.name, "severity": r.severity, "for": r.for_}
                    for r in exporter.rules
                ],
                "files": list(hub.ENTRY_FILES),
            }
        )
        return
    console.print(f"[bold]{entry.title}[/]  {entry.version}  ({entry.category.value})")
    console.print(entry.summary)
    console.print(f"upstream  {entry.upstream}")
    console.print(f"listens   :{entry.port}{entry.metrics_path}   scrape job `{entry.job}`")
    if entry.image:
        console.print(f"image     {entry.image}")
    console.print(f"needs     {', '.join(r.value for r in entry.requires) or 'nothing special'}")
    install = entry.install
    console.print("[bold]install[/]")
    for label, value in (
        ("debian", install.debian and f"apt-get install -y {install.debian}"),
        ("pip", install.pip and f"pip install {install.pip}"),
        ("container", install.container),
        (
            "helm",
            install.helm and _helm(entry.name, install.helm, install.helm_repo),
        ),
    ):
        if value:
            console.print(f"  {label:<9} {value}", soft_wrap=True)
    metrics = Table(title="key metrics", title_justify="left")
    for column in ("metric", "type", "tells you"):
        metrics.add_column(column, overflow="fold")
    for metric in entry.key_metrics:
        metrics.add_row(*cells(metric.name, metric.type, metric.help))
    console.print(metrics)
    rules = Table(title="rules (rules.yaml, tested by rules.test.yaml)", title_justify="left")
    for column in ("kind", "name", "severity", "for"):
        rules.add_column(column, overflow="fold")
    for rule in exporter.rules:
        rules.add_row(*cells(rule.kind, rule.name, rule.severity or "-", rule.for_ or "-"))
    console.print(rules)
    console.print(f"rule provenance: {entry.provenance.rules} ({entry.provenance.licence})")
    console.print(f"`baton exporters add {entry.name} --out DIR` copies its files into a bundle")


def _helm(release: str, chart: str, repo_url: str | None) -> str:
    repo = chart.split("/", 1)[0]
    return f"helm repo add {repo} {repo_url} && helm install {release} {chart}"


@exporters_app.command("add")
def add(
    ctx: typer.Context,
    names: list[str] = typer.Argument(..., help="one or more exporter names"),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="bundle directory (default: the bundle `baton monitor up` runs)",
    ),
    json_out: bool = JSON,
) -> None:
    """Add exporters to a bundle: their scrape jobs, alert rules with tests, and dashboards.

    The bundle keeps the choice, so `monitor bundle` and `monitor up` regenerate it with them;
    when the bundle is the local stack's, Prometheus reloads it at once.
    """
    from baton.cli.state import state
    from baton.monitor import stack
    from baton.monitor.bundle_exporters import add_to_folder

    home = state(ctx).settings.home.resolve()
    folder = out or stack.bundle_folder(home)
    added, notes = add_to_folder(names, folder)
    reloaded = None
    if folder.resolve() == stack.bundle_folder(home):
        reloaded = stack.reload_prometheus(home)
    if json_out:
        print_json({"added": added, "notes": notes, "reloaded": reloaded is not None})
        return
    for a in added:
        verb = "replaced" if a.replaced else "added"
        files = ", ".join(a.files)
        console.print(f"[green]{verb}[/] {safe(a.name)} -> {safe(a.folder)}  ({safe(files)})")
    for note in notes:
        console.print(f"  [yellow]note[/] {safe(note)}")
    if (folder / "prometheus.yml").is_file():
        console.print(
            f"prometheus.yml scrapes them and loads their rules: baton monitor check {safe(folder)}"
        )
    else:
        console.print(
            f"kept in {safe(folder)}: `baton monitor bundle --out {safe(folder)}` adds them to "
            "prometheus.yml"
        )
    if reloaded is not None:
        console.print(f"Prometheus at {safe(reloaded.url)} reloaded the bundle")
