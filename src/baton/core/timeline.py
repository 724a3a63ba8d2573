"""One model's story in time order: every recorded fact as an event with a one-line summary. Pure.

Events carry the ids of the records they come from (promotion, rollout, evaluation), so a
reader can go from a line to the record, and each canary decision carries its numbers.
Facts written in one transaction have distinct, rising timestamps; ties (a clock too coarse)
fall back to the order in which the pipeline produces them, then to the record's id.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from baton.core.history_facts import (
    AliasMove,
    GateRun,
    ModelFacts,
    PromotionFact,
    Registration,
    RenderFact,
    RolloutChange,
    RolloutFacts,
)
from baton.core.rollout_records import DecisionRecord, RolloutRecord


class EventKind(StrEnum):
    REGISTERED = "registered"
    GATE = "gate"
    PROMOTION_REQUESTED = "promotion.requested"
    APPROVED = "approved"
    PROMOTION_CANCELLED = "promotion.cancelled"
    ARCHIVED = "archived"
    ALIAS_MOVED = "alias.moved"
    RENDERED = "rendered"
    ROLLOUT_STARTED = "rollout.started"
    ROLLOUT_DECISION = "rollout.decision"
    ROLLOUT_CHANGED = "rollout.changed"


_ORDER = {kind: rank for rank, kind in enumerate(EventKind)}


@dataclass(frozen=True)
class Event:
    """One thing that happened to the model: when, what, by whom, why."""

    at: datetime
    kind: EventKind
    version: int | None  # the version it is about
    actor: str
    summary: str  # what happened, in one line, with its numbers
    reason: str | None = None  # why, as the person or the controller said
    alias: str | None = None
    promotion: int | None = None
    rollout: int | None = None
    evaluation: int | None = None
    source_id: int = 0  # the id of the record (or audit entry) it comes from
    decision: DecisionRecord | None = None  # a canary decision's per-metric numbers


def timeline(facts: ModelFacts) -> list[Event]:
    """Every fact as an event, oldest first."""
    events: list[Event] = [
        *(_registered(r) for r in facts.registrations),
        *(_gate(g) for g in facts.gate_runs),
        *(e for p in facts.promotions for e in _promotion(p)),
        *(_moved(m, facts.promotions) for m in facts.moves),
        *(_rendered(r) for r in facts.renders),
        *(e for r in facts.rollouts for e in _rollout(r)),
    ]
    return sorted(events, key=lambda e: (e.at, _ORDER[e.kind], e.source_id))


def _registered(r: Registration) -> Event:
    label = f" (label {r.label})" if r.label else ""
    return Event(r.at, EventKind.REGISTERED, r.version, r.by,
                 f"version {r.version} registered{label}, model sha256 {r.sha256[:12]}",
                 source_id=r.version)  # fmt: skip


def gate_line(g: GateRun) -> str:
    """The verdict and its reasons: "gate passed: passed accuracy, latency"."""
    against = f" against version {g.against}" if g.against is not None else ""
    reasons = "; ".join(g.reasons)
    return f"gate {g.status}{against}" + (f": {reasons}" if reasons else "")


def _gate(g: GateRun) -> Event:
    return Event(g.at, EventKind.GATE, g.version, g.by, f"version {g.version} {gate_line(g)}",
                 evaluation=g.id, source_id=g.id)  # fmt: skip


def _promotion(p: PromotionFact) -> Iterator[Event]:
    """The request, each approval, and a cancellation or an archive; a move to staging or
    production shows as the alias move it made, and a rollback is only that move."""
    if p.kind != "promote":
        return
    step = f"{p.version} to {p.target}"
    yield Event(p.requested_at, EventKind.PROMOTION_REQUESTED, p.version, p.requested_by,
                f"asked to move {step} (promotion #{p.id})", p.reason, promotion=p.id,
                source_id=p.id)  # fmt: skip
    for a in p.approvals:
        yield Event(a.at, EventKind.APPROVED, p.version, a.person,
                    f"approved {step} for {a.stage} (team {a.team}, promotion #{p.id})",
                    a.reason, promotion=p.id, source_id=p.id)  # fmt: skip
    if p.decided_at is None or p.decided_by is None:
        return
    if p.state == "cancelled":
        yield Event(p.decided_at, EventKind.PROMOTION_CANCELLED, p.version, p.decided_by,
                    f"cancelled promotion #{p.id} ({step})", promotion=p.id,
                    source_id=p.id)  # fmt: skip
    elif p.state == "applied" and p.target == "archived":
        yield Event(p.decided_at, EventKind.ARCHIVED, p.version, p.decided_by,
                    f"version {p.version} archived (promotion #{p.id})", p.reason,
                    promotion=p.id, source_id=p.id)  # fmt: skip


def move_line(m: AliasMove, promotions: Iterable[PromotionFact]) -> str:
    """ "@production 1 -> 2 (promotion #5)", "@production 2 -> 1 (rollback #7)"."""
    arrow = f"{m.previous} -> {m.version}" if m.previous is not None else f"-> {m.version}"
    via = next((p for p in promotions if p.id == m.promotion), None)
    how = ""
    if via is not None:
        how = f" (rollback #{via.id})" if via.kind == "rollback" else f" (promotion #{via.id})"
    return f"@{m.alias} {arrow}{how}"


def _moved(m: AliasMove, promotions: tuple[PromotionFact, ...]) -> Event:
    return Event(m.at, EventKind.ALIAS_MOVED, m.version, m.actor, move_line(m, promotions),
                 m.reason, alias=m.alias, promotion=m.promotion, source_id=m.entry)  # fmt: skip


def _rendered(r: RenderFact) -> Event:
    forced = " (forced past a failed gate)" if r.forced else ""
    return Event(r.at, EventKind.RENDERED, r.version, r.actor,
                 f"rendered version {r.version} for {', '.join(r.targets)} into {r.out}{forced}",
                 source_id=r.id)  # fmt: skip


def state_line(c: RolloutChange) -> str:
    failed = f", {c.failed_checks} failed checks" if c.failed_checks else ""
    return f"{c.phase.value} at step {c.step}: {c.weights}{failed}"


def _rollout(facts: RolloutFacts) -> Iterator[Event]:
    r = facts.rollout
    yield Event(r.started_at, EventKind.ROLLOUT_STARTED, r.to_version, r.started_by,
                f"{_started(r)}; {state_line(facts.initial)}", facts.initial.reason,
                promotion=r.promotion_id, rollout=r.id, source_id=r.id)  # fmt: skip
    for d in facts.decisions:
        yield Event(d.at, EventKind.ROLLOUT_DECISION, r.to_version, "controller",
                    f"rollout #{r.id} {decision_line(d)}", d.reason, rollout=r.id,
                    source_id=d.id, decision=d)  # fmt: skip
    for c in facts.changes:
        yield Event(c.at, EventKind.ROLLOUT_CHANGED, r.to_version, c.actor,
                    f"rollout #{r.id} {state_line(c)}", c.reason, rollout=r.id,
                    source_id=c.entry)  # fmt: skip


def _started(r: RolloutRecord) -> str:
    baseline = f", baseline {r.baseline_version}" if r.baseline_version is not None else ""
    steps = "/".join(str(s) for s in r.spec.steps)
    return (
        f"rollout #{r.id} started: {r.from_version} -> {r.to_version} ({r.target.value}"
        f"{baseline}, steps {steps} % every {r.spec.interval_s:g} s)"
    )


def decision_line(d: DecisionRecord) -> str:
    """ "step 1 (canary 10 %): advance, score 100 (errors pass, latency pass)"."""
    score = "no score" if d.score is None else f"score {d.score:g}"
    metrics = ", ".join(f"{name} {m.classification.value}" for name, m in d.metrics.items())
    return f"step {d.step} (canary {d.weights.canary} %): {d.decision.value}, {score}" + (
        f" ({metrics})" if metrics else ""
    )
