"""A production promotion applied through a canary: begun, applied or cancelled in the
caller's transaction (the rollout's change commits with it).

``baton promote NAME:V --to production --via canary`` asks for it; the last approval leaves
it ``approved`` (``store/approvals.py``). ``begin`` checks it again as its last approval
would have (the version still @staging with a passed gate, @production still where it was
when asked) and marks it ``applying``; ``apply`` moves @production through the record,
exactly as an approval applies a direct promotion; ``cancel`` withdraws it with the
canary's reasons. Each step is in the audit log.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from baton.core.promotion import Target, check_evaluation, check_transition, missing, state_of
from baton.errors import Conflict, NotFound
from baton.store.approvals import (
    APPLYING,
    APPROVED,
    CANARY,
    CANCELLED,
    PENDING,
    Promotions,
    _aliases,
    _approved_stages,
    _archived,
    _latest_status,
    _slot,
)
from baton.store.ownership import owners_in
from baton.store.ownership_tables import promotions
from baton.store.people import Person
from baton.store.registry import Registry
from baton.store.tables import versions
from baton.store.tx import append_entry, utcnow


def _waiting(conn: sa.Connection, model_id: int) -> Any:
    return conn.execute(
        sa.select(promotions, versions.c.number)
        .join(versions, versions.c.id == promotions.c.version_id)
        .where(promotions.c.slot == _slot(model_id, Target.PRODUCTION))
    ).first()


def begin(conn: sa.Connection, model_id: int, model: str, version: int, actor: str) -> Any:
    """Mark the approved canary promotion of ``model:version`` applying; returns its row
    (``id``, ``from_version``: the production version the canary is compared with)."""
    ref = f"{model}:{version}"
    ask = f"`baton promote {ref} --to production --via canary --why ...`, then its approvals"
    promo = _waiting(conn, model_id)
    if promo is None:
        raise NotFound(f"nothing approved waits to move {ref} to production: ask with {ask}")
    if promo.number != version:
        raise Conflict(
            f"the production step waiting for {model} is promotion #{promo.id} of "
            f"{model}:{promo.number}, not {ref}"
        )
    if promo.via != CANARY:
        raise Conflict(
            f"promotion #{promo.id} of {ref} is applied at its last approval, not through a "
            f"canary: cancel it (`baton promote {ref} --to production --cancel --why ...`) "
            f"and ask with {ask}"
        )
    if promo.state == PENDING:
        matrix = owners_in(conn, model).matrix
        still = missing(matrix, Target.PRODUCTION, _approved_stages(conn, promo.id))
        who = ", ".join(f"team {t} ({s.value}, A)" for s, t in still.items())
        raise Conflict(f"promotion #{promo.id} of {ref} still waits for approval from {who}")
    if promo.state == APPLYING:
        raise Conflict(f"a canary is already applying promotion #{promo.id} of {ref}")
    _check_still_valid(conn, model_id, ref, promo)
    conn.execute(promotions.update().where(promotions.c.id == promo.id).values(state=APPLYING))
    detail = {"to": Target.PRODUCTION.value, "promotion": promo.id, "via": CANARY,
              "from": promo.from_version}  # fmt: skip
    append_entry(conn, actor, "promotion.applying", model, version, promo.reason, detail)
    return promo


def _check_still_valid(conn: sa.Connection, model_id: int, ref: str, promo: Any) -> None:
    """What the last approval checks before applying, checked again before the canary."""
    current = _aliases(conn, model_id)
    if promo.from_version is None:
        raise Conflict(
            f"{ref.split(':')[0]} had no production version when promotion #{promo.id} was "
            "asked for: there is nothing to compare a canary with"
        )
    if current.get("production") != promo.from_version:
        raise Conflict(
            f"@production of {ref.split(':')[0]} moved from {promo.from_version} to "
            f"{current.get('production')} since promotion #{promo.id} was asked for: cancel "
            "it and ask again"
        )
    number = int(ref.rsplit(":", 1)[1])
    check_transition(ref, state_of(number, current, _archived(conn, model_id)), Target.PRODUCTION)
    check_evaluation(ref, Target.PRODUCTION, _latest_status(conn, promo.version_id))


def _applying(conn: sa.Connection, promotion_id: int) -> Any:
    promo = conn.execute(
        sa.select(promotions, versions.c.number)
        .join(versions, versions.c.id == promotions.c.version_id)
        .where(promotions.c.id == promotion_id)
        .with_for_update(of=promotions)
    ).first()
    if promo is None:
        raise NotFound(f"there is no promotion #{promotion_id}")
    if promo.state != APPLYING:
        raise Conflict(f"promotion #{promotion_id} is {promo.state}, not applying through a canary")
    return promo


def apply(
    conn: sa.Connection,
    registry: Registry,
    promotion_id: int,
    model_id: int,
    model: str,
    actor: str,
    why: str,
) -> None:
    """The canary's last step: move @production through the promotion record."""
    promo = _applying(conn, promotion_id)
    Promotions(conn.engine, registry).apply_in(
        conn, model_id, model, promo.number, promo, Target.PRODUCTION, Person(actor), why
    )


def cancel(conn: sa.Connection, promotion_id: int, model: str, actor: str, why: str) -> None:
    """A rollback or an abort: the promotion is withdrawn with the canary's reasons."""
    promo = _applying(conn, promotion_id)
    conn.execute(
        promotions.update()
        .where(promotions.c.id == promo.id)
        .values(state=CANCELLED, slot=None, decided_by=actor, decided_at=utcnow())
    )
    detail = {"to": Target.PRODUCTION.value, "promotion": promo.id, "via": CANARY}
    append_entry(conn, actor, "promotion.cancel", model, promo.number, why, detail)


__all__ = ["APPROVED", "apply", "begin", "cancel"]
