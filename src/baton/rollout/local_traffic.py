"""The canary on one machine: the deployment's router moves the traffic, and the baseline
and canary are ``baton serve`` processes started beside the stable one.

``prepare`` starts the baseline (the stable version again) and the canary, each on a free
port and labelled for Prometheus, and records them in the deployment; ``route`` sends the
router the weights with every variant's server (one atomic change: a request sees the old
table or the new one). ``promote`` hands the stable variant to the canary's server;
``rollback`` sends everything back to the stable one; ``retire`` then stops what no
longer gets traffic (SIGTERM: it drains what it was still answering). Every call can be
made again: a restarted controller repeats what the record says.

After a reboot, ``deploy up`` brings back the stable server and the router, and the keeper
a controller, which resumes here: ``prepare`` starts the dead baseline and canary again,
``promote`` a dead canary before it gets the traffic. Aborted instead (before ``deploy
up``), nothing routes: the router is dead and so is the keeper that would start it again,
so the rollback has no traffic to send back and ends the rollout without asking the router.
"""

from __future__ import annotations

import contextlib
import logging

from baton.core.deployment_records import DeploymentRecord, ServerProcess, Variant
from baton.core.rollout_records import RolloutRecord, Weights
from baton.errors import Conflict, NotFound
from baton.rollout import supervise
from baton.rollout.keeper_process import keeper_runs
from baton.rollout.local_deploy import (
    Launch,
    check_here,
    label,
    read_token,
    start_server,
    unlabel,
)
from baton.rollout.local_deploy import stop_processes as stop
from baton.rollout.router_admin import RouterAdmin
from baton.store.deployments import DeploymentDown, Deployments
from baton.store.store import Store

ROUTED = (Variant.STABLE, Variant.BASELINE, Variant.CANARY)  # the router's variants
MENDED = (Variant.STABLE, Variant.BASELINE)  # started again mid-rollout; the canary is judged

log = logging.getLogger("baton.canary")


class LocalTraffic:
    def __init__(self, launch: Launch, store: Store, actor: str) -> None:
        self.launch = launch
        self.deployments = Deployments(store.engine)
        self.actor = actor

    def _deployment(self, model: str) -> DeploymentRecord:
        found = self.deployments.active(model)
        if found is None:
            raise NotFound(
                f"{model} is not deployed: a local canary runs behind the router of "
                f"`baton deploy up {model}`"
            )
        check_here(found)
        return found

    def _admin(self, deployment: DeploymentRecord) -> RouterAdmin:
        return RouterAdmin(deployment.router.url, read_token(deployment.router))

    def _all_to(self, deployment: DeploymentRecord, server: ServerProcess, reason: str) -> None:
        """All traffic to ``server`` as the stable variant; the router forgets the others."""
        with self._admin(deployment) as admin:
            admin.set_weights({"stable": 100, "baseline": 0, "canary": 0},
                              upstreams={"stable": server.url, "baseline": None, "canary": None},
                              by=self.actor, reason=reason)  # fmt: skip

    def prepare(self, rollout: RolloutRecord) -> None:
        deployment = self._deployment(rollout.model)
        stable = deployment.server(Variant.STABLE)
        if stable is None or stable.version != rollout.from_version:
            raise Conflict(
                f"{deployment.summary()} does not serve {rollout.model}:{rollout.from_version} "
                f"as its stable version: the canary compares against what production runs"
            )
        wanted = {Variant.BASELINE: rollout.from_version, Variant.CANARY: rollout.to_version}
        processes = deployment.processes
        with self.launch.starting(rollout.model) as starting:
            for variant, version in wanted.items():
                have = processes.of(variant)
                if (
                    have is not None
                    and have.version == version
                    and supervise.alive(have.pid, have.started)
                ):
                    continue
                if have is not None:
                    stop([have], self.launch.grace_s, self.launch.settings)
                started = start_server(self.launch, rollout.model, version, variant,
                                       rollout.from_version, starting=starting)  # fmt: skip
                processes = processes.with_(started)
            if processes != deployment.processes:
                self.deployments.change(deployment.id, processes, revision=deployment.revision,
                                        actor=self.actor, reason=f"rollout #{rollout.id}: "
                                        "baseline and canary")  # fmt: skip

    def route(self, rollout: RolloutRecord, weights: Weights, reason: str) -> None:
        deployment = self._deployment(rollout.model)
        with self._admin(deployment) as admin:
            admin.set_weights(weights.model_dump(), upstreams=_table(deployment, weights),
                              by=self.actor, reason=reason)  # fmt: skip

    def promote(self, rollout: RolloutRecord, reason: str) -> None:
        """The canary's server becomes the stable variant (all traffic), in the router, the
        deployment record and its Prometheus label."""
        deployment = self._deployment(rollout.model)
        canary = deployment.server(Variant.CANARY)
        stable = deployment.server(Variant.STABLE)
        if stable is not None and stable.version == rollout.to_version:
            canary = stable  # a predecessor got this far: the record already says so
        if canary is None:
            raise Conflict(f"{deployment.summary()} has no canary server to promote")
        if not supervise.alive(canary.pid, canary.started):  # a reboot mid-promotion, say
            deployment, canary = self._restarted(deployment, canary, rollout)
        self._all_to(deployment, canary, reason)
        if canary.variant is Variant.STABLE:
            return
        promoted = canary.model_copy(update={"variant": Variant.STABLE})
        processes = deployment.processes.without(Variant.STABLE, Variant.CANARY).with_(promoted)
        if stable is not None:  # kept on record until `retire` has stopped it
            processes = processes.with_(stable.model_copy(update={"variant": Variant.RETIRING}))
        label(self.launch.settings, rollout.model, promoted)
        why = f"rollout #{rollout.id}: promoted"
        self.deployments.change(deployment.id, processes, revision=deployment.revision,
                                actor=self.actor, reason=why)  # fmt: skip

    def mend(self, rollout: RolloutRecord) -> bool:
        """Between steps: a stable or baseline server that died (a crash, an OOM kill)
        started again, since the keeper leaves the servers to the controller during a
        rollout and each takes its share of the requests; and the step's table routed
        again whenever the router applies another (one the keeper started again from a
        stale row, or one that could not be told of a new server). A dead canary is left
        to the judge: its failures are what a canary is for."""
        deployment = self._deployment(rollout.model)
        if self._unrouted(deployment):  # a reboot: `deploy up` brings it back
            return False
        died = []
        for variant in MENDED:
            dead = deployment.server(variant)
            if dead is not None and not supervise.alive(dead.pid, dead.started):
                deployment, _ = self._restarted(deployment, dead, rollout)
                died.append(f"the {variant.value} server (pid {dead.pid})")
        with self._admin(deployment) as admin:
            state = admin.weights()
        if not died and state.applies(rollout.weights.model_dump(),
                                      _table(deployment, rollout.weights)):  # fmt: skip
            return False
        if died:
            why = f"rollout #{rollout.id}: {' and '.join(died)} died"
            log.warning("%s; started again", why)
        else:
            why = (f"rollout #{rollout.id}: the router applied {state.weights} to "
                   f"{state.upstreams}: the step routed again")  # fmt: skip
        self.route(rollout, rollout.weights, why)
        return True

    def _restarted(
        self, deployment: DeploymentRecord, dead: ServerProcess, rollout: RolloutRecord
    ) -> tuple[DeploymentRecord, ServerProcess]:
        """A dead server of the deployment started again (same variant and version) and
        recorded: traffic is never sent to an address nothing answers on."""
        unlabel(self.launch.settings, dead)  # first: the new server may get its port
        with self.launch.starting(rollout.model) as starting:
            server = start_server(self.launch, rollout.model, dead.version, dead.variant,
                                  rollout.from_version, starting=starting)  # fmt: skip
            why = (f"rollout #{rollout.id}: the {dead.variant.value} server (pid {dead.pid}) "
                   f"died; started again on {server.url}")  # fmt: skip
            changed = self.deployments.change(deployment.id, deployment.processes.with_(server),
                                              revision=deployment.revision, actor=self.actor,
                                              reason=why)  # fmt: skip
        return changed, server

    def rollback(self, rollout: RolloutRecord, reason: str) -> None:
        deployment = self._deployment(rollout.model)
        stable = deployment.server(Variant.STABLE)
        if stable is None:
            raise Conflict(f"{deployment.summary()} has no stable server to roll back to")
        if self._unrouted(deployment):
            why = "its router does not run and no keeper will start it again (a reboot?)"
            log.warning("%s: %s: no traffic to send back", deployment.summary(), why)
            return
        self._all_to(deployment, stable, reason)

    def _unrouted(self, deployment: DeploymentRecord) -> bool:
        """Nothing routes the model's requests, nor will: the router and its keeper died."""
        router = deployment.router
        if supervise.alive(router.pid, router.started):
            return False
        return not keeper_runs(self.launch.settings, deployment.model)

    def retire(self, rollout: RolloutRecord, promoted: bool) -> None:
        outcome = "promoted" if promoted else "rolled back"
        self.tidy(rollout.model, f"rollout #{rollout.id} {outcome}")

    def tidy(self, model: str, reason: str) -> list[ServerProcess]:
        """Stop every server of the deployment but the stable one, and drop them from the
        record; what was stopped (a rollout that ended before its controller did this).
        Nothing to do once the deployment is down: ``deploy down`` (which may run right
        after ``canary abort``, while this drains) stops every server itself."""
        deployment = self.deployments.active(model)
        if deployment is None:
            return []
        check_here(deployment)
        gone = [p for p in deployment.processes.servers if p.variant is not Variant.STABLE]
        if not gone:
            return []
        stop(gone, self.launch.grace_s, self.launch.settings)
        kept = deployment.processes.without(*(p.variant for p in gone))
        with contextlib.suppress(DeploymentDown):  # taken down meanwhile: `down` stopped them
            self.deployments.change(deployment.id, kept, revision=deployment.revision,
                                    actor=self.actor, reason=f"{reason}: stopped "
                                    f"{', '.join(p.variant.value for p in gone)}")  # fmt: skip
        return gone


def _table(deployment: DeploymentRecord, weights: Weights) -> dict[str, str | None]:
    """The server of each routed variant that gets traffic (the stable one always)."""
    shares = weights.model_dump()
    table: dict[str, str | None] = {}
    for variant in ROUTED:
        server = deployment.server(variant)
        wanted = shares[variant.value] > 0 or variant is Variant.STABLE
        table[variant.value] = server.url if server is not None and wanted else None
    return table
