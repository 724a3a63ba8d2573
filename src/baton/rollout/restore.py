"""``baton deploy restore``: every deployment recorded on this machine of which nothing runs
any more (a reboot) brought back with ``deploy up``, a local canary in progress resumed;
one that runs without its keeper gets its keeper again.

Meant for the machine's start-up (a systemd unit, say): it touches nothing that runs, and
nothing recorded down, so a model taken down on purpose stays down. Through a control
plane (``BATON_URL``), the control plane's own machine is the one restored.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from baton.errors import BatonError

if TYPE_CHECKING:
    from baton.core.deployment_records import DeploymentRecord
    from baton.rollout_control import RolloutControl

BOOTED = "the machine started: `deploy restore` brought back what was recorded as deployed"


class Outcome(Enum):
    BROUGHT_BACK = "brought back"
    KEEPER_STARTED = "keeper started again"  # it ran unwatched: what runs is left alone
    RUNNING = "running"  # something of it runs, or its keeper is bringing it back
    ELSEWHERE = "elsewhere"  # recorded on another machine: restore it there
    FAILED = "failed"


@dataclass(frozen=True)
class Restored:
    model: str
    outcome: Outcome
    detail: str  # the router's address, the other machine, or what went wrong
    deployment: DeploymentRecord | None = None  # as brought back
    moved_from: str | None = None  # brought back elsewhere: its old address was taken


def restore(control: RolloutControl, drain_timeout_s: float, why: str | None) -> list[Restored]:
    """Each deployment on record, and what became of it; one that fails to come back does
    not stop the others."""
    done: list[Restored] = []
    for found in control.deployments(None):
        d = found.deployment
        if not found.here:
            done.append(Restored(d.model, Outcome.ELSEWHERE, d.hostname))
        elif found.unwatched:  # `up` starts its keeper again, nothing else (its own reason)
            try:
                control.deploy_up(d.model, drain_timeout_s, why)
            except BatonError as exc:
                done.append(Restored(d.model, Outcome.FAILED, exc.message))
                continue
            done.append(Restored(d.model, Outcome.KEEPER_STARTED, d.router.url))
        elif found.runs or found.keeper:
            done.append(Restored(d.model, Outcome.RUNNING, d.router.url))
        else:  # `up` says why not, when it cannot (a canary on another platform, say)
            try:
                back = control.deploy_up(d.model, drain_timeout_s, why or BOOTED)
            except BatonError as exc:
                done.append(Restored(d.model, Outcome.FAILED, exc.message))
                continue
            moved = d.router.url if back.router.url != d.router.url else None
            done.append(Restored(d.model, Outcome.BROUGHT_BACK, back.router.url, back, moved))
    return done
