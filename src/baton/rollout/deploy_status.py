"""``baton deploy status``: each deployment as recorded, checked against what runs now.

Whether each process still runs (its pid, with the start time recorded, so a reused pid
does not count), the weights the router applies now (asked of the router itself, with its
admin token), whether the deployment's keeper runs, and the model's canary in progress
with whether a controller holds it (or since when none does).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from baton.config import Settings
from baton.core.deployment_records import DeploymentRecord
from baton.core.rollout_records import RolloutRecord, RolloutTarget
from baton.errors import BatonError
from baton.rollout import supervise
from baton.rollout.canary_service import keeper_running, orphaned_since
from baton.rollout.local_deploy import hostname, read_token
from baton.store.deployments import Deployments
from baton.store.rollouts import Rollouts
from baton.store.store import Store
from baton.store.tx import utcnow


@dataclass(frozen=True)
class DeploymentStatus:
    deployment: DeploymentRecord
    here: bool  # on this machine: liveness and weights could be checked
    router_running: bool | None  # None: not checked (another machine)
    running: dict[str, bool]  # variant -> its server runs
    weights: dict[str, float] | None  # what the router applies now; None: could not ask
    router_said: str | None  # why the weights could not be read
    rollout: RolloutRecord | None
    controller: str | None  # the controller holding the rollout, None: none
    orphaned_since: datetime | None  # the rollout has had no controller since then
    keeper: bool | None  # the keeper (restarts the router, adopts a canary) runs; None: not here
    nothing_runs: bool  # nothing of it runs here, nor will by itself: ``deploy up`` brings it back

    @property
    def runs(self) -> bool:
        """Its router or one of its servers runs here."""
        return bool(self.router_running) or any(self.running.values())

    @property
    def unwatched(self) -> bool:
        """It runs here without its keeper: ``deploy up`` (and ``restore``) start one again."""
        return self.here and self.keeper is False and self.runs


def deployment_status(
    store: Store, model: str | None, settings: Settings | None = None
) -> list[DeploymentStatus]:
    rollouts = Rollouts(store.engine)
    return [_one(d, rollouts, settings) for d in Deployments(store.engine).all(model)]


def _one(d: DeploymentRecord, rollouts: Rollouts, settings: Settings | None) -> DeploymentStatus:
    here = d.hostname == hostname()
    router_running = supervise.alive(d.router.pid, d.router.started) if here else None
    running = {
        p.variant.value: here and supervise.alive(p.pid, p.started) for p in d.processes.servers
    }
    weights, said = _weights(d) if router_running else (None, "the router does not run")
    rollout = rollouts.active(d.model)
    controller = None
    if rollout is not None and rollout.lease is not None and not rollout.lease.expired(utcnow()):
        controller = str(rollout.lease.holder)
    orphaned = None if rollout is None else orphaned_since(rollout)
    keeper = keeper_running(settings, d.model) if here else None
    nothing = _nothing_runs(router_running, running, keeper, rollout)
    return DeploymentStatus(d, here, router_running, running, weights, said, rollout, controller,
                            orphaned, keeper, nothing)  # fmt: skip


def _nothing_runs(
    router_running: bool | None,
    running: dict[str, bool],
    keeper: bool | None,
    rollout: RolloutRecord | None,
) -> bool:
    """Nothing of a deployment runs on this machine, nor will by itself (after a reboot,
    say): no router, no server, no keeper; ``deploy up`` brings it back, resuming a local
    canary in progress (one on another platform must be aborted first). Unknown (another
    machine, or no settings to find the keeper by) is not nothing."""
    return (
        router_running is False
        and not any(running.values())
        and keeper is False
        and (rollout is None or rollout.target is RolloutTarget.LOCAL)
    )


def _weights(d: DeploymentRecord) -> tuple[dict[str, float] | None, str | None]:
    from baton.rollout.router_admin import RouterAdmin

    try:
        with RouterAdmin(d.router.url, read_token(d.router), timeout_s=5.0) as admin:
            return admin.weights().weights, None
    except BatonError as exc:
        return None, exc.message
