"""``baton canary start | run | status | pause | resume | abort | promote``: a version of a
deployed model rolled out step by step against a baseline, judged from Prometheus.

The rollout package is imported inside each command, so ``baton``'s start-up does not pay
for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from baton.cli.output import console, print_json, safe, when
from baton.cli.state import state
from baton.errors import BadInput

if TYPE_CHECKING:
    from baton.config import Settings
    from baton.core.rollout_records import RolloutRecord, RolloutSpec
    from baton.rollout.canary_service import CanaryStatus
    from baton.store.store import Store

canary_app = typer.Typer(
    help="Roll a version out step by step behind the router, judged against a baseline "
    "copy of production from Prometheus; promoted or rolled back on its own.",
    no_args_is_help=True,
)

NAME = typer.Argument(..., help="the deployed model")
WHY = typer.Option(None, "--why", help="reason, kept in the audit log")
JSON = typer.Option(False, "--json", help="print JSON for scripts")
TO_OPTION = typer.Option(..., "--to", help="the version to roll out (approved via canary)")
PROFILE_OPTION = typer.Option(
    "production",
    help="production: steps 5,10,25,50 every 60 s; test: steps 10,25,50 every 3 s (tests, demos)",
)
STEPS_OPTION = typer.Option(None, help="canary percent per step, rising, at most 50: 5,10,25,50")
INTERVAL_OPTION = typer.Option(None, help="seconds per judged interval (profile's default)")
MIN_REQUESTS_OPTION = typer.Option(None, help="canary requests an interval needs to be judged")
DEADLINE_OPTION = typer.Option(None, help="seconds a step may go without progress")
TARGET_OPTION = typer.Option(
    "local",
    help="local (the router of `baton deploy up`), kserve, or compose (a rendered "
    "Compose file's router service)",
)
APPLY_OPTION = typer.Option(
    None,
    "--apply",
    help="kserve: command reading YAML on stdin; compose: command bringing "
    "the baseline and canary services up (docker compose -f FILE up -d baseline canary)",
)
ROUTER_URL_OPTION = typer.Option(
    None, "--router-url", help="compose: the router service's published address"
)
RETIRE_OPTION = typer.Option(
    None,
    "--retire",
    help="compose: command stopping the services named after it at the end "
    "(docker compose -f FILE stop)",
)
TOKEN_FILE_OPTION = typer.Option(
    None, "--admin-token-file", help="compose: the router's admin token (./router.token)"
)
APPLY_DIR_OPTION = typer.Option(None, "--apply-dir", help="kserve: write numbered files here")
NAMESPACE_OPTION = typer.Option("default", help="kserve: the InferenceService's namespace")
STORAGE_URI_OPTION = typer.Option(None, "--storage-uri", help="kserve: the stable's storageUri")
SUPERVISE_OPTION = typer.Option(
    False, "--supervise", help="run the controller as a child and start it again if it dies"
)
FOREGROUND_OPTION = typer.Option(
    False, "--foreground", help="run the controller here instead of in the background"
)


@canary_app.command()
def start(
    ctx: typer.Context,
    name: str = NAME,
    to: int = TO_OPTION,
    profile: str = PROFILE_OPTION,
    steps: str | None = STEPS_OPTION,
    interval: float | None = INTERVAL_OPTION,
    min_requests: int | None = MIN_REQUESTS_OPTION,
    deadline: float | None = DEADLINE_OPTION,
    target: str = TARGET_OPTION,
    apply: str | None = APPLY_OPTION,
    apply_dir: Path | None = APPLY_DIR_OPTION,
    namespace: str = NAMESPACE_OPTION,
    storage_uri: str | None = STORAGE_URI_OPTION,
    router_url: str | None = ROUTER_URL_OPTION,
    retire: str | None = RETIRE_OPTION,
    admin_token_file: Path | None = TOKEN_FILE_OPTION,
    foreground: bool = FOREGROUND_OPTION,
    why: str | None = WHY,
    json_out: bool = JSON,
) -> None:
    """Start rolling NAME out to version --to, which must be approved for production
    through a canary (`baton promote NAME:N --to production --via canary`)."""
    from baton.rollout import canary_service
    from baton.rollout.kserve_traffic import KServeOptions
    from baton.rollout_control import CanaryPlan

    if target not in ("local", "kserve", "compose"):
        raise BadInput(f"--target {target}: use local, kserve or compose")
    if target == "local" and (apply is not None or apply_dir is not None):
        raise BadInput("--apply and --apply-dir go with --target kserve or compose")
    compose_flags = (router_url, retire, admin_token_file)
    if target != "compose" and any(f is not None for f in compose_flags):
        raise BadInput("--router-url, --retire and --admin-token-file go with --target compose")
    kserve = None
    if target == "kserve":
        kserve = KServeOptions(apply=apply, apply_dir=None if apply_dir is None else str(apply_dir),
                               namespace=namespace, storage_uri=storage_uri)  # fmt: skip
    s = state(ctx)
    plan = CanaryPlan(profile, _steps(steps), interval, min_requests, deadline)
    if target == "compose":
        rollout = _start_compose(
            s.settings, s.store, name, to, plan.spec(), why, router_url,
            apply, apply_dir, retire, admin_token_file, foreground,
        )  # fmt: skip
    elif kserve is None and not foreground:  # here, or through the control plane (BATON_URL)
        _print_rollout(s.rollouts.canary_start(name, to, why, plan), json_out, started=True)
        return
    else:
        rollout = canary_service.start(s.settings, s.store, name, to, plan.spec(), why, kserve,
                                       spawn=not foreground)  # fmt: skip
    if foreground:
        from baton.rollout.controller_run import run as run_controller

        rollout = run_controller(s.settings, s.store, name) or rollout
    _print_rollout(rollout, json_out, started=True)


def _start_compose(
    settings: Settings, store: Store, name: str, to: int, spec: RolloutSpec, why: str | None,
    router_url: str | None, apply: str | None, apply_dir: Path | None, retire: str | None,
    token_file: Path | None, foreground: bool,
) -> RolloutRecord:  # fmt: skip
    from baton.rollout import compose_traffic

    if router_url is None or apply is None or apply_dir is not None:
        raise BadInput(
            "--target compose takes --router-url URL (the router service's published port) "
            'and --apply COMMAND (as in "docker compose -f FILE up -d baseline canary")'
        )
    options = compose_traffic.ComposeOptions(
        router_url=router_url, apply=apply, retire=retire,
        token_file=None if token_file is None else str(token_file),
    )  # fmt: skip
    return compose_traffic.start(settings, store, name, to, spec, why, options,
                                 spawn=not foreground)  # fmt: skip


def _steps(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(p) for p in text.split(","))
    except ValueError:
        raise BadInput(f"--steps {text!r}: give whole percentages separated by commas") from None


@canary_app.command()
def run(
    ctx: typer.Context,
    name: str = NAME,
    supervise: bool = SUPERVISE_OPTION,
    json_out: bool = JSON,
) -> None:
    """Run the controller of NAME's canary in the foreground (for systemd): take the
    rollout over once no live controller holds it, and run it to its end."""
    from baton.rollout.controller_run import run as run_controller

    s = state(ctx)
    if supervise:
        from baton.rollout.controller_run import supervised

        raise typer.Exit(supervised(s.settings, s.store, name))
    done = run_controller(s.settings, s.store, name)
    if done is None:
        if json_out:
            print_json({"model": name, "rollout": None})
        else:
            console.print(f"{safe(name)} has no canary in progress", soft_wrap=True)
        return
    _print_rollout(done, json_out)


@canary_app.command()
def status(ctx: typer.Context, name: str = NAME, json_out: bool = JSON) -> None:
    """The canary of NAME (in progress, else the last one): its step, each decision with
    its numbers, alerts, and whether a controller holds it."""
    found = state(ctx).rollouts.canary_status(name)
    if json_out:
        print_json(found)
        return
    _print_status(found)


def _steer(ctx: typer.Context, name: str, action: str, why: str | None, json_out: bool) -> None:
    _print_rollout(state(ctx).rollouts.canary_steer(name, action, why), json_out)


@canary_app.command()
def pause(
    ctx: typer.Context, name: str = NAME, why: str | None = WHY, json_out: bool = JSON
) -> None:
    """Hold the canary at its step (teams R or A of deployment or on-call)."""
    _steer(ctx, name, "pause", why, json_out)


@canary_app.command()
def resume(
    ctx: typer.Context, name: str = NAME, why: str | None = WHY, json_out: bool = JSON
) -> None:
    """Go on from a pause (teams R or A of deployment or on-call)."""
    _steer(ctx, name, "resume", why, json_out)


@canary_app.command()
def abort(
    ctx: typer.Context, name: str = NAME, why: str | None = WHY, json_out: bool = JSON
) -> None:
    """Roll back now: all traffic to the stable version, the promotion cancelled (teams R or
    A of deployment or on-call)."""
    _steer(ctx, name, "abort", why, json_out)


@canary_app.command()
def promote(
    ctx: typer.Context, name: str = NAME, why: str | None = WHY, json_out: bool = JSON
) -> None:
    """Skip the steps left and promote now (the team accountable for deployment)."""
    _steer(ctx, name, "promote", why, json_out)


def _print_rollout(
    r: RolloutRecord, json_out: bool, *, started: bool = False, follow: bool = True
) -> None:
    if json_out:
        print_json(r)
        return
    at = f" at step {r.step}" if r.active and r.step < len(r.spec.steps) else ""
    console.print(
        f"{'started ' if started else ''}rollout #{r.id} of {safe(r.model)} ({r.from_version} "
        f"-> {r.to_version}): {r.phase.value}{at}, {safe(r.weights)}", soft_wrap=True,
    )  # fmt: skip
    if r.reason:
        console.print(f"  why: {safe(r.reason)}", soft_wrap=True)
    if r.active and follow:
        console.print(f"  follow it: baton canary status {safe(r.model)}", soft_wrap=True)


def _orphaned(found: CanaryStatus) -> str:
    """An active rollout no controller holds: since when, and who will take it over."""
    r = found.rollout
    since = when(found.orphaned_since) if found.orphaned_since else "now"
    last = f" (the lease of {safe(r.lease.holder)} expired)" if r.lease else ""
    if found.keeper:
        then = "the deployment's keeper adopts it shortly"
    else:
        then = f"nothing will take it over: run `baton canary run {safe(r.model)}` (or resume)"
    return f"[red]orphaned[/]: no controller since {since}{last}; {then}"


def _print_status(found: CanaryStatus) -> None:
    from baton.cli.history_cmd import metric_numbers
    from baton.core.timeline import decision_line

    r = found.rollout
    _print_rollout(r, False, follow=False)
    spec = r.spec
    console.print(
        f"  steps {', '.join(f'{p} %' for p in spec.steps)} then 100 %; every "
        f"{spec.interval_s:g} s; failed checks {r.failed_checks} of "
        f"{spec.thresholds.failed_checks}; started by {safe(r.started_by)} "
        f"{when(r.started_at)}", soft_wrap=True,
    )  # fmt: skip
    if r.promotion_id is not None:
        console.print(f"  applies promotion #{r.promotion_id}", soft_wrap=True)
    if r.active:
        owner = (f"controller {safe(r.lease.holder)} (lease until {when(r.lease.expires_at)})"
                 if found.owned and r.lease else _orphaned(found))  # fmt: skip
        console.print(f"  {owner}", soft_wrap=True)
    for at, severity, message in found.alerts:
        console.print(f"  [red]alert[/] ({safe(severity)}) {when(at)}: {safe(message)}",
                      soft_wrap=True)  # fmt: skip
    for d in found.decisions:
        console.print(f"  {when(d.at)} {safe(decision_line(d))}", soft_wrap=True)
        console.print(f"      why: {safe(d.reason)}", soft_wrap=True)
        for metric, m in d.metrics.items():
            console.print(f"      {safe(metric)} {safe(metric_numbers(m))}", soft_wrap=True)
