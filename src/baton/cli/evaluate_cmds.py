"""``baton evaluate`` and ``baton report``: the gate from the terminal or CI."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from baton.cli.output import cells, console, print_json, safe, when
from baton.cli.state import state
from baton.core.refs import against_ref, parse_ref
from baton.errors import BadInput, FailedCheck, NotFound

if TYPE_CHECKING:
    from baton.store.evaluations import EvaluationRecord

JSON = typer.Option(False, "--json", help="print JSON for scripts")


class _Bar:
    """The service's progress protocol on a rich progress bar."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: Any = None

    def begin(self, stage: str, total: int | None) -> None:
        if self.task is not None:
            self.progress.update(self.task, visible=False)
        self.task = self.progress.add_task(stage, total=total)

    def advance(self, n: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, n)


def evaluate(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME:VERSION (or NAME@ALIAS) to evaluate"),
    against: str | None = typer.Option(
        None,
        "--against",
        help="version to compare with: an alias, a number or NAME@ALIAS "
        "(default: the production alias, when it points at another version)",
    ),
    quick: bool = typer.Option(False, "--quick", help="a few seconds: smallest profile"),
    full: bool = typer.Option(False, "--full", help="minutes: every configuration"),
    policy_file: Path | None = typer.Option(
        None, "--policy", help="team gate policy YAML (default: BATON_POLICY)"
    ),
    json_out: bool = JSON,
) -> None:
    """Run the gate: parity, regression, numerical sanity, performance; store the report.

    Exits 0 when the gate passes, 1 when it fails (or the model crashed), 2 on bad input.
    """
    from baton.evaluate.policy_file import load_policy
    from baton.evaluate.service import evaluate as run_gate

    if quick and full:
        raise BadInput("--quick and --full exclude each other: pick one")
    s = state(ctx)
    parsed = parse_ref(ref)
    baseline = against_ref(parsed.name, against) if against else None
    policy = load_policy(policy_file or s.settings.policy)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=json_out,
    ) as bar:
        record = run_gate(
            s.store,
            parsed,
            actor=s.settings.user,
            against=baseline,
            mode="quick" if quick else "full" if full else "default",
            policy=policy,
            progress=_Bar(bar),
        )
    if json_out:
        print_json(record)
    else:
        print_summary(record)
        console.print(
            f"report: baton report {safe(record.model)}:{record.version} --html "
            f"{safe(record.model)}-{record.version}.html"
        )
    if not record.passed:
        raise FailedCheck(_failure_line(record))


def report(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME:VERSION (or NAME@ALIAS) evaluated before"),
    html: Path | None = typer.Option(None, "--html", help="write a self-contained HTML report"),
    json_out: bool = JSON,
) -> None:
    """Show the latest evaluation of a version; --html writes it as one offline page."""
    store = state(ctx).store
    version = store.registry.resolve(parse_ref(ref))
    record = store.evaluations.latest(version.model, version.number)
    if record is None:
        raise NotFound(
            f"{version.ref} has not been evaluated yet: run `baton evaluate {version.ref}`"
        )
    if html is not None:
        from baton.evaluate.report import render_html

        try:
            html.write_text(render_html(record), encoding="utf-8")
        except OSError as exc:
            raise BadInput(f"cannot write {html} ({exc.strerror}): pick another path") from None
    if json_out:
        print_json(record)
        return
    print_summary(record)
    if html is not None:
        console.print(f"[green]wrote[/] {safe(html)} (self-contained; opens without a network)")


def print_summary(record: EvaluationRecord) -> None:
    from baton.evaluate.report import metric_rows, summary_rows, throughput_text

    r = record.report
    colour = "green" if record.passed else "red"
    against = f" vs {record.model}:{record.against}" if record.against else ""
    console.print(
        f"[bold]{safe(record.model)}:{record.version}[/]{safe(against)}  "
        f"[{colour}]{safe(record.status)}[/]  "
        f"({safe(r.mode)} profile, {when(record.finished_at)}, by {safe(record.actor)})"
    )
    if record.error:
        console.print(f"[red]error:[/] {safe(record.error)}")
        return
    checks = Table("check", "verdict", "why", title="gate")
    for name, status, reasons in summary_rows(r):
        style = {"passed": "green", "failed": "red"}.get(status, "dim")
        check, why = cells(name, reasons)
        checks.add_row(check, f"[{style}]{safe(status)}[/]", why)
    console.print(checks)
    quality = Table("metric", "better", "this version", "baseline", "claimed", title="quality")
    for row in metric_rows(r):
        quality.add_row(*cells(*row))
    if quality.row_count:
        console.print(quality)
    _lowest_recall(r.per_class_recall())
    rec = r.recommended
    if rec:
        console.print(
            f"recommended: {safe(rec.precision)} on {safe(rec.provider)}, "
            f"{rec.cores} core(s), {rec.intra_op_threads} thread(s), batch up to "
            f"{rec.max_batch_size}, optimisation {safe(rec.graph_optimization)}: "
            f"{throughput_text(rec)}, p99 {rec.p99_latency_ms:.2f} ms as served",
            highlight=False,
        )
    elif r.profile:
        console.print("[red]recommended: none[/] (no profiled configuration meets the SLO)")
    if r.int8:
        console.print(f"int8: {safe(r.int8.reason)}")


def _lowest_recall(recall: dict[str, float], shown: int = 3) -> None:
    """The classes the model finds hardest (all of them are in the HTML report)."""
    if len(recall) < 2:
        return
    worst = sorted(recall.items(), key=lambda kv: kv[1])[:shown]
    listed = ", ".join(f"{name} {value:.3f}" for name, value in worst)
    console.print(f"lowest recall per class: {safe(listed)} (every class: --html)", highlight=False)


def _failure_line(record: EvaluationRecord) -> str:
    if record.status == "error":
        return f"{record.model}:{record.version} could not be evaluated: {record.error}"
    failed = record.report.failed_checks()
    return f"{record.model}:{record.version} failed the gate ({', '.join(failed)})"
