"""A canary rollout and the promotion it applies, changed together in one transaction.

``start`` checks the person may start a canary (R or A of deployment), marks the approved
promotion applying and records the rollout, all or nothing. ``promoted`` finishes the
rollout and moves @production through the promotion record; ``rolled_back`` finishes it
failed (or aborted) and cancels the promotion with the reasons. ``steer`` records what a
person asks (pause, resume, abort, promote now) after checking their teams may; the
controller that holds the rollout carries it out. Refusals are audited.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from baton.core.canary_roles import CanaryAction, may_steer
from baton.core.rollout_records import (
    Change,
    Holder,
    Phase,
    RolloutRecord,
    RolloutSpec,
    RolloutTarget,
    Weights,
)
from baton.errors import BadInput, Conflict
from baton.store import canary_promotions
from baton.store.ownership import attempt, model_row, owners_in
from baton.store.people import Person
from baton.store.registry import Registry
from baton.store.rollouts import Expected, NewRollout, Rollouts
from baton.store.tx import utcnow, write

# What each person's action does to the phase, and from which phases it may.
STEERED: dict[CanaryAction, tuple[Phase, frozenset[Phase]]] = {
    CanaryAction.PAUSE: (Phase.PAUSED, frozenset({Phase.INITIALIZING, Phase.PROGRESSING})),
    CanaryAction.RESUME: (Phase.PROGRESSING, frozenset({Phase.PAUSED})),
    CanaryAction.ABORT: (
        Phase.ROLLING_BACK,
        frozenset({Phase.INITIALIZING, Phase.PROGRESSING, Phase.PAUSED}),
    ),
    CanaryAction.PROMOTE: (Phase.PROMOTING, frozenset({Phase.PROGRESSING, Phase.PAUSED})),
}


class Canaries:
    def __init__(
        self, engine: Engine, registry: Registry, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.engine = engine
        self.registry = registry
        self.rollouts = Rollouts(engine, clock)

    def start(
        self,
        model: str,
        version: int,
        actor: Person,
        reason: str | None,
        *,
        spec: RolloutSpec,
        target: RolloutTarget = RolloutTarget.LOCAL,
    ) -> RolloutRecord:
        """Start a canary of ``model:version``: its approved promotion becomes applying."""
        if max(spec.steps) > 50:
            raise BadInput(
                f"steps {list(spec.steps)}: a baseline gets as much traffic as the canary, "
                "so a step can give the canary 50 % at most (then 100 % at promotion)"
            )

        def work(conn: sa.Connection) -> int:
            row = model_row(conn, model, lock=True)
            may_steer(owners_in(conn, model).matrix, CanaryAction.START, actor.teams)
            promo = canary_promotions.begin(conn, row.id, model, version, actor.name)
            new = NewRollout(
                model=model, from_version=promo.from_version, to_version=version,
                baseline_version=promo.from_version, target=target, spec=spec,
                promotion_id=promo.id,
            )  # fmt: skip
            return self.rollouts.start_in(conn, new, actor.name, reason)

        new_id = attempt(self.engine, work, actor=actor.name, action="canary.start", model=model,
                         version=version, reason=reason)  # fmt: skip
        return self.rollouts.get(new_id)

    def steer(self, model: str, action: CanaryAction, actor: Person, reason: str) -> RolloutRecord:
        """A person pauses, resumes, aborts or promotes the model's canary now."""
        phase, allowed = STEERED[action]

        def work(conn: sa.Connection) -> int:
            row = model_row(conn, model, lock=True)
            may_steer(owners_in(conn, model).matrix, action, actor.teams)
            current = self.rollouts.active_in(conn, row.id)
            if current is None:
                raise Conflict(f"{model} has no canary in progress: nothing to {action.value}")
            if current.phase not in allowed:
                raise Conflict(
                    f"{current.summary()} is {current.phase.value}: it cannot be asked to "
                    f"{action.value} now"
                )
            change = Change(phase=phase)
            self.rollouts.change_in(conn, current.id, change, expected=Expected.of(current),
                                    actor=actor.name, reason=reason)  # fmt: skip
            return current.id

        rollout_id = attempt(self.engine, work, actor=actor.name, action=f"canary.{action.value}",
                             model=model, reason=reason)  # fmt: skip
        return self.rollouts.get(rollout_id)

    def promoted(
        self, current: RolloutRecord, actor: str, holder: Holder | None, reason: str
    ) -> RolloutRecord:
        """The canary serves all traffic: the rollout succeeded and @production moves
        through its promotion, in one transaction."""

        def work(conn: sa.Connection) -> None:
            change = Change(phase=Phase.SUCCEEDED, weights=Weights(stable=0, canary=100))
            self.rollouts.change_in(conn, current.id, change, expected=Expected.of(current),
                                    actor=actor, reason=reason, holder=holder)  # fmt: skip
            if current.promotion_id is not None:
                row = model_row(conn, current.model, lock=True)
                canary_promotions.apply(conn, self.registry, current.promotion_id, row.id,
                                        current.model, actor, reason)  # fmt: skip

        write(self.engine, work)
        return self.rollouts.get(current.id)

    def rolled_back(
        self,
        current: RolloutRecord,
        phase: Phase,
        actor: str,
        holder: Holder | None,
        reason: str,
    ) -> RolloutRecord:
        """The stable version serves all traffic again: the rollout ends ``failed`` (or
        ``aborted``) and its promotion is cancelled with ``reason``."""
        if phase not in (Phase.FAILED, Phase.ABORTED):
            raise BadInput(f"a rollback ends failed or aborted, not {phase.value}")

        def work(conn: sa.Connection) -> None:
            change = Change(phase=phase, weights=Weights(stable=100))
            self.rollouts.change_in(conn, current.id, change, expected=Expected.of(current),
                                    actor=actor, reason=reason, holder=holder)  # fmt: skip
            if current.promotion_id is not None:
                canary_promotions.cancel(conn, current.promotion_id, current.model, actor,
                                         reason)  # fmt: skip

        write(self.engine, work)
        return self.rollouts.get(current.id)
