"""``baton audit``: are the serving servers used efficiently, and what should they be?"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from baton.cli.audit_show import show
from baton.cli.output import console, err_console, print_json, safe
from baton.cli.state import state
from baton.errors import BadInput, FailedCheck

if TYPE_CHECKING:
    from baton.audit.inventory import Inventory
    from baton.audit.result import AuditResult
    from baton.cli.state import State
    from baton.store.store import Store

if TYPE_CHECKING:  # settings (pydantic) are built by the root callback, not here
    from baton.config import Settings

FAIL_ON = ("risk", "none")


def _seconds(option: str, text: str) -> float:
    from baton.core.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise BadInput(f"{option}: {exc}") from None


def _end(text: str) -> float:
    if text == "now":
        return time.time()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(
            f"--end: {text!r} is not a time: write now or ISO 8601, e.g. 2026-11-25T12:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


PROMETHEUS_OPTION = typer.Option(
    None,
    "--prometheus",
    help="Prometheus URL (default: BATON_PROMETHEUS_URL, else the one `baton monitor up` "
    "started, else :9090)",
)

RATE_WINDOW_OPTION = typer.Option(
    "5m", help="range of rate(); at least 4 scrape intervals of your Prometheus"
)

MANIFESTS_OPTION = typer.Option(
    None, "--manifests", help="Kubernetes / KServe manifests (files or folders)"
)

SERVERS_OPTION = typer.Option(True, help="include the servers `baton serve` recorded in the store")

RISK_OPTION = typer.Option(
    0.8, min=0.1, max=1.0, help="at risk when the peak uses more of capacity than this"
)

FAIL_ON_OPTION = typer.Option(
    "none", help="exit 1 when a deployment is at risk (risk), for scheduled CI"
)


WINDOW_OPTION = typer.Option("14d", help="how far back to look, e.g. 7d, 14d, 30d")

END_OPTION = typer.Option("now", help="end of the window: now, or an ISO 8601 time")

FLEET_OPTION = typer.Option(None, "--fleet", help="fleet.yaml: servers baton did not start")

PRICES_OPTION = typer.Option(None, "--prices", help="prices.yaml (default: example prices)")

HEADROOM_OPTION = typer.Option(0.3, min=0, max=10, help="spare capacity over the peak")

MIN_REPLICAS_OPTION = typer.Option(2, min=1, help="availability floor for a serving deployment")

TOP_OPTION = typer.Option(50, min=1, help="rows in the terminal table; charts in the HTML")

HTML_OPTION = typer.Option(None, "--html", help="write the HTML report here")

JSON_OUT_OPTION = typer.Option(False, "--json", help="print JSON for scripts")

SAVE_OPTION = typer.Option(
    True, help="store the run (the dashboard and `baton audit show` read it); --no-save: a dry run"
)

audit_app = typer.Typer(
    help="Right-size audit from Prometheus; `baton audit show` reads the stored runs."
)


@audit_app.callback(invoke_without_command=True)
def audit(
    ctx: typer.Context,
    prometheus: str = PROMETHEUS_OPTION,
    window: str = WINDOW_OPTION,
    end: str = END_OPTION,
    rate_window: str = RATE_WINDOW_OPTION,
    fleet: Path = FLEET_OPTION,
    manifests: list[Path] = MANIFESTS_OPTION,
    servers: bool = SERVERS_OPTION,
    prices: Path = PRICES_OPTION,
    headroom: float = HEADROOM_OPTION,
    min_replicas: int = MIN_REPLICAS_OPTION,
    risk: float = RISK_OPTION,
    top: int = TOP_OPTION,
    html: Path = HTML_OPTION,
    json_out: bool = JSON_OUT_OPTION,
    fail_on: str = FAIL_ON_OPTION,
    save: bool = SAVE_OPTION,
) -> None:
    """Right-size audit from Prometheus: usage against allocation, capacity and SLO."""
    if ctx.invoked_subcommand is not None:
        return
    from baton.audit.prices import load_prices
    from baton.audit.prometheus import Prometheus
    from baton.audit.service import run_audit
    from baton.core.sizing import SizingPolicy

    if fail_on not in FAIL_ON:
        raise BadInput(f"--fail-on {fail_on!r}: choose one of {', '.join(FAIL_ON)}")
    window_s = _seconds("--window", window)
    rate_s = _seconds("--rate-window", rate_window)
    end_s = _end(end)
    table = load_prices(prices)
    st = state(ctx)
    saving_to = _saving_store(st, save)  # opened first: a store problem costs no queries
    store = st.store if servers else None
    inventory = _inventory(store, manifests or [], fleet, end_s - window_s, end_s)
    prom = Prometheus(prometheus or _prometheus_url(st.settings))
    policy = SizingPolicy(headroom=headroom, min_replicas=min_replicas, risk_utilization=risk)
    with _progress(quiet=json_out) as progress:
        result = run_audit(
            inventory.deployments, prom, end_s - window_s, end_s, prices=table, policy=policy,
            store=store, rate_window_s=rate_s, progress=progress,
        )  # fmt: skip
    if inventory.notes:
        result = replace(result, notes=tuple(inventory.notes) + result.notes)
    _show(result, html=html, top=top, json_out=json_out)
    if saving_to is not None:
        _save(result, saving_to, st.settings.user, json_out=json_out)
    if fail_on == "risk" and result.at_risk:
        names = ", ".join(r.deployment.name for r in result.at_risk)
        raise FailedCheck(f"{len(result.at_risk)} deployment(s) at risk: {names}")


def _saving_store(st: State, save: bool) -> Store | None:
    """The store the run is saved in, or None for a dry run (--no-save)."""
    if save and st.settings.url:
        raise BadInput(
            "baton audit stores its run in the store itself, not through a control plane: "
            "unset BATON_URL (point BATON_DB_URL at the store) or pass --no-save"
        )
    return st.store if save else None


def _inventory(
    store: Store | None, manifests: list[Path], fleet: Path | None, start_s: float, end_s: float
) -> Inventory:
    """What to audit: the servers the store recorded in the window (stopped ones count too),
    the --fleet file and the --manifests; refused when that is nothing."""
    from baton.audit.inventory import gather

    since, until = datetime.fromtimestamp(start_s, UTC), datetime.fromtimestamp(end_s, UTC)
    inventory = gather(store, manifests, fleet, since=since, until=until)
    if not inventory.deployments:
        raise BadInput(
            "nothing to audit: no `baton serve` recorded in the store, and no --fleet or "
            "--manifests given"
        )
    return inventory


def _save(result: AuditResult, store: Store, actor: str, *, json_out: bool) -> None:
    """Store the run; its id on stdout (on stderr under --json, which keeps stdout JSON)."""
    from baton.audit.stored import to_new_run
    from baton.store.audits import Audits

    run_id = Audits(store.engine).save(to_new_run(result), actor)
    said = (
        f"saved as audit run {run_id}: `baton audit show {run_id}`, or the dashboard's Serving page"
    )
    (err_console if json_out else console).print(said)


def _prometheus_url(settings: Settings) -> str:
    """BATON_PROMETHEUS_URL when set, else the stack `baton monitor up` started, else the
    default (:9090)."""
    if "prometheus_url" in settings.model_fields_set:
        return settings.prometheus_url
    from baton.monitor.stack import discover

    return discover(settings.home.resolve(), "prometheus") or settings.prometheus_url


@contextmanager
def _progress(*, quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A bar on stderr that counts Prometheus queries; nothing when printing JSON."""
    if quiet:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("querying Prometheus"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("queries", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def _show(result: AuditResult, *, html: Path | None, top: int, json_out: bool) -> None:
    """The audit's answer: the HTML report when asked, then JSON or the terminal table."""
    if html is not None:
        from baton.audit.report import render_html

        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(render_html(result, top=min(top, 25)), encoding="utf-8")
    if json_out:
        from baton.audit.table import to_json

        print_json(to_json(result))
    else:
        from baton.audit.terminal import render_table

        render_table(result, console, limit=top)
        if html is not None:
            console.print(f"HTML report: {safe(html)}")


audit_app.command("show")(show)
