"""``baton verify | gc``: the artifact folder's health, and clearing what no record names."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.progress import Progress

from baton.cli.output import console, human_bytes, print_json, safe
from baton.cli.state import state
from baton.errors import BadInput, Corrupt, Unavailable

if TYPE_CHECKING:
    from baton.store.gc import Leftovers

JSON = typer.Option(False, "--json", help="print JSON for scripts")
GRACE = typer.Option(
    None,
    "--grace",
    help="keep unreferenced files younger than this, e.g. 24h (default: BATON_GC_GRACE); "
    "0 only when nothing else is registering",
)


def verify(ctx: typer.Context, grace: str | None = GRACE, json_out: bool = JSON) -> None:
    """Check every referenced artifact against its sha256 (exit 1 if any is missing or
    corrupt), and report files no record names and stale temporary files (`baton gc`)."""
    from baton.store.gc import find_leftovers

    s = state(ctx)
    store = s.store
    digests = sorted(store.registry.referenced_digests())
    problems: list[str] = []
    with Progress(console=console, transient=True, disable=json_out) as bar:
        for sha in bar.track(digests, description="verifying artifacts"):
            try:
                store.artifacts.verified_path(sha)
            except Exception as exc:
                problems.append(str(exc))
    found = find_leftovers(store, _grace(grace, s.settings.gc_grace))
    if json_out:
        print_json({"checked": len(digests), "problems": problems, **_leftovers(found)})
    else:
        for p in problems:
            console.print(f"[red]✗[/] {safe(p)}")
        console.print(f"checked {len(digests)} artifacts, {len(problems)} problem(s)")
        if not found.empty:
            console.print(
                f"[yellow]{len(found.orphans)} file(s) no record names and "
                f"{len(found.temporary)} stale temporary file(s)[/] "
                f"({human_bytes(found.bytes)}): `baton gc` removes them"
            )
    if problems:
        raise Corrupt(f"{len(problems)} artifact(s) failed verification")


def gc(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="list what would go; remove nothing"),
    grace: str | None = GRACE,
    json_out: bool = JSON,
) -> None:
    """Remove stored files that no record names and temporary files a killed process left.

    Referenced files are never touched; files younger than the grace period are kept, as a
    registration (here or on another host sharing the folder) may be storing them.
    """
    from baton.store.gc import collect

    s = state(ctx)
    result = collect(
        s.store,
        grace_s=_grace(grace, s.settings.gc_grace),
        actor=s.settings.user,
        dry_run=dry_run,
    )
    found = result.found
    if json_out:
        print_json(
            {
                "dry_run": dry_run,
                **_leftovers(found),
                "removed_orphans": result.removed_orphans,
                "removed_temporary": result.removed_temporary,
                "freed_bytes": result.freed_bytes,
                "failed": result.failed,
            }
        )
    elif dry_run:
        for e in found.orphans:
            console.print(
                f"would remove {safe(e.name)}  {human_bytes(e.size)}  (no record names it)"
            )
        for e in found.temporary:
            console.print(
                f"would remove .tmp/{safe(e.name)}  {human_bytes(e.size)}  (left by a kill)"
            )
        console.print(f"would free {human_bytes(found.bytes)}; kept {found.young} recent file(s)")
    else:
        console.print(
            f"removed {len(result.removed_orphans)} unreferenced and "
            f"{len(result.removed_temporary)} temporary file(s), freed "
            f"{human_bytes(result.freed_bytes)}; kept {found.young} recent file(s)"
        )
    if result.failed:
        raise Unavailable(
            f"could not remove {len(result.failed)} file(s), e.g. {result.failed[0]}: "
            "run `baton gc` as a user who may write to the artifact folder"
        )


def _grace(option: str | None, setting: str) -> float:
    from baton.config import grace_seconds

    try:
        return grace_seconds(option if option is not None else setting)
    except ValueError as exc:
        raise BadInput(f"--grace: {exc}") from None


def _leftovers(found: Leftovers) -> dict[str, object]:
    return {
        "orphans": [{"sha256": e.name, "size": e.size} for e in found.orphans],
        "temporary": [{"name": e.name, "size": e.size} for e in found.temporary],
        "young": found.young,
        "grace_s": found.grace_s,
    }
