"""``baton init | register | models | show | alias``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from baton.cli.output import cells, console, human_bytes, print_json, print_listing, safe, when
from baton.cli.state import state
from baton.core.refs import parse_alias_target, parse_ref
from baton.errors import BadInput

if TYPE_CHECKING:
    from baton.store.registry import Registered, VersionInfo

JSON = typer.Option(False, "--json", help="print JSON for scripts")
alias_app = typer.Typer(help="Point aliases (candidate, staging, production, ...) at versions.")


def init(ctx: typer.Context, json_out: bool = JSON) -> None:
    """Create the store (database schema and artifact folder), or upgrade it."""
    from baton.store.db import safe_url

    s = state(ctx)
    store = s.store
    store.artifacts.root.mkdir(parents=True, exist_ok=True)
    info = {"database": safe_url(s.settings.database_url), "artifacts": str(store.artifacts.root)}
    if json_out:
        print_json(info)
        return
    # soft_wrap: a long path stays one piece a reader (or a script) can copy
    console.print(f"[green]ready[/]  database {safe(info['database'])}", soft_wrap=True)
    console.print(f"       artifacts {safe(info['artifacts'])}", soft_wrap=True)


def register(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="hand-over folder with baton.yaml, or a model file"),
    manifest: Path | None = typer.Option(
        None, "--manifest", "-m", help="baton.yaml for a model file"
    ),
    why: str | None = typer.Option(None, "--why", help="reason, kept in the audit log"),
    json_out: bool = JSON,
) -> None:
    """Check a hand-over (manifest, model, signature) and register it as the next version."""
    from baton.handover.register import register_handover, total_bytes  # onnx is slow to import

    s = state(ctx)
    size = total_bytes(path, manifest, s.settings.manifest_limits)
    with Progress(
        TextColumn("[bold]checking and storing"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
        disable=json_out or size < 8 << 20,
    ) as bar:
        task = bar.add_task("store", total=size)
        result = register_handover(
            s.store,
            path,
            manifest=manifest,
            actor=s.settings.user,
            reason=why,
            progress=lambda n: bar.advance(task, n),
            limits=s.settings.manifest_limits,
        )
    if json_out:
        print_json({"created": result.created, "version": result.version})
        return
    _print_registered(result)


def _print_registered(result: Registered) -> None:
    v = result.version
    if result.created:
        console.print(
            f"[green]registered[/] {safe(v.ref)}  ({human_bytes(v.size_bytes)}, sha256 "
            f"{v.sha256[:12]}, owner {safe(v.owner)})  aliases: "
            f"{safe(', '.join('@' + a for a in v.aliases) or '-')}"
        )
    else:
        console.print(
            f"[yellow]already registered[/] these bytes are {safe(v.ref)} "
            f"(sha256 {v.sha256[:12]}); nothing new was stored"
        )


def models(ctx: typer.Context, json_out: bool = JSON) -> None:
    """List registered models."""
    print_listing(
        state(ctx).control.models(),
        json_out,
        headers=("model", "owner", "task", "versions", "latest", "aliases", "created"),
        row=lambda m: (
            m.name,
            m.owner,
            m.task,
            m.versions,
            m.latest or "-",
            ", ".join(f"@{a}→{n}" for a, n in sorted(m.aliases.items())) or "-",
            when(m.created_at),
        ),
        empty="no models yet: `baton register FOLDER` or `baton quickstart`",
    )


def show(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="NAME, NAME:VERSION or NAME@ALIAS"),
    json_out: bool = JSON,
) -> None:
    """Show a model's versions, or one version's manifest and files."""
    registry = state(ctx).control
    parsed = parse_ref(ref)
    if parsed.version is None and parsed.alias is None:
        info, versions = registry.model(parsed.name)
        if json_out:
            print_json({"model": info, "versions": versions})
            return
        console.print(
            f"[bold]{safe(info.name)}[/]  owner {safe(info.owner)}  task {safe(info.task)}"
        )
        table = Table("version", "label", "aliases", "size", "sha256", "registered", "by")
        for v in versions:
            table.add_row(
                *cells(
                    v.number,
                    v.label or "-",
                    ", ".join("@" + a for a in v.aliases) or "-",
                    human_bytes(v.size_bytes),
                    v.sha256[:12],
                    when(v.created_at),
                    v.created_by,
                )
            )
        console.print(table)
        return
    version = registry.resolve(parsed)
    if json_out:
        print_json(version)
        return
    _print_version(version)


def _print_version(v: VersionInfo) -> None:
    m = v.manifest
    console.print(
        f"[bold]{safe(v.ref)}[/]  label {safe(v.label or '-')}  owner {safe(v.owner)}  "
        f"task {safe(m.task)}"
    )
    console.print(f"aliases: {safe(', '.join('@' + a for a in v.aliases) or '-')}")
    console.print(f"registered {when(v.created_at)} by {safe(v.created_by)}")
    sig = Table("io", "name", "dtype", "shape", title="signature")
    for side, specs in (("input", m.signature.inputs), ("output", m.signature.outputs)):
        for spec in specs:
            shape = ", ".join("?" if d == -1 else str(d) for d in spec.shape)
            sig.add_row(*cells(side, spec.name, spec.dtype, f"[{shape}]"))
    console.print(sig)
    files = Table("role", "file", "size", "sha256", title="files")
    for f in v.files:
        files.add_row(*cells(f.role, f.filename, human_bytes(f.size_bytes), f.sha256[:12]))
    console.print(files)
    if m.eval:
        claimed = ", ".join(f"{k} {val}" for k, val in m.eval.claimed.items())
        tolerance = m.eval.tolerance
        console.print(f"claimed: {safe(claimed or '-')} (tolerance {safe(tolerance)})")
    if m.slo:
        slo = m.slo.model_dump(exclude_none=True)
        console.print("slo: " + safe(", ".join(f"{k} {val}" for k, val in slo.items())))
    if m.lineage:
        lineage = ", ".join(f"{k}={val}" for k, val in m.lineage.items())
        console.print(f"lineage: {safe(lineage)}")


@alias_app.command("set")
def alias_set(
    ctx: typer.Context,
    target: str = typer.Argument(..., help="NAME@ALIAS, e.g. digits-classifier@production"),
    version: int = typer.Argument(..., help="version number to point at"),
    why: str | None = typer.Option(None, "--why", help="reason, kept in the audit log"),
    json_out: bool = JSON,
) -> None:
    """Point an alias at a version (recorded in the audit log).

    Once people are registered (and always through the API), @staging and @production move
    only through `baton promote`, with approvals, and any other alias only by the model's
    owner team or a team R or A of deployment.
    """
    s = state(ctx)
    name, alias = parse_alias_target(target)
    if version < 1:
        raise BadInput(f"version must be a whole number >= 1 (got {version})")
    previous = s.control.set_alias(name, alias, version, why)
    if json_out:
        print_json({"model": name, "alias": alias, "version": version, "previous": previous})
        return
    moved = f" (was {previous})" if previous is not None else ""
    console.print(f"[green]{safe(name)}@{safe(alias)}[/] → {version}{moved}")


@alias_app.command("list")
def alias_list(
    ctx: typer.Context, name: str = typer.Argument(..., help="model name"), json_out: bool = JSON
) -> None:
    """List a model's aliases."""
    info, _ = state(ctx).control.model(parse_ref(name).name)
    if json_out:
        print_json(info.aliases)
        return
    for alias, number in sorted(info.aliases.items()):
        console.print(f"@{safe(alias)} → {number}")
