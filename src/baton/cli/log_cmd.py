"""``baton log``: the audit log, its chain's head, and the check that it was not tampered with."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from baton.cli.output import cells, console, print_json, when
from baton.cli.state import state
from baton.core.chain import Head, Verdict, parse_head
from baton.errors import BadInput, Corrupt

if TYPE_CHECKING:  # the store is imported when the command runs, not at start-up
    from baton.store.registry import LogEntry


def log(
    ctx: typer.Context,
    model: str | None = typer.Option(None, "--model", help="only this model"),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="newest N entries"),
    verify: bool = typer.Option(
        False,
        "--verify",
        help="check every entry's seal and place in the chain (needs the audit key); exit 1 "
        "naming the first entry rewritten, inserted, deleted or reordered",
    ),
    head: bool = typer.Option(
        False,
        "--head",
        help="print the chain's head (SEQ:HASH) to keep elsewhere; with --verify, give a "
        "kept head after it to also catch entries cut from the end",
    ),
    kept: str | None = typer.Argument(
        None, metavar="HEAD", help="with --verify --head: the head kept elsewhere"
    ),
    json_out: bool = typer.Option(False, "--json", help="print JSON for scripts"),
) -> None:
    """Show the audit log (who did what, when and why), or check that nobody changed it."""
    if kept is not None and not (verify and head):
        raise BadInput(f"unexpected {kept!r}: a kept head goes after --verify --head")
    if verify:
        _verify(ctx, parse_head(kept) if kept is not None else None, json_out)
    elif head:
        _head(ctx, json_out)
    else:
        _entries(state(ctx).control.log_entries(model, limit), json_out)


def _entries(entries: list[LogEntry], json_out: bool) -> None:
    if json_out:
        print_json(entries)
        return
    table = Table("#", "when", "who", "action", "model", "detail", "why")
    table.columns[3].no_wrap = table.columns[4].no_wrap = True
    for e in entries:
        target = e.model or "-"
        if e.version is not None:
            target += f":{e.version}"
        detail = ", ".join(
            f"{k}={v}"
            for k, v in e.detail.items()
            if v is not None and not isinstance(v, dict | list)
        )
        table.add_row(*cells(e.id, when(e.at), e.actor, e.action, target, detail, e.reason or ""))
    console.print(table)


def _head(ctx: typer.Context, json_out: bool) -> None:
    found = state(ctx).store.registry.log_head()
    if json_out:
        print_json({"head": str(found)})
    else:
        console.print(str(found), soft_wrap=True)


def _verify(ctx: typer.Context, kept: Head | None, json_out: bool) -> None:
    verdict: Verdict = state(ctx).store.registry.verify_log(kept)
    finding = verdict.finding
    if json_out:
        print_json({"intact": verdict.intact, "entries": verdict.entries,
                    "head": str(verdict.head), "finding": finding})  # fmt: skip
    elif finding is None:
        against = f", matches the kept head {kept.seq}" if kept is not None else ""
        console.print(
            f"[green]intact[/]: {verdict.entries} entries sealed in order{against}; "
            f"head {verdict.head}",
            soft_wrap=True,
        )
    else:
        console.print(
            f"intact up to position {verdict.head.seq} ({verdict.entries} entries); "
            f"then: {finding.kind}"
        )
    if finding is not None:
        raise Corrupt(f"the audit log was tampered with: {finding.message}")
