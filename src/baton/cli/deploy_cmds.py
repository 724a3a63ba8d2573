"""``baton deploy render | check | list``: manifests for the container platform, from the registry.

The deploy package is imported inside each command, so ``baton``'s start-up does not pay
for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from baton.cli.output import console, print_json, when
from baton.cli.state import state
from baton.errors import BadInput, FailedCheck

if TYPE_CHECKING:  # the deploy package loads only when a command runs
    from baton.deploy.service import Rendered

deploy_app = typer.Typer(
    help="Render a version for the container platform (image, compose, k8s, kserve, ray), "
    "check the files offline, list past renders.",
    no_args_is_help=True,
)


def _memory(text: str | None) -> int | None:
    if text is None:
        return None
    from baton.core.inventory import parse_memory

    try:
        return int(parse_memory(text))
    except ValueError as exc:
        raise BadInput(f"--memory: {exc}") from None


def _cpu(text: str | None) -> float | None:
    if text is None:
        return None
    from baton.core.inventory import parse_cpu

    try:
        return parse_cpu(text)
    except ValueError as exc:
        raise BadInput(f"--cpu: {exc}") from None


TARGET_OPTION = typer.Option(
    ..., "--target", "-t", help="image, compose, k8s, kserve or ray (repeat for several)"
)

FROM_AUDIT_OPTION = typer.Option(
    None, "--from-audit", help="`baton audit --json` output: its target for this version"
)

STORAGE_URI_OPTION = typer.Option(
    None, "--storage-uri", help="KServe storageUri (default pvc://baton-artifacts/DIGEST)"
)

MODEL_FROM_OPTION = typer.Option(
    "image", "--model-from", help="image: baked in; volume: mounted at /mnt/models"
)

WITH_MONITORING_OPTION = typer.Option(
    False, "--with-monitoring", help="compose: add Prometheus and Alertmanager"
)

PRECISION_OPTION = typer.Option(
    None,
    "--precision",
    help="fp32: the registered model; int8: the evaluation's int8 copy, put in the model "
    "folder and served with --precision int8; recommended: what the evaluation recommends "
    "(default: the registered model)",
)

GRPC_PORT_OPTION = typer.Option(
    None,
    "--grpc-port",
    help="also serve V2 over gRPC on this port (8081, say): container, Service, Compose "
    "and Dockerfile ports (not the ray target, nor KServe's knative mode)",
)

WHEEL_OPTION = typer.Option(
    None, "--wheel", help="image: baton's wheel to install (default: built from this checkout)"
)


@deploy_app.command()
def render(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="the version: NAME, NAME:N or NAME@ALIAS"),
    target: list[str] = TARGET_OPTION,
    out: Path = typer.Option(..., "--out", help="folder to write (refused if it exists)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing --out"),
    cpu: str | None = typer.Option(None, help="cores per replica (2, 500m)"),
    memory: str | None = typer.Option(None, help="memory per replica (512Mi, 2Gi)"),
    gpus: int | None = typer.Option(None, help="GPUs per replica"),
    hardware: str | None = typer.Option(None, help="price-table key of the GPU (nvidia-t4...)"),
    replicas: int | None = typer.Option(None, help="replicas to start with"),
    min_replicas: int | None = typer.Option(None, "--min-replicas"),
    max_replicas: int | None = typer.Option(None, "--max-replicas"),
    from_audit: Path | None = FROM_AUDIT_OPTION,
    image: str | None = typer.Option(None, help="image the containers run (default baton/NAME:N)"),
    namespace: str = typer.Option("default", help="Kubernetes namespace"),
    storage_uri: str | None = STORAGE_URI_OPTION,
    canary: int | None = typer.Option(None, help="KServe: a version to send --percent to"),
    percent: int | None = typer.Option(None, help="KServe: the canary's share of traffic, %"),
    kserve_mode: str = typer.Option("standard", "--kserve-mode", help="standard or knative"),
    model_from: str = MODEL_FROM_OPTION,
    with_monitoring: bool = WITH_MONITORING_OPTION,
    wheel: Path | None = WHEEL_OPTION,
    precision: str | None = PRECISION_OPTION,
    grpc_port: int | None = GRPC_PORT_OPTION,
    force: bool = typer.Option(False, "--force", help="admins: render without the deploy role"),
    why: str | None = typer.Option(None, "--why", help="reason, kept in the audit log"),
    json_out: bool = typer.Option(False, "--json", help="print JSON for scripts"),
) -> None:
    """Render manifests for a version that passed the gate, from the registry (in the audit log)."""
    from baton.deploy.service import RenderRequest
    from baton.deploy.service import render as run

    s = state(ctx)
    request = RenderRequest(
        ref=ref, targets=tuple(target), out=out, overwrite=overwrite, force=force, why=why,
        resources={"cores": _cpu(cpu), "memory_bytes": _memory(memory), "gpus": gpus,
                   "replicas": replicas, "min_replicas": min_replicas,
                   "max_replicas": max_replicas},
        hardware=hardware, from_audit=from_audit, image=image, namespace=namespace,
        storage_uri=storage_uri, canary=canary, percent=percent, kserve_mode=kserve_mode,
        model_from=model_from, with_monitoring=with_monitoring, wheel=wheel,
        precision=precision, grpc_port=grpc_port,
    )  # fmt: skip
    request.check()
    done = run(s.store, s.settings.user, request)
    if json_out:
        print_json({"render": done.render_id, "out": str(done.out),
                    "manifest_sha256": done.manifest_sha256, "forced": done.forced,
                    "precision": done.spec.precision, "files": done.files})  # fmt: skip
        return
    _show_render(done, target)


def _show_render(done: Rendered, target: list[str]) -> None:
    forced = " (forced by an admin)" if done.forced else ""
    console.print(
        f"rendered {escape(done.spec.ref)} for {', '.join(sorted(set(target)))} into "
        f"{escape(str(done.out))}{forced}; render {done.render_id}",
        soft_wrap=True,
    )
    console.print(f"  {escape(done.spec.resources.comment())}", soft_wrap=True)
    if done.spec.precision == "int8":
        assert done.spec.int8_sha256 is not None
        console.print(
            f"  serves the int8 copy sha256:{done.spec.int8_sha256[:12]} (--precision int8)",
            soft_wrap=True,
        )
    console.print(f"  check it: baton deploy check {escape(str(done.out))}", soft_wrap=True)


@deploy_app.command()
def check(
    folder: Path = typer.Argument(..., help="the --out of `baton deploy render`"),
    json_out: bool = typer.Option(False, "--json", help="print JSON for scripts"),
) -> None:
    """Validate rendered files offline (kubernetes-validate, KServe CRDs, Compose, hadolint,
    Ray); exit 1 with one line per problem."""
    from baton.deploy.check import check_dir

    problems = check_dir(folder)
    if json_out:
        print_json({"folder": str(folder), "problems": problems})
    else:
        for line in problems:
            console.print(escape(line), soft_wrap=True)
    if problems:
        if json_out:
            raise typer.Exit(1)
        raise FailedCheck(f"{len(problems)} problem(s) in {folder}")
    if not json_out:
        console.print(f"{escape(str(folder))}: every file checked, no problems", soft_wrap=True)


@deploy_app.command("list")
def list_renders(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="only this model's renders"),
    json_out: bool = typer.Option(False, "--json", help="print JSON for scripts"),
) -> None:
    """Past renders: when, who, which version and targets, where, MANIFEST.json's digest."""
    from baton.store.renders import list_renders as listed

    rows = listed(state(ctx).store.engine, name)
    if json_out:
        print_json([r.__dict__ for r in rows])
        return
    if not rows:
        console.print("no renders yet: `baton deploy render NAME:N --target k8s --out DIR`")
        return
    for r in rows:
        forced = " forced" if r.forced else ""
        console.print(
            f"{r.id}  {when(r.at)}  {escape(r.actor)}{forced}  {escape(r.model)}:{r.version}  "
            f"{','.join(r.targets)}  {escape(r.out)}  sha256:{r.manifest_sha256[:12]}",
            soft_wrap=True,
        )
