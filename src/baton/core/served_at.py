"""What served at an instant, who approved it and why. Pure.

Aliases are replayed from their recorded moves up to the instant: the alias table holds only
the present, the audit log holds every move. For each alias the answer names the move that
put the version there, the promotion (or rollback) applied with it and its approvals, the
gate verdict the version had at that moment, and the rollout that carried it, if any. A
rollout in progress at the instant is reported with the traffic weights it had then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from baton.core.history_facts import (
    AliasMove,
    GateRun,
    ModelFacts,
    PromotionFact,
    RolloutChange,
    RolloutFacts,
)
from baton.core.rollout_records import Phase, Weights
from baton.core.timeline import Event, timeline


@dataclass(frozen=True)
class AliasAt:
    """One alias at the instant: its version, since when, and what put it there."""

    alias: str
    version: int
    since: datetime
    moved_by: str
    reason: str | None  # the reason given with the move
    promotion: PromotionFact | None  # the promotion or rollback applied with the move
    gate: GateRun | None  # the version's latest gate verdict when it moved there
    rollout: int | None  # the rollout that applied the promotion, if one did


@dataclass(frozen=True)
class RolloutAt:
    """A rollout in progress at the instant, in the state it had then."""

    id: int
    from_version: int
    to_version: int
    baseline_version: int | None
    phase: Phase
    step: int
    weights: Weights
    since: datetime  # when it reached this state
    started_by: str


@dataclass(frozen=True)
class ServedAt:
    at: datetime
    aliases: tuple[AliasAt, ...]  # by name; production, when set, is among them
    rollout: RolloutAt | None

    def alias(self, name: str) -> AliasAt | None:
        return next((a for a in self.aliases if a.alias == name), None)


@dataclass(frozen=True)
class History:
    """``baton history``: the model's timeline and what served at the instant asked about."""

    model: str
    owner: str
    created_at: datetime
    at: datetime | None  # the instant asked about; None: the whole story up to now
    events: tuple[Event, ...]  # oldest first; with ``at``, those up to it
    served: ServedAt  # at ``at``, or now


def history(facts: ModelFacts, at: datetime | None, now: datetime) -> History:
    events = timeline(facts)
    if at is not None:
        events = [e for e in events if e.at <= at]
    return History(
        facts.model, facts.owner, facts.created_at, at, tuple(events), served_at(facts, at or now)
    )


def served_at(facts: ModelFacts, at: datetime) -> ServedAt:
    latest: dict[str, AliasMove] = {}
    for move in facts.moves:  # oldest first: the last one up to ``at`` wins
        if move.at <= at:
            latest[move.alias] = move
    aliases = tuple(_alias_at(facts, latest[name]) for name in sorted(latest))
    return ServedAt(at, aliases, _rollout_at(facts.rollouts, at))


def _alias_at(facts: ModelFacts, move: AliasMove) -> AliasAt:
    promotion = next((p for p in facts.promotions if p.id == move.promotion), None)
    rollout = None
    if promotion is not None:
        rollout = next(
            (r.rollout.id for r in facts.rollouts if r.rollout.promotion_id == promotion.id), None
        )
    return AliasAt(
        alias=move.alias,
        version=move.version,
        since=move.at,
        moved_by=move.actor,
        reason=move.reason,
        promotion=promotion,
        gate=verdict_at(facts.gate_runs, move.version, move.at),
        rollout=rollout,
    )


def verdict_at(runs: tuple[GateRun, ...], version: int, at: datetime) -> GateRun | None:
    """The version's latest gate run finished by ``at`` (what promotion checked)."""
    done = [g for g in runs if g.version == version and g.at <= at]
    return max(done, key=lambda g: (g.at, g.id), default=None)


def _rollout_at(rollouts: tuple[RolloutFacts, ...], at: datetime) -> RolloutAt | None:
    for facts in rollouts:
        r = facts.rollout
        if r.started_at > at or (r.finished_at is not None and r.finished_at <= at):
            continue
        state = _state_at(facts, at)
        return RolloutAt(
            r.id, r.from_version, r.to_version, r.baseline_version, state.phase, state.step,
            state.weights, state.at, r.started_by,
        )  # fmt: skip
    return None


def _state_at(facts: RolloutFacts, at: datetime) -> RolloutChange:
    state = facts.initial
    for change in facts.changes:
        if change.at <= at:
            state = change
    return state
