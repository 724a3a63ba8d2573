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
from baton.errors import BadInput, FailedCheck, NotFound

if TYPE_CHECKING:  # the deploy package loads only when a command runs
    from baton.core.rollout_records import RolloutRecord
    from baton.deploy.service import Rendered
    from baton.rollout.deploy_status import DeploymentStatus
    from baton.rollout_control import RolloutControl

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

WITH_ROUTER_OPTION = typer.Option(
    False,
    "--with-router",
    help="compose: a `baton router` service in front of the version (weights changed "
    "through its admin API, token in ./router.token)",
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
    canary: int | None = typer.Option(None, help="KServe, compose: a version to send --percent to"),
    percent: int | None = typer.Option(
        None, help="KServe, compose: the canary's share of traffic, %"
    ),
    kserve_mode: str = typer.Option("standard", "--kserve-mode", help="standard or knative"),
    model_from: str = MODEL_FROM_OPTION,
    with_monitoring: bool = WITH_MONITORING_OPTION,
    with_router: bool = WITH_ROUTER_OPTION,
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
        model_from=model_from, with_monitoring=with_monitoring, with_router=with_router,
        wheel=wheel, precision=precision, grpc_port=grpc_port,
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


# -- one machine: deploy up | down | status ---------------------------------------------------

DRAIN_OPTION = typer.Option(
    30.0, "--drain-timeout", min=0.0, help="seconds in-flight requests get on stop"
)


@deploy_app.command()
def up(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="the model: its @production version is deployed"),
    drain_timeout: float = DRAIN_OPTION,
    why: str | None = typer.Option(None, "--why", help="reason, kept in the audit log"),
    json_out: bool = typer.Option(False, "--json", help="print JSON for scripts"),
) -> None:
    """Run NAME's @production version on this machine behind a `baton router`, each in its
    own background process (logs under BATON_HOME/logs), recorded in the store."""
    from baton.core.deployment_records import Variant

    control = state(ctx).rollouts
    before = control.deployments(name)
    # a deployment a reboot stopped comes back on its router's address, unless it was taken
    was = [s.deployment.router.url for s in before if s.nothing_runs]
    unwatched = any(s.unwatched for s in before)
    record = control.deploy_up(name, drain_timeout, why)
    if json_out:
        print_json(record)
        return
    if unwatched:  # `up` started its keeper again and left the rest as it runs
        console.print(
            f"{escape(name)} runs ({record.summary()}, router at {escape(record.router.url)}) "
            "but its keeper did not: started the keeper again, which restarts the router "
            f"and the stable server when they die (`baton deploy status {escape(name)}`)",
            soft_wrap=True,
        )
        return
    stable = record.server(Variant.STABLE)
    assert stable is not None  # `up` starts it, or refuses
    resumed = _canary_in_progress(control, name)  # up resumed a rollout a reboot stopped
    done = "brought back" if resumed is not None else "deployed"
    console.print(
        f"{done} {escape(name)}:{stable.version} behind the router at "
        f"{escape(record.router.url)}/v2/models/{escape(name)} ({record.summary()})",
        soft_wrap=True,
    )
    console.print(f"  stable server {escape(stable.url)} (pid {stable.pid}); router pid "
                  f"{record.router.pid}; logs in {escape(str(Path(stable.log).parent))}",
                  soft_wrap=True)  # fmt: skip
    if was and was[0] != record.router.url:
        console.print(f"  [yellow]the router moved[/]: {escape(was[0])} was taken by another "
                      f"process, so it listens at {escape(record.router.url)} now; point its "
                      "clients there (Prometheus finds it by itself)", soft_wrap=True)  # fmt: skip
    if resumed is None:
        console.print(f"  roll a new version out: baton canary start {escape(name)} --to N",
                      soft_wrap=True)  # fmt: skip
        return
    console.print(f"  {escape(resumed.summary())} was {resumed.phase.value} at step "
                  f"{resumed.step + 1}: the keeper hands it to a controller, which starts the "
                  f"baseline and canary again and routes the step's weights (`baton canary "
                  f"status {escape(name)}`)", soft_wrap=True)  # fmt: skip


def _canary_in_progress(control: RolloutControl, model: str) -> RolloutRecord | None:
    try:
        rollout = control.canary_status(model).rollout
    except NotFound:  # never had one
        return None
    return rollout if rollout.active else None


@deploy_app.command()
def restore(
    ctx: typer.Context,
    drain_timeout: float = DRAIN_OPTION,
    why: str | None = typer.Option(None, "--why", help="reason, kept in the audit log"),
    json_out: bool = typer.Option(False, "--json", help="print JSON for scripts"),
) -> None:
    """Bring back every deployment recorded on this machine of which nothing runs (after a
    reboot; a local canary resumes): for the machine's start-up. What runs, and what was
    taken down, is left alone; exits 1 if one could not come back."""
    from baton.rollout.restore import Outcome
    from baton.rollout.restore import restore as restore_all

    done = restore_all(state(ctx).rollouts, drain_timeout, why)
    if json_out:
        print_json(done)
    elif not done:
        console.print("nothing deployed: nothing to restore")
    for one in [] if json_out else done:
        where = {Outcome.ELSEWHERE: "on ", Outcome.FAILED: ": "}.get(one.outcome, " at ")
        colour = "red" if one.outcome is Outcome.FAILED else "default"
        taken = one.moved_from
        moved = "" if taken is None else f" [yellow](moved: {escape(taken)} was taken)[/]"
        console.print(f"{escape(one.model)}: [{colour}]{one.outcome.value}[/]{where}"
                      f"{escape(one.detail)}{moved}", soft_wrap=True)  # fmt: skip
    if any(one.outcome is Outcome.FAILED for one in done):
        raise typer.Exit(1)


@deploy_app.command()
def down(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="the deployed model"),
    drain_timeout: float = DRAIN_OPTION,
    why: str | None = typer.Option(None, "--why", help="reason, kept in the audit log"),
    json_out: bool = typer.Option(False, "--json", help="print JSON for scripts"),
) -> None:
    """Stop NAME's router and servers (SIGTERM: each drains its requests) and clear the
    record; refused while a canary runs (abort it first)."""
    record = state(ctx).rollouts.deploy_down(name, drain_timeout, why)
    if json_out:
        print_json(record)
        return
    count = len(record.processes.servers)
    console.print(f"stopped {escape(name)}: its router and {count} server(s) "
                  f"({record.summary()})", soft_wrap=True)  # fmt: skip


@deploy_app.command()
def status(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="one model (default: every deployment)"),
    json_out: bool = typer.Option(False, "--json", help="print JSON for scripts"),
) -> None:
    """Deployments on this store: the router (and the weights it applies now), each server,
    whether each process runs, and the canary in progress."""
    found = state(ctx).rollouts.deployments(name)
    if json_out:
        print_json(found)
        return
    if not found:
        console.print("nothing deployed: `baton deploy up NAME`")
        return
    for one in found:
        _print_deployment(one)


def _print_deployment(found: DeploymentStatus) -> None:
    d = found.deployment

    def state_of(running: bool | None) -> str:
        return "not checked (another machine)" if running is None else (
            "running" if running else "[red]not running[/]")  # fmt: skip

    console.print(f"[bold]{escape(d.model)}[/]: {escape(d.summary())}, up since "
                  f"{when(d.started_at)} (by {escape(d.started_by)})", soft_wrap=True)  # fmt: skip
    weights = (
        ", ".join(f"{k} {v:g} %" for k, v in found.weights.items())
        if found.weights is not None
        else f"unknown ({escape(found.router_said or '')})"
    )
    console.print(f"  router    {escape(d.router.url)}  pid {d.router.pid}  "
                  f"{state_of(found.router_running)}; weights now: {weights}",
                  soft_wrap=True)  # fmt: skip
    if found.keeper is not None:
        keeper = "running" if found.keeper else (
            "[red]not running[/]: a dead router stays dead, an orphaned canary waits; "
            f"`baton deploy up {escape(d.model)}` starts it again")  # fmt: skip
        console.print(f"  keeper    {keeper}", soft_wrap=True)
    for p in d.processes.servers:
        running = found.running.get(p.variant.value) if found.here else None
        console.print(f"  {p.variant.value:<9} {escape(d.model)}:{p.version}  {escape(p.url)}  "
                      f"pid {p.pid}  {state_of(running)}", soft_wrap=True)  # fmt: skip
    if found.nothing_runs:
        console.print(f"  nothing of it runs (the host restarted?): `baton deploy up "
                      f"{escape(d.model)}` starts it again", soft_wrap=True)  # fmt: skip
    r = found.rollout
    if r is not None:
        since = when(found.orphaned_since) if found.orphaned_since else "now"
        who = f"controller {escape(found.controller)}" if found.controller else (
            f"[red]orphaned[/]: no controller since {since}; {_taken_over(found)}")  # fmt: skip
        console.print(f"  canary: rollout #{r.id} ({r.from_version} -> {r.to_version}) "
                      f"{r.phase.value} at step {r.step}: {escape(str(r.weights))}; {who}",
                      soft_wrap=True)  # fmt: skip


def _taken_over(found: DeploymentStatus) -> str:
    """Who takes an orphaned canary over."""
    if found.keeper:
        return "the keeper adopts it shortly"
    if found.nothing_runs:
        return "`baton deploy up` brings the deployment back and the canary resumes"
    return f"`baton canary run {escape(found.deployment.model)}` takes it over"
