"""``baton metrics``: the quality metrics claims and the gate may name, and their source."""

from __future__ import annotations

import typer
from rich.table import Table

from baton.cli.output import cells, console, print_json, safe
from baton.cli.state import state
from baton.errors import BadInput


def metrics(
    ctx: typer.Context,
    task: str | None = typer.Option(
        None, "--task", help="only one task's: classification, regression, embedding, generic"
    ),
    json_out: bool = typer.Option(False, "--json", help="print JSON for scripts"),
) -> None:
    """List the metrics baton measures: built in, and those installed packages add.

    A team adds one as a function of (outputs, targets) under the `baton.metrics` entry
    point group; declare `higher_is_better` on it (or set it in the policy file's
    regression.higher_is_better) so the regression gate can use it.
    """
    from baton.evaluate import catalogue
    from baton.evaluate.policy_file import load_policy

    if task is not None and task not in catalogue.TASKS:
        raise BadInput(f"--task {task}: pick one of {', '.join(catalogue.TASKS)}")
    policy = load_policy(state(ctx).settings.policy)
    found = catalogue.load(policy.regression.higher_is_better)
    shown = [m for m in found.metrics.values() if task is None or m.applies_to(task)]
    if json_out:
        print_json(
            {
                "metrics": [
                    {
                        "name": m.name,
                        "task": m.task,
                        "higher_is_better": m.higher_is_better,
                        "source": m.source,
                        "summary": m.summary,
                    }
                    for m in shown
                ],
                "problems": list(found.problems),
            }
        )
        return
    table = Table(title="quality metrics")
    table.add_column("metric", no_wrap=True)
    table.add_column("task", no_wrap=True)
    table.add_column("better", no_wrap=True)
    table.add_column("source")
    table.add_column("measures")
    for m in shown:
        better = {True: "higher", False: "lower", None: "[yellow]undeclared[/]"}
        metric, kind = cells(m.name, m.task)
        table.add_row(metric, kind, better[m.higher_is_better], *cells(m.source, m.summary))
    console.print(table)
    for problem in found.problems:
        console.print(f"[yellow]not usable:[/] {safe(problem)}", highlight=False)
    from baton.core.policy import ALIASES

    older = ", ".join(f"{old} = {new}" for old, new in ALIASES.items())
    console.print(
        "older names still accepted in claims and policies: "
        f"{older}\nadd one: a function (outputs, targets) -> float under the `baton.metrics` "
        "entry point group of a package (docs/evaluate.md)",
        highlight=False,
    )
