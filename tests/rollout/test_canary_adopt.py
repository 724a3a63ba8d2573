"""Live: a rollout whose controller *and* supervisor die (``kill -9`` of both, as a host
reboot leaves it) is not left without an owner: once the lease expired, status says it is
orphaned and since when, and the deployment's keeper adopts it (audited), starting a
controller that takes the lease over and resumes from the recorded step; the rollout is
promoted and no request fails meanwhile. After a reboot, which kills the keeper and every
server too, ``deploy up`` brings the deployment back as recorded and the canary resumes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from baton.core.deployment_records import DeploymentRecord
from baton.core.rollout_records import Decision, Phase
from baton.rollout import supervise
from baton.rollout.canary_service import CanaryStatus, status
from baton.rollout.keeper_process import find_keeper
from baton.rollout.local_deploy import GONE_MID_CANARY
from baton.store.deployments import Deployments
from tests.rollout.canary_live import MODEL, Live, live_fixture  # noqa: F401 (the fixture)
from tests.rollout.test_canary_promote import holder_after, parent_of
from tests.waiting import wait_until

VARIANTS = ["good", "good-again"]
pytestmark = [pytest.mark.canary, pytest.mark.xdist_group("canary")]


def test_the_keeper_adopts_a_rollout_whose_controller_and_supervisor_died(live: Live) -> None:
    with live.load(seed=11) as load:
        rollout = live.start("good")
        first = holder_after(live, rollout, step=1)
        os.kill(parent_of(first.pid), signal.SIGKILL)  # the supervisor, then its controller
        os.kill(first.pid, signal.SIGKILL)
        at_kill = live.canaries.rollouts.get(rollout.id)

        def orphan() -> CanaryStatus | None:
            found = status(live.store, MODEL, live.settings)
            return found if found.orphaned_since is not None else None

        orphaned = wait_until(orphan, "the lease to expire", timeout=30)
        assert orphaned is not None
        assert orphaned.keeper and not orphaned.owned
        assert orphaned.rollout.lease is not None
        assert orphaned.orphaned_since == orphaned.rollout.lease.expires_at

        def adopted() -> object:
            lease = live.canaries.rollouts.get(rollout.id).lease
            return lease is not None and lease.holder != first and lease.holder

        wait_until(adopted, "the keeper's controller to take the rollout", timeout=60)
        done = live.wait(rollout, Phase.SUCCEEDED, Phase.FAILED)
    decisions = live.decisions(rollout)
    assert done.phase is Phase.SUCCEEDED, [(d.decision.value, d.reason) for d in decisions]
    assert live.production() == live.versions["good"]
    entries = live.store.registry.log_entries(MODEL, limit=500)
    adoption = [e for e in entries if e.action == "rollout.adopt"]
    assert len(adoption) == 1 and adoption[0].actor.startswith("keeper:")
    assert adoption[0].detail["last_holder"] == str(first)
    assert int(str(adoption[0].detail["step"])) >= at_kill.step
    claims = [e.detail.get("took_over_from") for e in reversed(entries)
              if e.action == "rollout.lease.claim"
              and e.detail.get("rollout") == rollout.id]  # fmt: skip
    assert claims == [None, str(first)], claims
    # resumed from its step: no step judged again from the start
    steps = [d.step for d in decisions if d.decision is not Decision.HOLD]
    assert steps == sorted(steps) and steps[-1] == len(done.spec.steps) - 1
    assert load.tally.failed() == {}, load.tally.counts


def test_deploy_up_after_a_reboot_mid_canary_brings_it_back_and_the_canary_resumes(
    live: Live,
) -> None:
    """The keeper, the router, every server, the controller and its supervisor die at once
    at step 2. ``deploy up`` starts the stable server and the router again, on the same
    address, sending it everything; the keeper hands the rollout to a controller, which
    starts the baseline and canary again and resumes at the recorded step."""
    with live.load(seed=12):  # the judge needs traffic to take a step
        rollout = live.start("good-again")
        first = holder_after(live, rollout, step=1)
    deployments = Deployments(live.store.engine)
    before = deployments.active(MODEL)
    keeper = find_keeper(live.settings, MODEL)
    assert before is not None and keeper is not None and len(before.processes.servers) == 3
    victims = [(keeper.pid, keeper.started), (parent_of(first.pid), None), (first.pid, None),
               (before.router.pid, before.router.started),
               *((s.pid, s.started) for s in before.processes.servers)]  # fmt: skip
    for pid, _ in victims:  # the keeper first: it would start the router again
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not any(supervise.alive(*v) for v in victims), "every kill")
    at_reboot = live.canaries.rollouts.get(rollout.id)
    assert at_reboot.active and at_reboot.step >= 1

    up = live.cli("deploy", "up", MODEL)
    said = " ".join(up.stdout.split())
    assert f"brought back {MODEL}:{at_reboot.from_version} behind the router at" in said, said
    assert f"was progressing at step {at_reboot.step + 1}: the keeper hands it" in said, said
    back = deployments.active(MODEL)
    assert back is not None and back.id == before.id and back.router.url == before.router.url
    with live.load(seed=13) as load:  # served from the first request on
        done = live.wait(rollout, Phase.SUCCEEDED, Phase.FAILED)
    decisions = live.decisions(rollout)
    assert done.phase is Phase.SUCCEEDED, [(d.decision.value, d.reason) for d in decisions]
    assert live.production() == live.versions["good-again"]
    assert load.tally.failed() == {}, load.tally.counts
    steps = [d.step for d in decisions if d.decision is not Decision.HOLD]
    assert steps == sorted(steps) and steps[-1] == len(done.spec.steps) - 1  # resumed
    assert GONE_MID_CANARY in live.audit("deploy.change")

    def retired() -> DeploymentRecord | None:  # the controller stops the rest after the end
        found = deployments.active(MODEL)
        return found if found is not None and len(found.processes.servers) == 1 else None

    final = wait_until(retired, "the baseline and the old stable server to stop", timeout=60)
    assert final.processes.servers[0].version == live.versions["good-again"]
    targets = {p.name for p in (live.home / "monitor" / "targets").glob("*.json")}
    live_ones = (final.router.url, final.processes.servers[0].url)
    assert targets == {_target_name(url) for url in live_ones}  # none of the dead is scraped


def _target_name(url: str) -> str:
    return Path(url.removeprefix("http://").replace(":", "_") + ".json").name
