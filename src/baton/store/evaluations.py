"""Stored gate results: the evaluation of a version, its verdict, report and recommendation.

A record is written once, when the run has finished (passed, failed or error), together
with its log entry, so a crash mid-evaluation never leaves a half-written record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from baton.core.evaluation import REPORT_SCHEMA, EvaluationReport
from baton.core.manifest import describe_validation_error
from baton.core.serving_config import ServingConfig
from baton.errors import Corrupt
from baton.store.tables import evaluations, models, versions
from baton.store.tx import append_entry, find_version_id, insert_id, read, utcnow, write

Status = Literal["passed", "failed", "error"]


@dataclass(frozen=True)
class EvaluationRecord:
    id: int
    model: str
    version: int
    against: int | None
    status: Status
    started_at: datetime
    finished_at: datetime
    actor: str
    report: EvaluationReport
    recommended: ServingConfig | None
    error: str | None

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def int8_artifact(self) -> str | None:
        """The digest of the int8 copy the evaluation made and recommends, if it did."""
        config = self.recommended
        if config is None or config.precision != "int8":
            return None
        return config.model_sha256


class Evaluations:
    """Record and read evaluation results; the gate writes, promotion and serving read."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(
        self,
        model: str,
        version: int,
        *,
        status: Status,
        report: EvaluationReport,
        actor: str,
        started_at: datetime,
        against: int | None = None,
        recommended: ServingConfig | None = None,
        error: str | None = None,
    ) -> EvaluationRecord:
        def work(conn: sa.Connection) -> int:
            version_id = find_version_id(conn, model, version)
            against_id = find_version_id(conn, model, against) if against is not None else None
            new_id = insert_id(
                conn,
                evaluations.insert().values(
                    version_id=version_id,
                    against_version_id=against_id,
                    status=status,
                    started_at=started_at,
                    finished_at=utcnow(),
                    actor=actor,
                    report=report.to_json(),
                    recommended=recommended.model_dump(mode="json") if recommended else None,
                    error=error,
                ),
            )
            append_entry(
                conn,
                actor,
                f"evaluation.{status}",
                model,
                version,
                error,
                {"evaluation": new_id, "against": against},
            )
            return new_id

        new_id = write(self.engine, work)
        found = self._query(sa.select(evaluations.c.id).where(evaluations.c.id == new_id))
        return found[0]

    def latest(self, model: str, version: int) -> EvaluationRecord | None:
        """The newest evaluation of ``model:version``, or None if it was never evaluated."""
        with read(self.engine) as conn:
            version_id = find_version_id(conn, model, version)
        found = self._query(
            sa.select(evaluations.c.id)
            .where(evaluations.c.version_id == version_id)
            .order_by(evaluations.c.id.desc())
            .limit(1)
        )
        return found[0] if found else None

    def history(self, model: str, limit: int = 50) -> list[EvaluationRecord]:
        """A model's evaluations, newest first."""
        return self._query(
            sa.select(evaluations.c.id)
            .join(versions, versions.c.id == evaluations.c.version_id)
            .join(models, models.c.id == versions.c.model_id)
            .where(models.c.name == model)
            .order_by(evaluations.c.id.desc())
            .limit(limit)
        )

    def _query(self, ids: sa.Select[Any]) -> list[EvaluationRecord]:
        mine = versions.alias("mine")
        other = versions.alias("other")
        query = (
            sa.select(
                evaluations,
                models.c.name.label("model_name"),
                mine.c.number.label("number"),
                other.c.number.label("against_number"),
            )
            .join(mine, mine.c.id == evaluations.c.version_id)
            .join(models, models.c.id == mine.c.model_id)
            .outerjoin(other, other.c.id == evaluations.c.against_version_id)
            .where(evaluations.c.id.in_(ids.scalar_subquery()))
            .order_by(evaluations.c.id.desc())
        )
        with read(self.engine) as conn:
            return [
                EvaluationRecord(
                    id=r.id,
                    model=r.model_name,
                    version=r.number,
                    against=r.against_number,
                    status=r.status,
                    started_at=r.started_at,
                    finished_at=r.finished_at,
                    actor=r.actor,
                    report=parse_report(r.report, r.id),
                    recommended=_recommended(r.recommended, r.id),
                    error=r.error,
                )
                for r in conn.execute(query)
            ]


def parse_report(stored: Any, evaluation: int) -> EvaluationReport:
    """A stored report, validated once; a row from a newer baton is refused, not half-read."""
    schema = stored.get("schema") if isinstance(stored, dict) else None
    if isinstance(schema, int) and schema > REPORT_SCHEMA:
        raise Corrupt(
            f"evaluation {evaluation} was written by a newer baton (report schema {schema}, "
            f"this one reads up to {REPORT_SCHEMA}): upgrade baton to read it"
        )
    try:
        return EvaluationReport.model_validate(stored)
    except ValidationError as exc:
        raise Corrupt(
            f"evaluation {evaluation} has a report baton cannot read "
            f"({describe_validation_error(exc)}): run `baton evaluate` again"
        ) from None


def _recommended(stored: Any, evaluation: int) -> ServingConfig | None:
    if not stored:
        return None
    try:
        return ServingConfig.model_validate(stored)
    except ValidationError as exc:
        raise Corrupt(
            f"evaluation {evaluation} has a recommended configuration baton cannot read "
            f"({describe_validation_error(exc)}): run `baton evaluate` again"
        ) from None
