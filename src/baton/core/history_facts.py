"""What the store recorded about one model, as plain facts: the input of ``baton history``. Pure.

The store reads its tables (versions, evaluations, promotions and approvals, renders,
rollouts and their decisions) and the audit log (alias moves, rollout changes) into these
records; ``core/timeline.py`` orders them into one story and ``core/served_at.py`` answers
"what served at time T". Keeping the reading and the reasoning apart lets both be tested
alone: the reasoning needs no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from baton.core.promotion import Approval
from baton.core.rollout_records import DecisionRecord, Phase, RolloutRecord, Weights


@dataclass(frozen=True)
class Registration:
    version: int
    label: str | None
    sha256: str
    at: datetime
    by: str


@dataclass(frozen=True)
class GateRun:
    """One evaluation of a version: its verdict and the reasons the report gives."""

    id: int
    version: int
    status: str  # passed | failed | error
    against: int | None
    at: datetime  # when it finished
    by: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class PromotionFact:
    """A promotion step (or an on-call rollback) and the approvals it gathered: in a
    model's history, and (``store.approvals.PromotionInfo``, which adds what is still
    missing) when read alone."""

    id: int
    model: str
    version: int
    kind: str  # promote | rollback
    target: str  # staging | production | archived
    state: str  # pending | applied | cancelled
    from_version: int | None
    requested_by: str
    requested_at: datetime
    reason: str
    decided_by: str | None
    decided_at: datetime | None
    approvals: tuple[Approval, ...]


@dataclass(frozen=True)
class AliasMove:
    """An alias pointed at a version, from the audit log (``alias.set``)."""

    entry: int  # the audit entry's id
    at: datetime
    alias: str
    version: int
    previous: int | None
    actor: str
    reason: str | None
    promotion: int | None  # the promotion (or rollback) applied in the same transaction


@dataclass(frozen=True)
class RenderFact:
    id: int
    at: datetime
    actor: str
    version: int
    targets: tuple[str, ...]
    out: str
    forced: bool


@dataclass(frozen=True)
class RolloutChange:
    """A rollout's state after one audited change (its start, or an update)."""

    entry: int  # the audit entry's id
    at: datetime
    actor: str
    phase: Phase
    step: int
    weights: Weights
    failed_checks: int
    reason: str | None


@dataclass(frozen=True)
class RolloutFacts:
    rollout: RolloutRecord
    initial: RolloutChange  # its state when it started
    changes: tuple[RolloutChange, ...]  # every later change, oldest first
    decisions: tuple[DecisionRecord, ...]  # every judged interval, oldest first


@dataclass(frozen=True)
class ModelFacts:
    model: str
    owner: str
    created_at: datetime
    registrations: tuple[Registration, ...]
    gate_runs: tuple[GateRun, ...]
    promotions: tuple[PromotionFact, ...]
    moves: tuple[AliasMove, ...]  # oldest first
    renders: tuple[RenderFact, ...]
    rollouts: tuple[RolloutFacts, ...]
