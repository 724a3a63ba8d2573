"""Promotion, approval, cancellation and rollback: the stage aliases move only through here.

``promote`` opens a pending step (one per model and target: the database refuses a second,
so of two concurrent requests exactly one gets in). Each accountable team then approves;
the approval that completes the set applies the step in the same transaction, after
checking again that the version is still where it was and its evaluation still passed,
and that the alias still points where it did when the step was asked for (compare and
set). Every step, approval and refusal is in the audit log with who, when and why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from baton.core.history_facts import PromotionFact
from baton.core.promotion import (
    Approval,
    Target,
    approvable,
    check_evaluation,
    check_transition,
    missing,
    rollback_target,
    state_of,
)
from baton.core.roles import Action, Matrix, Stage, may_act
from baton.errors import BadInput, Conflict, NotFound
from baton.store.ownership import attempt, model_row, owners_in
from baton.store.ownership_tables import approvals, promotions
from baton.store.people import Person
from baton.store.registry import Registry
from baton.store.tables import aliases, evaluations, models, versions
from baton.store.tx import append_entry, find_version_id, insert_id, read, utcnow

PENDING, APPLIED, CANCELLED = "pending", "applied", "cancelled"
# A production promotion applied through a canary: once every approval is in it waits
# (approved) for `baton canary start`, which marks it applying; the canary's last step
# applies it (applied), a rollback or an abort cancels it (cancelled).
APPROVED, APPLYING = "approved", "applying"
CANARY = "canary"  # promotions.via
WAITING = (PENDING, APPROVED, APPLYING)  # states that hold the model's slot


@dataclass(frozen=True)
class PromotionInfo(PromotionFact):
    """The step as ``baton promotions`` and the API show it: the facts, and what it awaits."""

    missing: dict[str, str]  # stage -> accountable team still to approve (pending only)
    via: str | None = None  # canary: applied by a canary rollout, not at the last approval

    @property
    def ref(self) -> str:
        return f"{self.model}:{self.version}"


def need_reason(reason: str | None, what: str) -> str:
    if reason is None or not reason.strip():
        raise BadInput(f"say why you {what} with --why (it is kept in the audit log)")
    return reason.strip()


def parse_target(text: str) -> Target:
    try:
        return Target(text)
    except ValueError:
        raise BadInput(
            f"unknown target {text!r}: use {', '.join(t.value for t in Target)}"
        ) from None


class Promotions:
    def __init__(self, engine: Engine, registry: Registry) -> None:
        self.engine = engine
        self.registry = registry

    # -- writes ---------------------------------------------------------------------------

    def promote(
        self,
        model: str,
        version: int,
        target: Target,
        actor: Person,
        reason: str | None,
        via: str | None = None,
    ) -> PromotionInfo:
        """Ask for ``model:version`` to move to ``target``; it waits for approvals. With
        ``via="canary"`` (production only) the approved step waits for a canary rollout."""
        why = need_reason(reason, f"promote {model}:{version}")
        ref = f"{model}:{version}"
        check_via(via, target)

        def work(conn: sa.Connection) -> int:
            row = model_row(conn, model, lock=True)
            matrix = owners_in(conn, model).matrix
            action = Action.ARCHIVE if target is Target.ARCHIVED else Action.PROMOTE
            may_act(matrix, action, actor.teams)
            version_id = find_version_id(conn, model, version, model_id=row.id)
            current = _aliases(conn, row.id)
            check_transition(ref, state_of(version, current, _archived(conn, row.id)), target)
            check_evaluation(ref, target, _latest_status(conn, version_id))
            waiting = conn.execute(
                sa.select(promotions.c.requested_by, versions.c.number)
                .join(versions, versions.c.id == promotions.c.version_id)
                .where(promotions.c.slot == _slot(row.id, target))
            ).first()
            if waiting is not None:
                raise Conflict(
                    f"{model}:{waiting.number} is already waiting to go to {target.value} "
                    f"(asked by {waiting.requested_by}): approve it, or cancel it with `baton "
                    f"promote {model}:{waiting.number} --to {target.value} --cancel --why ...`"
                )
            new_id = insert_id(
                conn,
                promotions.insert().values(
                    model_id=row.id,
                    version_id=version_id,
                    kind="promote",
                    target=target.value,
                    state=PENDING,
                    slot=_slot(row.id, target),
                    from_version=current.get(target.value),
                    requested_by=actor.name,
                    requested_at=utcnow(),
                    reason=why,
                    via=via,
                ),
            )
            needs = {s.value: t for s, t in missing(matrix, target, []).items()}
            detail = {"to": target.value, "promotion": new_id, "needs": needs, "via": via}
            append_entry(conn, actor.name, "promotion.request", model, version, why, detail)
            return new_id

        return self._step(work, actor, "promotion.request", model, version, target, why)

    def approve(
        self, model: str, version: int, target: Target, actor: Person, reason: str | None
    ) -> PromotionInfo:
        """Sign off a pending step for the stages the actor's teams are accountable for;
        the last approval applies it."""
        why = need_reason(reason, f"approve {model}:{version}")

        def work(conn: sa.Connection) -> int:
            row = model_row(conn, model, lock=True)
            promo = self._pending(conn, row.id, model, version, target)
            if promo.state != PENDING:
                raise Conflict(_past_approval(promo, model, version))
            matrix = owners_in(conn, model).matrix
            done = _approved_stages(conn, promo.id)
            stages = approvable(
                matrix,
                target,
                actor.teams,
                done,
                requester=promo.requested_by,
                approver=actor.name,
            )
            for stage in stages:
                team = matrix.accountable(stage)
                conn.execute(
                    approvals.insert().values(
                        promotion_id=promo.id,
                        stage=stage.value,
                        team=team,
                        person=actor.name,
                        at=utcnow(),
                        reason=why,
                    )
                )
            detail = {
                "to": target.value,
                "promotion": promo.id,
                "stages": [s.value for s in stages],
            }
            append_entry(conn, actor.name, "promotion.approve", model, version, why, detail)
            if missing(matrix, target, [*done, *stages]):
                return int(promo.id)
            if promo.via == CANARY:
                _await_canary(conn, promo, model, version, actor.name)
            else:
                self.apply_in(conn, row.id, model, version, promo, target, actor, why)
            return int(promo.id)

        return self._step(work, actor, "promotion.approve", model, version, target, why)

    def cancel(
        self, model: str, version: int, target: Target, actor: Person, reason: str | None
    ) -> PromotionInfo:
        """Withdraw a pending step: its requester, or a team that may request it."""
        why = need_reason(reason, f"cancel the promotion of {model}:{version}")

        def work(conn: sa.Connection) -> int:
            row = model_row(conn, model, lock=True)
            promo = self._pending(conn, row.id, model, version, target)
            if promo.state == APPLYING:
                raise Conflict(
                    f"a canary rollout is applying promotion #{promo.id} of {model}:{version}: "
                    f"abort it with `baton canary abort {model} --why ...`"
                )
            if promo.requested_by != actor.name:
                action = Action.ARCHIVE if target is Target.ARCHIVED else Action.PROMOTE
                may_act(owners_in(conn, model).matrix, action, actor.teams)
            conn.execute(
                promotions.update()
                .where(promotions.c.id == promo.id)
                .values(state=CANCELLED, slot=None, decided_by=actor.name, decided_at=utcnow())
            )
            detail = {"to": target.value, "promotion": promo.id}
            append_entry(conn, actor.name, "promotion.cancel", model, version, why, detail)
            return int(promo.id)

        return self._step(work, actor, "promotion.cancel", model, version, target, why)

    def rollback(self, model: str, actor: Person, reason: str | None) -> PromotionInfo:
        """Put the previous production version back now (on-call's lever: no approvals)."""
        why = need_reason(reason, f"roll back {model}")

        def work(conn: sa.Connection) -> int:
            row = model_row(conn, model, lock=True)
            may_act(owners_in(conn, model).matrix, Action.ROLLBACK, actor.teams)
            current = _aliases(conn, row.id).get("production")
            if current is None:
                raise Conflict(f"{model} has no production version to roll back")
            back_to = _back_to(conn, model, row.id, current)
            version_id = find_version_id(conn, model, back_to, model_id=row.id)
            new_id = insert_id(
                conn,
                promotions.insert().values(
                    model_id=row.id,
                    version_id=version_id,
                    kind="rollback",
                    target=Target.PRODUCTION.value,
                    state=APPLIED,
                    from_version=current,
                    requested_by=actor.name,
                    requested_at=utcnow(),
                    reason=why,
                    decided_by=actor.name,
                    decided_at=utcnow(),
                ),
            )
            self.registry.set_alias_in(
                conn, row.id, model, "production", version_id, back_to, actor.name, why
            )
            detail = {"from": current, "to": back_to, "promotion": new_id}
            append_entry(conn, actor.name, "promotion.rollback", model, back_to, why, detail)
            return new_id

        new_id = attempt(
            self.engine,
            work,
            actor=actor.name,
            action="promotion.rollback",
            model=model,
            reason=why,
        )
        return self._one(new_id)

    def _step(
        self,
        work: Callable[[sa.Connection], int],
        actor: Person,
        action: str,
        model: str,
        version: int,
        target: Target,
        why: str,
    ) -> PromotionInfo:
        """Run a step's transaction (refusals logged) and read the step back."""
        step_id = attempt(
            self.engine,
            work,
            actor=actor.name,
            action=action,
            model=model,
            version=version,
            reason=why,
            detail={"to": target.value},
        )
        return self._one(step_id)

    # -- reads ----------------------------------------------------------------------------

    def history(
        self, model: str | None = None, *, pending_only: bool = False
    ) -> list[PromotionInfo]:
        """Steps newest first, for one model or all."""
        query = sa.select(promotions.c.id).order_by(promotions.c.id.desc()).limit(200)
        if model is not None:
            query = query.join(models, models.c.id == promotions.c.model_id).where(
                models.c.name == model
            )
        if pending_only:
            query = query.where(promotions.c.state == PENDING)
        with read(self.engine) as conn:
            if model is not None:
                model_row(conn, model)
            ids = list(conn.execute(query).scalars())
        return [self._one(i) for i in ids]

    def archived(self, model: str) -> set[int]:
        with read(self.engine) as conn:
            return _archived(conn, model_row(conn, model).id)

    # -- helpers --------------------------------------------------------------------------

    def _pending(
        self, conn: sa.Connection, model_id: int, model: str, version: int, target: Target
    ) -> Any:
        promo = conn.execute(
            sa.select(promotions, versions.c.number)
            .join(versions, versions.c.id == promotions.c.version_id)
            .where(promotions.c.slot == _slot(model_id, target))
        ).first()
        if promo is None:
            raise NotFound(
                f"nothing is waiting to move {model}:{version} to {target.value}: ask for it "
                f"with `baton promote {model}:{version} --to {target.value} --why ...`"
            )
        if promo.number != version:
            raise Conflict(
                f"the pending {target.value} step of {model} is for {model}:{promo.number}, "
                f"not {model}:{version}"
            )
        return promo

    def apply_in(
        self,
        conn: sa.Connection,
        model_id: int,
        model: str,
        version: int,
        promo: sa.Row[Any],
        target: Target,
        actor: Person,
        why: str,
    ) -> None:
        """Apply a step in the caller's transaction: the last approval of a direct promotion,
        or the last step of a canary, with the same checks either way."""
        ref = f"{model}:{version}"
        current = _aliases(conn, model_id)
        cancel_hint = f"cancel it (`baton promote {ref} --to {target.value} --cancel --why ...`)"
        if target is not Target.ARCHIVED and current.get(target.value) != promo.from_version:
            raise Conflict(
                f"@{target.value} of {model} moved from {promo.from_version} to "
                f"{current.get(target.value)} since this step was asked for; {cancel_hint} "
                "and ask again"
            )
        state = state_of(version, current, _archived(conn, model_id))
        check_transition(ref, state, target)
        check_evaluation(ref, target, _latest_status(conn, promo.version_id))
        conn.execute(
            promotions.update()
            .where(promotions.c.id == promo.id)
            .values(state=APPLIED, slot=None, decided_by=actor.name, decided_at=utcnow())
        )
        if target is not Target.ARCHIVED:
            self.registry.set_alias_in(
                conn, model_id, model, target.value, promo.version_id, version, actor.name, why
            )
        detail = {"to": target.value, "promotion": promo.id, "from": promo.from_version}
        append_entry(conn, actor.name, "promotion.apply", model, version, promo.reason, detail)

    def _one(self, promo_id: int) -> PromotionInfo:
        with read(self.engine) as conn:
            r = conn.execute(
                sa.select(promotions, versions.c.number, models.c.name.label("model_name"))
                .join(versions, versions.c.id == promotions.c.version_id)
                .join(models, models.c.id == promotions.c.model_id)
                .where(promotions.c.id == promo_id)
            ).one()
            given = approvals_given(conn, [promo_id]).get(promo_id, ())
            still: dict[str, str] = {}
            if r.state == PENDING and r.kind == "promote":
                matrix: Matrix = owners_in(conn, r.model_name).matrix
                done = [Stage(a.stage) for a in given]
                still = {s.value: t for s, t in missing(matrix, Target(r.target), done).items()}
        return PromotionInfo(
            id=r.id,
            model=r.model_name,
            version=r.number,
            kind=r.kind,
            target=r.target,
            state=r.state,
            from_version=r.from_version,
            requested_by=r.requested_by,
            requested_at=r.requested_at,
            reason=r.reason,
            decided_by=r.decided_by,
            decided_at=r.decided_at,
            approvals=given,
            missing=still,
            via=r.via,
        )


def approvals_given(
    conn: sa.Connection, promotion_ids: Sequence[int]
) -> dict[int, tuple[Approval, ...]]:
    """The approvals each of these promotions gathered, oldest first (none: not a key)."""
    given: dict[int, list[Approval]] = {}
    for a in conn.execute(
        sa.select(approvals)
        .where(approvals.c.promotion_id.in_(promotion_ids))
        .order_by(approvals.c.id)
    ):
        given.setdefault(a.promotion_id, []).append(
            Approval(a.stage, a.team, a.person, a.at, a.reason)
        )
    return {promotion_id: tuple(found) for promotion_id, found in given.items()}


def check_via(via: str | None, target: Target) -> None:
    """How a promotion may be applied: at its last approval, or by a canary (production)."""
    if via is None:
        return
    if via != CANARY:
        raise BadInput(f"unknown way to apply a promotion {via!r}: leave it out, or use canary")
    if target is not Target.PRODUCTION:
        raise BadInput(f"a canary applies production promotions only, not a move to {target.value}")


def _past_approval(promo: sa.Row[Any], model: str, version: int) -> str:
    if promo.state == APPROVED:
        return (
            f"promotion #{promo.id} of {model}:{version} has every approval and waits for "
            f"its canary: `baton canary start {model} --to {version}`"
        )
    return (
        f"a canary rollout is applying promotion #{promo.id} of {model}:{version}: follow it "
        f"with `baton canary status {model}`"
    )


def _await_canary(
    conn: sa.Connection, promo: sa.Row[Any], model: str, version: int, actor: str
) -> None:
    """The last approval of a promotion through a canary: it waits for the canary."""
    conn.execute(promotions.update().where(promotions.c.id == promo.id).values(state=APPROVED))
    detail = {"to": promo.target, "promotion": promo.id, "via": CANARY}
    append_entry(conn, actor, "promotion.approved", model, version, promo.reason, detail)


def _slot(model_id: int, target: Target) -> str:
    return f"{model_id}/{target.value}"


def _aliases(conn: sa.Connection, model_id: int) -> dict[str, int]:
    rows = conn.execute(
        sa.select(aliases.c.name, versions.c.number)
        .join(versions, versions.c.id == aliases.c.version_id)
        .where(aliases.c.model_id == model_id)
    )
    return {name: number for name, number in rows}


def _archived(conn: sa.Connection, model_id: int) -> set[int]:
    return set(
        conn.execute(
            sa.select(versions.c.number)
            .join(promotions, promotions.c.version_id == versions.c.id)
            .where(
                promotions.c.model_id == model_id,
                promotions.c.target == Target.ARCHIVED.value,
                promotions.c.state == APPLIED,
            )
        ).scalars()
    )


def _approved_stages(conn: sa.Connection, promotion_id: int) -> list[Stage]:
    return [
        Stage(s)
        for s in conn.execute(
            sa.select(approvals.c.stage).where(approvals.c.promotion_id == promotion_id)
        ).scalars()
    ]


def _latest_status(conn: sa.Connection, version_id: int) -> str | None:
    status = conn.execute(
        sa.select(evaluations.c.status)
        .where(evaluations.c.version_id == version_id)
        .order_by(evaluations.c.id.desc())
        .limit(1)
    ).scalar()
    return None if status is None else str(status)


def _back_to(conn: sa.Connection, model: str, model_id: int, current: int) -> int:
    """The production version before ``current`` that a rollback restores."""
    history = conn.execute(
        sa.select(promotions.c.kind, versions.c.number)
        .join(versions, versions.c.id == promotions.c.version_id)
        .where(
            promotions.c.model_id == model_id,
            promotions.c.target == Target.PRODUCTION.value,
            promotions.c.state == APPLIED,
        )
        .order_by(promotions.c.id)
    ).all()
    back_to = rollback_target(
        [(h.kind, h.number) for h in history], current, _archived(conn, model_id)
    )
    if back_to is None:
        raise Conflict(
            f"{model} has no earlier production version to roll back to "
            f"(production is {model}:{current})"
        )
    return back_to
