"""Canary rollouts in the store: start, read, move step by step, record each decision, lease.

The controller keeps all its state here, so a restarted controller resumes where the last
one stopped. Three rules hold on SQLite and PostgreSQL alike:

- one active rollout per model: ``start`` checks under a lock on the model's row and the
  unique ``slot`` column refuses a second one even to a writer that skipped the check;
- changes are compare-and-set: an update names the phase and step it expects, and loses
  (``Conflict``) if another writer (a person pausing, a second controller) moved first;
- one controller per rollout: a lease (host, pid, expiry) that only its holder renews,
  and that another process may take over once it expired.

Every change writes its audit entry in the same transaction. Lease renewals (heartbeats)
change no state anyone acts on and are not audited; claims, take-overs and releases are.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from baton.core.rollout_records import (
    ALL_STABLE,
    Change,
    Decision,
    DecisionRecord,
    Holder,
    Lease,
    MetricResult,
    Phase,
    RolloutRecord,
    RolloutSpec,
    RolloutTarget,
    Weights,
    lease_for,
    parse_metrics,
    parse_spec,
    parse_weights,
)
from baton.errors import BadInput, BatonError, Conflict, Corrupt, NotFound
from baton.store.model_rows import in_slot, one_with_model_name, slot_of, with_model_name
from baton.store.ownership import attempt, model_row
from baton.store.ownership_tables import promotions
from baton.store.rollout_tables import rollout_decisions, rollouts
from baton.store.tables import audit_log, versions
from baton.store.tx import append_entry, find_version_id, insert_id, read, utcnow, write


@dataclass(frozen=True)
class NewRollout:
    """What ``start`` needs: the model, where traffic moves from and to, and how."""

    model: str
    from_version: int
    to_version: int
    baseline_version: int | None = None
    target: RolloutTarget = RolloutTarget.LOCAL
    spec: RolloutSpec = field(default_factory=RolloutSpec)
    weights: Weights = ALL_STABLE
    promotion_id: int | None = None


@dataclass(frozen=True)
class NewDecision:
    """One judged interval, as the controller hands it over."""

    step: int
    weights: Weights
    score: float | None
    decision: Decision
    reason: str
    metrics: dict[str, MetricResult] = field(default_factory=dict)


@dataclass(frozen=True)
class Expected:
    """The phase and step an update was computed from (compare and set)."""

    phase: Phase
    step: int

    @classmethod
    def of(cls, record: RolloutRecord) -> Expected:
        return cls(record.phase, record.step)


class Rollouts:
    """The rollout repository; ``clock`` is passed in so tests can expire a lease."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    # -- writes ---------------------------------------------------------------------------

    def start(self, new: NewRollout, actor: str, reason: str | None = None) -> RolloutRecord:
        """Record a new rollout in ``initializing``; refused while the model has one active."""
        new_id = attempt(
            self.engine,
            lambda conn: self.start_in(conn, new, actor, reason),
            actor=actor,
            action="rollout.start",
            model=new.model,
            version=new.to_version,
            reason=reason,
            detail={"from": new.from_version, "to": new.to_version},
        )
        return self.get(new_id)

    def start_in(
        self, conn: sa.Connection, new: NewRollout, actor: str, reason: str | None = None
    ) -> int:
        """``start`` inside the caller's transaction (a canary starts its rollout and marks
        its promotion applying in one); returns the new rollout's id."""
        if new.from_version == new.to_version:
            raise BadInput(
                f"{new.model}:{new.to_version} is both the stable version and the canary: "
                "roll out a different version"
            )
        row = model_row(conn, new.model, lock=True)
        running = in_slot(conn, rollouts, row.id)
        if running is not None:
            raise Conflict(_already_running(rollout_record(running)))
        for number in (new.from_version, new.to_version, new.baseline_version):
            if number is not None:
                find_version_id(conn, new.model, number, model_id=row.id)
        if new.promotion_id is not None:
            _check_promotion(conn, row.id, new)
        now = self.clock()
        new_id = insert_id(conn, rollouts.insert().values(**_new_row(new, row.id, actor, now)))
        detail = {
            "rollout": new_id, "from": new.from_version, "to": new.to_version,
            "baseline": new.baseline_version, "target": new.target.value,
            "phase": Phase.INITIALIZING.value, "step": 0,
            "weights": new.weights.model_dump(), "spec": new.spec.model_dump(mode="json"),
            "promotion": new.promotion_id,
        }  # fmt: skip
        append_entry(conn, actor, "rollout.start", new.model, new.to_version, reason, detail)
        return new_id

    def update(
        self,
        rollout_id: int,
        change: Change,
        *,
        expected: Expected,
        actor: str,
        reason: str | None = None,
        holder: Holder | None = None,
    ) -> RolloutRecord:
        """Move a rollout (phase, step, weights, failed checks) if it is where ``expected``
        says; with ``holder``, only while that controller holds the lease."""
        write(
            self.engine,
            lambda conn: self._change(conn, rollout_id, change, expected, actor, reason, holder),
        )
        return self.get(rollout_id)

    def change_in(
        self,
        conn: sa.Connection,
        rollout_id: int,
        change: Change,
        *,
        expected: Expected,
        actor: str,
        reason: str | None = None,
        holder: Holder | None = None,
    ) -> None:
        """``update`` inside the caller's transaction (a canary's last step moves the alias
        through its promotion and finishes the rollout in one)."""
        self._change(conn, rollout_id, change, expected, actor, reason, holder)

    def record_decision(
        self,
        rollout_id: int,
        decision: NewDecision,
        *,
        expected: Expected,
        actor: str,
        change: Change | None = None,
        holder: Holder | None = None,
        alert: str | None = None,
    ) -> DecisionRecord:
        """Keep one judged interval and, in the same transaction, the change it leads to
        (and with ``alert``, an alert event: whoever sees the change sees the alert)."""
        _check_score(decision.score)

        def work(conn: sa.Connection) -> int:
            current = self._current(conn, rollout_id, expected, holder)
            if current.phase.finished:
                raise Conflict(f"{current.summary()} has {current.phase.value}: nothing to judge")
            if not 0 <= decision.step <= len(current.spec.steps):
                raise BadInput(f"step {decision.step} is not a step of {current.summary()}")
            decision_id = insert_id(
                conn,
                rollout_decisions.insert().values(
                    rollout_id=rollout_id,
                    at=self.clock(),
                    step=decision.step,
                    weights=decision.weights.model_dump(),
                    score=decision.score,
                    decision=decision.decision.value,
                    reason=decision.reason,
                    metrics={k: v.model_dump(mode="json") for k, v in decision.metrics.items()},
                ),
            )
            detail = {
                "rollout": rollout_id, "decision": decision_id, "step": decision.step,
                "weights": decision.weights.model_dump(), "score": decision.score,
                "outcome": decision.decision.value,
                "metrics": {k: v.classification.value for k, v in decision.metrics.items()},
            }  # fmt: skip
            append_entry(conn, actor, "rollout.decision", current.model, current.to_version,
                  decision.reason, detail)  # fmt: skip
            if change is not None:
                self._change(conn, rollout_id, change, expected, actor, decision.reason, holder)
            if alert is not None:
                _alert(conn, rollout_record(_one(conn, rollout_id)), actor, alert, "critical")
            return decision_id

        decision_id = write(self.engine, work)
        return next(d for d in self.decisions(rollout_id) if d.id == decision_id)

    def alerts(self, model: str, rollout_id: int) -> builtins.list[tuple[datetime, str, str]]:
        """The rollout's alert events, oldest first: (when, severity, message)."""
        query = (
            sa.select(audit_log.c.at, audit_log.c.reason, audit_log.c.detail)
            .where(audit_log.c.model == model, audit_log.c.action == "rollout.alert")
            .order_by(audit_log.c.id)
        )
        with read(self.engine) as conn:
            return [
                (at, str(detail.get("severity", "")), str(reason or ""))
                for at, reason, detail in conn.execute(query)
                if isinstance(detail, dict) and detail.get("rollout") == rollout_id
            ]

    # -- the lease ------------------------------------------------------------------------

    def claim(self, rollout_id: int, holder: Holder, ttl_s: float) -> RolloutRecord:
        """Take the rollout for this controller: free, expired, or already ours."""

        def work(conn: sa.Connection) -> None:
            current = rollout_record(_one(conn, rollout_id, lock=True))
            if current.phase.finished:
                raise Conflict(f"{current.summary()} has {current.phase.value}: nothing to run")
            now = self.clock()
            before = current.lease
            if before is not None and before.holder != holder and not before.expired(now):
                raise Conflict(_held(current, before, now))
            _set_lease(conn, rollout_id, lease_for(holder, now, ttl_s))
            why = took_over = None
            if before is not None and before.holder != holder:
                took_over = str(before.holder)
                why = f"the lease of {took_over} expired at {before.expires_at.isoformat()}"
            detail = {"rollout": rollout_id, "pid": holder.pid, "host": holder.host,
                      "ttl_s": ttl_s, "took_over_from": took_over}  # fmt: skip
            append_entry(conn, _controller(holder), "rollout.lease.claim", current.model,
                  current.to_version, why, detail)  # fmt: skip

        write(self.engine, work)
        return self.get(rollout_id)

    def renew(self, rollout_id: int, holder: Holder, ttl_s: float) -> Lease:
        """The heartbeat: extend our lease; Conflict when another controller took it over
        (the caller must stop acting on the rollout at once)."""

        def work(conn: sa.Connection) -> Lease:
            current = rollout_record(_one(conn, rollout_id, lock=True))
            if current.lease is None or current.lease.holder != holder:
                raise Conflict(_lost(current, holder))
            lease = lease_for(holder, self.clock(), ttl_s)
            _set_lease(conn, rollout_id, lease)
            return lease

        return write(self.engine, work)

    def release(self, rollout_id: int, holder: Holder) -> None:
        """Give the rollout up (a controller stopping cleanly); nothing if it holds none."""

        def work(conn: sa.Connection) -> None:
            current = rollout_record(_one(conn, rollout_id, lock=True))
            if current.lease is None:
                return
            if current.lease.holder != holder:
                raise Conflict(_lost(current, holder))
            _set_lease(conn, rollout_id, None)
            detail = {"rollout": rollout_id, "pid": holder.pid, "host": holder.host}
            append_entry(conn, _controller(holder), "rollout.lease.release", current.model,
                  current.to_version, None, detail)  # fmt: skip

        write(self.engine, work)

    def orphaned(self, rollout_id: int, actor: str, reason: str) -> bool:
        """Audit that the rollout has no owner and ``actor`` starts one; False (nothing
        written) when it finished or a controller holds it again meanwhile."""

        def work(conn: sa.Connection) -> bool:
            current = rollout_record(_one(conn, rollout_id, lock=True))
            lease = current.lease
            if not current.active or (lease is not None and not lease.expired(self.clock())):
                return False
            detail = {"rollout": rollout_id, "phase": current.phase.value,
                      "step": current.step, "weights": current.weights.model_dump(),
                      "last_holder": None if lease is None else str(lease.holder)}  # fmt: skip
            append_entry(conn, actor, "rollout.adopt", current.model, current.to_version,
                         reason, detail)  # fmt: skip
            return True

        return write(self.engine, work)

    # -- reads ----------------------------------------------------------------------------

    def get(self, rollout_id: int) -> RolloutRecord:
        with read(self.engine) as conn:
            return rollout_record(_one(conn, rollout_id))

    def active(self, model: str) -> RolloutRecord | None:
        """The model's rollout in progress (any phase but succeeded, failed, aborted)."""
        with read(self.engine) as conn:
            return self.active_in(conn, model_row(conn, model).id)

    def active_in(self, conn: sa.Connection, model_id: int) -> RolloutRecord | None:
        """``active`` inside the caller's transaction, by the model's row id."""
        found = in_slot(conn, rollouts, model_id)
        return None if found is None else rollout_record(found)

    def list(self, model: str | None = None, limit: int = 100) -> list[RolloutRecord]:
        """Rollouts newest first, of one model or all."""
        query = select_rollouts().order_by(rollouts.c.id.desc()).limit(limit)
        with read(self.engine) as conn:
            if model is not None:
                query = query.where(rollouts.c.model_id == model_row(conn, model).id)
            return [rollout_record(r) for r in conn.execute(query)]

    def resumable(self) -> builtins.list[RolloutRecord]:
        """Active rollouts no controller holds (no lease, or an expired one): the ones a
        starting controller should take over."""
        now = self.clock()
        with read(self.engine) as conn:
            rows = conn.execute(
                select_rollouts().where(rollouts.c.slot.is_not(None)).order_by(rollouts.c.id)
            )
            found = [rollout_record(r) for r in rows]
        return [r for r in found if r.lease is None or r.lease.expired(now)]

    def asked(self, model: str, rollout_id: int, phase: Phase) -> tuple[str, str | None] | None:
        """Who last moved the rollout to ``phase``, and why (from the audit log): the
        controller finishing an abort says whose it was."""
        query = (
            sa.select(audit_log.c.actor, audit_log.c.reason, audit_log.c.detail)
            .where(audit_log.c.model == model, audit_log.c.action == "rollout.update")
            .order_by(audit_log.c.id.desc())
            .limit(500)
        )
        with read(self.engine) as conn:
            for actor, reason, detail in conn.execute(query):
                if (
                    isinstance(detail, dict)
                    and detail.get("rollout") == rollout_id
                    and detail.get("phase") == phase.value
                    and detail.get("from_phase") != phase.value
                ):
                    return str(actor), reason
        return None

    def decisions(self, rollout_id: int) -> builtins.list[DecisionRecord]:
        """A rollout's judged intervals, oldest first."""
        query = (
            sa.select(rollout_decisions)
            .where(rollout_decisions.c.rollout_id == rollout_id)
            .order_by(rollout_decisions.c.id)
        )
        with read(self.engine) as conn:
            _one(conn, rollout_id)
            return [decision_record(r) for r in conn.execute(query)]

    # -- helpers --------------------------------------------------------------------------

    def _current(
        self, conn: sa.Connection, rollout_id: int, expected: Expected, holder: Holder | None
    ) -> RolloutRecord:
        """The rollout, locked, checked to be where the caller thinks and held by it."""
        current = rollout_record(_one(conn, rollout_id, lock=True))
        if (current.phase, current.step) != (expected.phase, expected.step):
            raise Conflict(
                f"{current.summary()} moved meanwhile: it is {current.phase.value} at step "
                f"{current.step}, not {expected.phase.value} at step {expected.step}; read it "
                "again and decide anew"
            )
        if holder is not None:
            lease = current.lease
            if lease is None or lease.holder != holder or lease.expired(self.clock()):
                raise Conflict(_lost(current, holder))
        return current

    def _change(
        self,
        conn: sa.Connection,
        rollout_id: int,
        change: Change,
        expected: Expected,
        actor: str,
        reason: str | None,
        holder: Holder | None,
    ) -> None:
        current = self._current(conn, rollout_id, expected, holder)
        change.check(current)
        now = self.clock()
        values: dict[str, Any] = {"updated_at": now}
        if change.phase is not None:
            values["phase"] = change.phase.value
            if change.phase.finished:
                values.update(slot=None, finished_at=now, reason=reason, **_NO_LEASE)
        if change.step is not None:
            values["step"] = change.step
        if change.weights is not None:
            values["weights"] = change.weights.model_dump()
        if change.failed_checks is not None:
            values["failed_checks"] = change.failed_checks
        moved = conn.execute(
            rollouts.update()
            .where(
                rollouts.c.id == rollout_id,
                rollouts.c.phase == expected.phase.value,
                rollouts.c.step == expected.step,
            )
            .values(**values)
        )
        if moved.rowcount != 1:
            raise Conflict(f"{current.summary()} moved meanwhile: read it again and decide anew")
        append_entry(conn, actor, "rollout.update", current.model, current.to_version, reason,
              _change_detail(current, change))  # fmt: skip


_NO_LEASE: dict[str, Any] = {
    "lease_pid": None,
    "lease_host": None,
    "lease_heartbeat_at": None,
    "lease_expires_at": None,
}


def _alert(
    conn: sa.Connection, current: RolloutRecord, actor: str, message: str, severity: str
) -> None:
    detail = {"rollout": current.id, "severity": severity, "phase": current.phase.value,
              "step": current.step, "weights": current.weights.model_dump()}  # fmt: skip
    append_entry(conn, actor, "rollout.alert", current.model, current.to_version, message,
                 detail)  # fmt: skip


def _controller(holder: Holder) -> str:
    return f"controller:{holder.host}:{holder.pid}"


def _new_row(new: NewRollout, model_id: int, actor: str, now: datetime) -> dict[str, Any]:
    return {
        "model_id": model_id,
        "from_version": new.from_version,
        "to_version": new.to_version,
        "baseline_version": new.baseline_version,
        "target": new.target.value,
        "phase": Phase.INITIALIZING.value,
        "step": 0,
        "weights": new.weights.model_dump(),
        "spec": new.spec.model_dump(mode="json"),
        "failed_checks": 0,
        "promotion_id": new.promotion_id,
        "slot": slot_of(model_id),
        "started_by": actor,
        "started_at": now,
        "updated_at": now,
    }


def _change_detail(current: RolloutRecord, change: Change) -> dict[str, object]:
    """What changed, old and new, so the audit log alone tells the rollout's story."""
    after_weights = change.weights or current.weights
    return {
        "rollout": current.id,
        "phase": (change.phase or current.phase).value,
        "from_phase": current.phase.value,
        "step": current.step if change.step is None else change.step,
        "from_step": current.step,
        "weights": after_weights.model_dump(),
        "failed_checks": (
            current.failed_checks if change.failed_checks is None else change.failed_checks
        ),
    }


def _check_score(score: float | None) -> None:
    if score is not None and not 0 <= score <= 100:
        raise BadInput(f"a decision's score is 0 to 100 (or none), not {score}")


def _check_promotion(conn: sa.Connection, model_id: int, new: NewRollout) -> None:
    """The promotion a rollout applies must be this model's, for the canary's version."""
    found = conn.execute(
        sa.select(promotions.c.model_id, promotions.c.target, versions.c.number)
        .join(versions, versions.c.id == promotions.c.version_id)
        .where(promotions.c.id == new.promotion_id)
    ).first()
    if found is None or found.model_id != model_id:
        raise NotFound(f"{new.model} has no promotion #{new.promotion_id}")
    if found.number != new.to_version or found.target != "production":
        raise BadInput(
            f"promotion #{new.promotion_id} moves {new.model}:{found.number} to {found.target}, "
            f"not {new.model}:{new.to_version} to production"
        )


def _set_lease(conn: sa.Connection, rollout_id: int, lease: Lease | None) -> None:
    values = _NO_LEASE if lease is None else {
        "lease_pid": lease.holder.pid,
        "lease_host": lease.holder.host,
        "lease_heartbeat_at": lease.heartbeat_at,
        "lease_expires_at": lease.expires_at,
    }  # fmt: skip
    conn.execute(rollouts.update().where(rollouts.c.id == rollout_id).values(**values))


def _already_running(running: RolloutRecord) -> str:
    return (
        f"{running.model} already has rollout #{running.id} in progress "
        f"({running.from_version} -> {running.to_version}, {running.phase.value} at step "
        f"{running.step}, started by {running.started_by}): one rollout per model at a time; "
        f"wait for it or abort it (`baton canary abort {running.model}`)"
    )


def _held(current: RolloutRecord, lease: Lease, now: datetime) -> str:
    left = (lease.expires_at - now).total_seconds()
    return (
        f"{current.summary()} is run by the controller {lease.holder} (last heartbeat "
        f"{lease.heartbeat_at.isoformat(timespec='seconds')}, lease good for {left:.0f} s "
        "more): never two controllers on one rollout; stop that one, or wait for its lease "
        "to expire"
    )


def _lost(current: RolloutRecord, holder: Holder) -> str:
    who = "nobody" if current.lease is None else f"the controller {current.lease.holder}"
    return (
        f"the controller {holder} no longer holds {current.summary()} ({who} does): it "
        "must stop acting on it"
    )


def select_rollouts() -> sa.Select[Any]:
    return with_model_name(rollouts)


def _one(conn: sa.Connection, rollout_id: int, *, lock: bool = False) -> Any:
    missing = f"there is no rollout #{rollout_id}: `baton history MODEL` lists them"
    return one_with_model_name(conn, rollouts, rollout_id, missing=missing, lock=lock)


def rollout_record(row: Any) -> RolloutRecord:
    """A stored row, its JSON parsed and checked once; unreadable data is Corrupt."""
    what = f"rollout #{row.id}"
    try:
        weights = parse_weights(row.weights, f"{what}'s weights")
        spec = parse_spec(row.spec, f"{what}'s spec")
        phase, target = Phase(row.phase), RolloutTarget(row.target)
    except (BatonError, ValueError) as exc:
        raise Corrupt(f"{what} has a stored record baton cannot read ({exc})") from None
    lease = None
    if row.lease_pid is not None:
        holder = Holder(int(row.lease_pid), str(row.lease_host))
        lease = Lease(holder, row.lease_heartbeat_at, row.lease_expires_at)
    return RolloutRecord(
        id=row.id,
        model=row.model_name,
        from_version=row.from_version,
        to_version=row.to_version,
        baseline_version=row.baseline_version,
        target=target,
        phase=phase,
        step=row.step,
        weights=weights,
        spec=spec,
        failed_checks=row.failed_checks,
        promotion_id=row.promotion_id,
        started_by=row.started_by,
        started_at=row.started_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        reason=row.reason,
        lease=lease,
    )


def decision_record(row: Any) -> DecisionRecord:
    """A stored decision with its per-metric results parsed into typed records."""
    what = f"decision #{row.id} of rollout #{row.rollout_id}"
    try:
        weights = parse_weights(row.weights, f"{what}'s weights")
        metrics = parse_metrics(row.metrics, f"{what}'s metrics")
        decision = Decision(row.decision)
    except (BatonError, ValueError) as exc:
        raise Corrupt(f"{what} cannot be read ({exc})") from None
    return DecisionRecord(
        id=row.id,
        rollout_id=row.rollout_id,
        at=row.at,
        step=row.step,
        weights=weights,
        score=row.score,
        decision=decision,
        reason=row.reason,
        metrics=metrics,
    )
