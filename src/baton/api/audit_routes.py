"""Stored right-size audits (``baton audit`` saves each run): the list, the latest, one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from baton.api.auth import Gov, Me
from baton.api.schemas import ERRORS, MAX_INT
from baton.core.audit_records import AuditRun, StoredAudit
from baton.core.sizing import Verdict
from baton.store.audits import Audits

router = APIRouter(prefix="/v1", tags=["audits"], responses=ERRORS)

VerdictQuery = Annotated[
    Verdict | None, Query(description="only the deployments with this verdict")
]
RunId = Annotated[int, Path(ge=1, le=MAX_INT, description="the run's id")]


@router.get("/audits")
def list_audits(
    gov: Gov, _me: Me, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[AuditRun]:
    """Stored audit runs with their totals, newest first."""
    return Audits(gov.store.engine).runs(limit)


@router.get("/audits/latest")
def latest_audit(gov: Gov, _me: Me, verdict: VerdictQuery = None) -> StoredAudit:
    """The latest stored run and its deployments, most savings first (404 when none)."""
    return _stored(gov, None, verdict)


@router.get("/audits/{run_id}")
def get_audit(run_id: RunId, gov: Gov, _me: Me, verdict: VerdictQuery = None) -> StoredAudit:
    """One stored run and its deployments, most savings first."""
    return _stored(gov, run_id, verdict)


def _stored(gov: Gov, run_id: int | None, verdict: str | None) -> StoredAudit:
    return Audits(gov.store.engine).stored(run_id, verdict)
