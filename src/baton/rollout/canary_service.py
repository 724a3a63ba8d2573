"""What ``baton canary start | run | status | pause | resume | abort | promote`` do, for the
CLI to call (one function per command; the CLI only translates and prints).

``start`` records the rollout (its approved promotion becomes applying) and spawns the
controller detached under a supervisor that starts it again if it dies, their output in
``BATON_HOME/logs/MODEL/controller-N-*.log``, then waits until the controller holds the
rollout. ``run`` is the controller in the foreground
(for systemd): it takes over the model's active rollout once no live controller holds it.
A person's pause, resume, abort or promote is recorded at once; the controller carries it
out. Where no controller holds the rollout any more (it was killed), one is spawned, so a
rollout is never left without an owner once someone acts on it.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from baton.config import Settings
from baton.core.canary_roles import CanaryAction
from baton.core.deployment_records import DeploymentRecord
from baton.core.rollout_records import (
    DecisionRecord,
    Holder,
    RolloutRecord,
    RolloutSpec,
    RolloutTarget,
)
from baton.errors import BadInput, Conflict, NotFound, Unavailable
from baton.rollout import kept_options, supervise
from baton.rollout.keeper_process import keeper_runs
from baton.rollout.kserve_traffic import KServeOptions
from baton.store.canaries import Canaries
from baton.store.deployments import Deployments
from baton.store.people import People, Person
from baton.store.store import Store
from baton.store.tx import utcnow

CLAIM_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class CanaryStatus:
    rollout: RolloutRecord
    decisions: list[DecisionRecord]
    alerts: list[tuple[datetime, str, str]]  # (when, severity, message)
    owned: bool  # a controller's lease is good now
    deployment: DeploymentRecord | None
    orphaned_since: datetime | None = None  # active and no controller holds it, since then
    keeper: bool | None = None  # the deployment's keeper runs (None: no local deployment)


def options_path(settings: Settings, rollout_id: int) -> Path:
    return kept_options.options_path(settings, rollout_id, "kserve")


def _acting(store: Store, user: str) -> Person:
    return People(store.engine).acting(user)


def start(
    settings: Settings,
    store: Store,
    model: str,
    version: int,
    spec: RolloutSpec,
    reason: str | None,
    kserve: KServeOptions | None = None,
    *,
    spawn: bool = True,
) -> RolloutRecord:
    """Record the canary and (``spawn``) start its controller; the rollout as it stands."""
    target = RolloutTarget.LOCAL if kserve is None else RolloutTarget.KSERVE
    if kserve is not None:
        kserve.hook()  # refuse a bad hook before anything is recorded
    elif Deployments(store.engine).active(model) is None:
        raise NotFound(
            f"{model} is not deployed here: `baton deploy up {model}` first (a local canary "
            "runs behind its router), or give --target kserve with an apply hook"
        )
    canaries = Canaries(store.engine, store.registry)
    rollout = canaries.start(model, version, _acting(store, settings.user), reason, spec=spec,
                             target=target)  # fmt: skip
    if kserve is not None:
        kserve.save(options_path(settings, rollout.id))
    if spawn:
        spawn_controller(settings, store, rollout)
    return canaries.rollouts.get(rollout.id)


def spawn_controller(settings: Settings, store: Store, rollout: RolloutRecord) -> int:
    """``baton canary run MODEL --supervise`` detached (the supervisor starts the
    controller again if it dies); returns once a controller holds the rollout (its pid)."""
    log = supervise.log_path(settings, rollout.model, f"controller-{rollout.id}")
    argv = supervise.baton_argv("canary", "run", rollout.model, "--supervise")
    proc = supervise.spawn(argv, log, supervise.child_env(settings))
    canaries = Canaries(store.engine, store.registry)
    deadline = time.monotonic() + CLAIM_TIMEOUT_S
    while time.monotonic() < deadline:
        current = canaries.rollouts.get(rollout.id)
        if owned(current) and current.lease is not None:
            return current.lease.holder.pid
        if not current.active:
            return proc.pid  # it ran to the end already
        if proc.poll() is not None:
            raise Unavailable(
                f"the controller of {rollout.summary()} exited ({proc.returncode}) before "
                f"taking it: {supervise.tail(log)}"
            )
        time.sleep(0.1)
    raise Unavailable(f"the controller of {rollout.summary()} did not take it within "
                      f"{CLAIM_TIMEOUT_S:g} s; its log: {log}")  # fmt: skip


def owned(rollout: RolloutRecord) -> bool:
    return rollout.lease is not None and not rollout.lease.expired(utcnow())


def orphaned_since(rollout: RolloutRecord, now: datetime | None = None) -> datetime | None:
    """Since when no controller holds the active rollout (its lease's expiry; with no lease,
    its last change); None when one does, or when it is over."""
    if not rollout.active:
        return None
    if rollout.lease is None:
        return rollout.updated_at
    return None if not rollout.lease.expired(now or utcnow()) else rollout.lease.expires_at


def steer(
    settings: Settings, store: Store, model: str, action: CanaryAction, reason: str | None
) -> RolloutRecord:
    """Record a person's pause, resume, abort or promote; spawn a controller to carry it
    out if none holds the rollout."""
    return steer_as(settings, store, model, action, _acting(store, settings.user), reason)


def steer_as(
    settings: Settings,
    store: Store,
    model: str,
    action: CanaryAction,
    person: Person,
    reason: str | None,
) -> RolloutRecord:
    """``steer`` as ``person`` (the dashboard's signed-in person, not BATON_USER)."""
    if reason is None or not reason.strip():
        raise BadInput(f"say why you {action.value} the canary with --why (it is audited)")
    canaries = Canaries(store.engine, store.registry)
    rollout = canaries.steer(model, action, person, reason.strip())
    if action is not CanaryAction.PAUSE and not owned(rollout):
        spawn_controller(settings, store, rollout)
    return canaries.rollouts.get(rollout.id)


def status(store: Store, model: str, settings: Settings | None = None) -> CanaryStatus:
    """The model's active canary, else its latest one (with ``settings``: whether the
    deployment's keeper, which adopts an orphaned canary, runs)."""
    deployment = Deployments(store.engine).active(model)
    canaries = Canaries(store.engine, store.registry)
    rollout = canaries.rollouts.active(model)
    if rollout is None:
        found = canaries.rollouts.list(model, limit=1)
        if not found:
            raise NotFound(f"{model} never had a canary: `baton canary start {model} --to N`")
        rollout = found[0]
    return CanaryStatus(
        rollout=rollout,
        decisions=canaries.rollouts.decisions(rollout.id),
        alerts=canaries.rollouts.alerts(model, rollout.id),
        owned=owned(rollout),
        deployment=deployment,
        orphaned_since=orphaned_since(rollout),
        keeper=None if deployment is None else keeper_running(settings, model),
    )


def keeper_running(settings: Settings | None, model: str) -> bool | None:
    """Whether the model's deployment keeper runs here (None: cannot tell without settings)."""
    return None if settings is None else keeper_runs(settings, model)


def holder() -> Holder:
    return Holder(os.getpid(), socket.gethostname())


def claimable(store: Store, model: str, wait_s: float) -> RolloutRecord:
    """The model's active rollout once no live controller holds it (waiting up to
    ``wait_s`` for a dead one's lease to expire)."""
    canaries = Canaries(store.engine, store.registry)
    deadline = time.monotonic() + wait_s
    while True:
        rollout = canaries.rollouts.active(model)
        if rollout is None:
            raise NotFound(f"{model} has no canary in progress: nothing to run")
        if not owned(rollout):
            return rollout
        if time.monotonic() > deadline:
            assert rollout.lease is not None
            raise Conflict(
                f"{rollout.summary()} is run by the controller {rollout.lease.holder} "
                f"(lease until {rollout.lease.expires_at.isoformat(timespec='seconds')}): "
                "never two controllers on one rollout"
            )
        time.sleep(0.25)
