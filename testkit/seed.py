"""Fill a store fast with many models and versions, writing the rows the store's methods write.

``Registry.register`` and ``Evaluations.record`` take one transaction, about twenty
statements and one audit-head lock per call: seeding 10,000 versions through them takes
minutes on SQLite and most of an hour on a loaded PostgreSQL. A benchmark only needs the
same rows, so ``register_many`` writes a batch of new models in one transaction with one
multi-row INSERT per table: the models, each version with its files and manifest, the
``candidate`` alias on the newest, an evaluation for the versions given one, and every
audit entry the one-by-one calls would have written, in the same order, sealed into the
chain (``log_chain.append_many``), so ``baton log --verify`` passes on a seeded store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from baton.core.chain import Content
from baton.core.evaluation import EvaluationReport
from baton.core.manifest import Manifest
from baton.errors import BadInput
from baton.store.evaluations import Status
from baton.store.log_chain import append_many, plain_detail
from baton.store.registry import FileRecord
from baton.store.tables import aliases, evaluations, models, teams, version_files, versions
from baton.store.tx import utcnow


@dataclass(frozen=True)
class Gate:
    """A recorded gate result for one version, as ``Evaluations.record`` stores it."""

    status: Status
    report: EvaluationReport
    started_at: datetime
    actor: str = "gate"


@dataclass(frozen=True)
class Handover:
    """One version to register: its manifest, its files, and optionally its gate result."""

    manifest: Manifest
    files: Sequence[FileRecord]
    gate: Gate | None = None


def register_many(engine: Engine, batch: Sequence[Sequence[Handover]], actor: str) -> None:
    """Register new models, each with its versions 1..n in order, in one transaction.

    Every model must be new and its owner team must exist (``People.add_team``).
    """
    with engine.begin() as conn:
        team_ids = {r.name: r.id for r in conn.execute(sa.select(teams.c.name, teams.c.id))}
        firsts = [handovers[0].manifest for handovers in batch]
        missing = {m.owner for m in firsts} - team_ids.keys()
        if missing:
            raise BadInput(f"teams {sorted(missing)} do not exist: add them first")
        now = utcnow()
        conn.execute(
            models.insert(),
            [
                {
                    "name": m.name,
                    "owner_team_id": team_ids[m.owner],
                    "task": m.task.value,
                    "created_at": now,
                }
                for m in firsts
            ],
        )
        names = [m.name for m in firsts]
        query = sa.select(models.c.name, models.c.id).where(models.c.name.in_(names))
        model_ids = {r.name: r.id for r in conn.execute(query)}
        version_ids = _versions(conn, batch, model_ids, actor)
        evaluation_ids = _evaluations(conn, batch, version_ids)
        _candidates(conn, batch, model_ids, version_ids, actor)
        append_many(conn, lambda: _entries(batch, evaluation_ids, actor))


def _versions(
    conn: sa.Connection,
    batch: Sequence[Sequence[Handover]],
    model_ids: dict[str, int],
    actor: str,
) -> dict[tuple[str, int], int]:
    rows = []
    for handovers in batch:
        for number, h in enumerate(handovers, start=1):
            model_file = next(f for f in h.files if f.role == "model")
            rows.append(
                {
                    "model_id": model_ids[h.manifest.name],
                    "number": number,
                    "label": h.manifest.version,
                    "sha256": model_file.sha256,
                    "size_bytes": model_file.size_bytes,
                    "manifest": h.manifest.to_json_dict(),
                    "created_at": utcnow(),
                    "created_by": actor,
                }
            )
    conn.execute(versions.insert(), rows)
    by_id = {model_id: name for name, model_id in model_ids.items()}
    found = conn.execute(
        sa.select(versions.c.model_id, versions.c.number, versions.c.id).where(
            versions.c.model_id.in_(list(by_id))
        )
    )
    ids = {(by_id[r.model_id], r.number): r.id for r in found}
    conn.execute(
        version_files.insert(),
        [
            {
                "version_id": ids[(h.manifest.name, number)],
                "role": f.role,
                "filename": f.filename,
                "sha256": f.sha256,
                "size_bytes": f.size_bytes,
            }
            for handovers in batch
            for number, h in enumerate(handovers, start=1)
            for f in h.files
        ],
    )
    return ids


def _evaluations(
    conn: sa.Connection,
    batch: Sequence[Sequence[Handover]],
    version_ids: dict[tuple[str, int], int],
) -> dict[tuple[str, int], int]:
    rows = [
        {
            "version_id": version_ids[(h.manifest.name, number)],
            "against_version_id": None,
            "status": h.gate.status,
            "started_at": h.gate.started_at,
            "finished_at": utcnow(),
            "actor": h.gate.actor,
            "report": h.gate.report.to_json(),
            "recommended": None,
            "error": None,
        }
        for handovers in batch
        for number, h in enumerate(handovers, start=1)
        if h.gate is not None
    ]
    if not rows:
        return {}
    conn.execute(evaluations.insert(), rows)
    key = {vid: ref for ref, vid in version_ids.items()}
    found = conn.execute(
        sa.select(evaluations.c.version_id, evaluations.c.id).where(
            evaluations.c.version_id.in_(list(key))
        )
    )
    return {key[r.version_id]: r.id for r in found}


def _candidates(
    conn: sa.Connection,
    batch: Sequence[Sequence[Handover]],
    model_ids: dict[str, int],
    version_ids: dict[tuple[str, int], int],
    actor: str,
) -> None:
    """``candidate`` points at each model's newest version, as after its last register."""
    conn.execute(
        aliases.insert(),
        [
            {
                "model_id": model_ids[h[0].manifest.name],
                "name": "candidate",
                "version_id": version_ids[(h[0].manifest.name, len(h))],
                "updated_at": utcnow(),
                "updated_by": actor,
            }
            for h in batch
        ],
    )


def _entries(
    batch: Sequence[Sequence[Handover]], evaluation_ids: dict[tuple[str, int], int], actor: str
) -> list[Content]:
    """The audit entries of register (model.create, version.register, alias.set) and record."""
    out = []
    for handovers in batch:
        first = handovers[0].manifest
        out.append(
            Content(
                utcnow(),
                actor,
                "model.create",
                first.name,
                None,
                None,
                {"owner": first.owner, "task": first.task.value},
            )
        )
        for number, h in enumerate(handovers, start=1):
            m, sha = h.manifest, next(f for f in h.files if f.role == "model").sha256
            detail = {"sha256": sha, "label": m.version, "lineage": m.lineage}
            out.append(
                Content(
                    utcnow(), actor, "version.register", m.name, number, None, plain_detail(detail)
                )
            )
            previous = number - 1 if number > 1 else None
            out.append(
                Content(
                    utcnow(),
                    actor,
                    "alias.set",
                    m.name,
                    number,
                    None,
                    {"alias": "candidate", "previous": previous},
                )
            )
            if h.gate is not None:
                ref = (m.name, number)
                out.append(
                    Content(
                        utcnow(),
                        h.gate.actor,
                        f"evaluation.{h.gate.status}",
                        m.name,
                        number,
                        None,
                        {"evaluation": evaluation_ids[ref], "against": None},
                    )
                )
    return out
