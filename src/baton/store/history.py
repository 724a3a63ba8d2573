"""``baton history``: one model's recorded facts, read in one snapshot, told as one story.

The tables give registrations, gate runs, promotions with their approvals, renders and
rollouts with their decisions; the audit log gives what the tables overwrite: every alias
move (the alias table keeps only the present) and every rollout change. An alias move made
by a promotion or a rollback is followed, at the next position of the chain, by that
step's own entry, which names the promotion: that is how a move finds its approvals.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

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
from baton.core.promotion import Approval
from baton.core.rollout_records import ALL_STABLE, Phase, RolloutRecord, parse_weights
from baton.core.served_at import History, history
from baton.errors import BadInput, Corrupt
from baton.store.approvals import approvals_given
from baton.store.evaluations import parse_report
from baton.store.ownership import model_row
from baton.store.ownership_tables import promotions
from baton.store.render_tables import deploy_renders
from baton.store.rollout_tables import rollout_decisions, rollouts
from baton.store.rollouts import decision_record, rollout_record, select_rollouts
from baton.store.tables import audit_log, evaluations, models, versions
from baton.store.tx import read, utcnow

_STEP_ENTRIES = ("promotion.apply", "promotion.rollback")  # written right after their move
_AUDITED = ("alias.set", *_STEP_ENTRIES, "rollout.start", "rollout.update")


def model_history(engine: Engine, name: str, at: datetime | None = None) -> History:
    """The model's timeline (up to ``at`` when given) and what served at ``at`` (or now)."""
    if at is not None and at.tzinfo is None:
        raise BadInput("give the instant with its time zone (e.g. 2026-11-24T03:00:00+00:00)")
    return history(read_facts(engine, name), at, utcnow())


def read_facts(engine: Engine, name: str) -> ModelFacts:
    with read(engine) as conn:
        if conn.dialect.name == "postgresql":  # one snapshot, like SQLite's read transaction
            conn.execution_options(isolation_level="REPEATABLE READ")
        model = model_row(conn, name)
        created_at = conn.execute(
            sa.select(models.c.created_at).where(models.c.id == model.id)
        ).scalar_one()
        entries = _audit_entries(conn, name)
        return ModelFacts(
            model=name,
            owner=model.owner,
            created_at=created_at,
            registrations=_registrations(conn, model.id),
            gate_runs=_gate_runs(conn, model.id),
            promotions=_promotions(conn, model.id, name),
            moves=_moves(entries),
            renders=_renders(conn, name),
            rollouts=_rollouts(conn, model.id, entries),
        )


def _registrations(conn: sa.Connection, model_id: int) -> tuple[Registration, ...]:
    rows = conn.execute(
        sa.select(versions).where(versions.c.model_id == model_id).order_by(versions.c.number)
    )
    return tuple(
        Registration(r.number, r.label, r.sha256, r.created_at, r.created_by) for r in rows
    )


def _gate_runs(conn: sa.Connection, model_id: int) -> tuple[GateRun, ...]:
    mine, other = versions.alias("mine"), versions.alias("other")
    rows = conn.execute(
        sa.select(evaluations, mine.c.number, other.c.number.label("against_number"))
        .join(mine, mine.c.id == evaluations.c.version_id)
        .outerjoin(other, other.c.id == evaluations.c.against_version_id)
        .where(mine.c.model_id == model_id)
        .order_by(evaluations.c.id)
    )
    runs = []
    for r in rows:
        verdict = parse_report(r.report, r.id).verdict
        reasons = tuple(verdict.reasons) if verdict is not None else ()
        if r.error and r.error not in reasons:
            reasons += (r.error,)
        runs.append(
            GateRun(r.id, r.number, r.status, r.against_number, r.finished_at, r.actor, reasons)
        )
    return tuple(runs)


def _promotions(conn: sa.Connection, model_id: int, name: str) -> tuple[PromotionFact, ...]:
    rows = conn.execute(
        sa.select(promotions, versions.c.number)
        .join(versions, versions.c.id == promotions.c.version_id)
        .where(promotions.c.model_id == model_id)
        .order_by(promotions.c.id)
    ).all()
    given = approvals_given(conn, [r.id for r in rows])
    return tuple(_promotion(r, name, given.get(r.id, ())) for r in rows)


def _promotion(r: Any, name: str, given: tuple[Approval, ...]) -> PromotionFact:
    return PromotionFact(
        r.id, name, r.number, r.kind, r.target, r.state, r.from_version, r.requested_by,
        r.requested_at, r.reason, r.decided_by, r.decided_at, given,
    )  # fmt: skip


def _audit_entries(conn: sa.Connection, name: str) -> list[Any]:
    """The model's entries that record moves and rollout changes, in chain order."""
    return list(
        conn.execute(
            sa.select(audit_log)
            .where(audit_log.c.model == name, audit_log.c.action.in_(_AUDITED))
            .order_by(audit_log.c.seq, audit_log.c.id)
        )
    )


def _moves(entries: Sequence[Any]) -> tuple[AliasMove, ...]:
    moves = []
    for i, e in enumerate(entries):
        if e.action != "alias.set":
            continue
        alias, previous = e.detail.get("alias"), e.detail.get("previous")
        if not isinstance(alias, str) or e.version is None or not _int_or_none(previous):
            raise Corrupt(f"audit entry #{e.id} (alias.set) does not say which alias moved where")
        after = entries[i + 1] if i + 1 < len(entries) else None
        promotion = None
        if after is not None and after.seq == e.seq + 1 and after.action in _STEP_ENTRIES:
            found = after.detail.get("promotion")
            promotion = found if isinstance(found, int) else None
        moves.append(
            AliasMove(e.id, e.at, alias, e.version, previous, e.actor, e.reason, promotion)
        )
    return tuple(moves)


def _int_or_none(value: object) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def _renders(conn: sa.Connection, name: str) -> tuple[RenderFact, ...]:
    rows = conn.execute(
        sa.select(deploy_renders)
        .where(deploy_renders.c.model == name)
        .order_by(deploy_renders.c.id)
    )
    return tuple(
        RenderFact(r.id, r.at, r.actor, r.version, tuple(r.targets), r.out, bool(r.forced))
        for r in rows
    )


def _rollouts(
    conn: sa.Connection, model_id: int, entries: Sequence[Any]
) -> tuple[RolloutFacts, ...]:
    records = [
        rollout_record(r)
        for r in conn.execute(
            select_rollouts().where(rollouts.c.model_id == model_id).order_by(rollouts.c.id)
        )
    ]
    decided: dict[int, list[Any]] = {}
    for d in conn.execute(
        sa.select(rollout_decisions)
        .where(rollout_decisions.c.rollout_id.in_([r.id for r in records]))
        .order_by(rollout_decisions.c.id)
    ):
        decided.setdefault(d.rollout_id, []).append(decision_record(d))
    out = []
    for record in records:
        about = [e for e in entries if _about(e, record.id)]
        initial = _unrecorded_start(record)
        if about and about[0].action == "rollout.start":
            initial = _change(about.pop(0))
        changes = tuple(_change(e) for e in about)
        out.append(RolloutFacts(record, initial, changes, tuple(decided.get(record.id, ()))))
    return tuple(out)


def _about(entry: Any, rollout_id: int) -> bool:
    return entry.action in ("rollout.start", "rollout.update") and (
        entry.detail.get("rollout") == rollout_id
    )


def _change(e: Any) -> RolloutChange:
    """A rollout's state as one audit entry records it (start and update carry it whole)."""
    try:
        phase = Phase(e.detail["phase"])
        weights = parse_weights(e.detail["weights"], f"audit entry #{e.id}'s weights")
        step, failed = int(e.detail.get("step", 0)), int(e.detail.get("failed_checks", 0))
    except (KeyError, ValueError, TypeError, BadInput) as exc:
        raise Corrupt(f"audit entry #{e.id} ({e.action}) cannot be read: {exc}") from None
    return RolloutChange(e.id, e.at, e.actor, phase, step, weights, failed, e.reason)


def _unrecorded_start(record: RolloutRecord) -> RolloutChange:
    """A rollout whose start entry is missing (written around the repository): it started
    with all traffic on the stable version, as every rollout does."""
    return RolloutChange(0, record.started_at, record.started_by, Phase.INITIALIZING, 0,
                         ALL_STABLE, 0, None)  # fmt: skip
