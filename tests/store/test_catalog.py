"""Paged catalogue reads: filters and pages in SQL, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from baton.core.evaluation import EvaluationReport
from baton.core.promotion import Target
from baton.errors import BadInput, NotFound
from baton.handover.register import register_handover
from baton.store.catalog import AuditQuery, Catalog, ModelQuery
from baton.store.store import Store
from tests.handover_factory import write_handover
from tests.ownership_factory import build_world


@pytest.fixture
def catalog(store: Store, tmp_path: Path) -> Catalog:
    world = build_world(store, tmp_path)  # toy (research) with versions 1, 2, 3
    for i, owner in enumerate(("research", "serving", "serving")):
        folder = write_handover(tmp_path / f"m{i}", name=f"model-{i}", seed=10 + i, owner=owner)
        register_handover(store, folder, actor="alice")
    report = EvaluationReport.model_validate({"schema": 1})
    now = datetime.now(UTC)
    store.evaluations.record("toy", 3, status="failed", report=report, actor="g", started_at=now)
    store.evaluations.record("toy", 2, status="passed", report=report, actor="g", started_at=now)
    store.evaluations.record(
        "model-1", 1, status="passed", report=report, actor="g", started_at=now
    )
    gov, people = world.gov, world.people
    gov.promotions.promote("model-1", 1, Target.STAGING, people["sam"], "go")
    gov.promotions.approve("model-1", 1, Target.STAGING, people["sue"], "ok")
    return Catalog(store.engine)


def test_models_page_with_filters(catalog: Catalog) -> None:
    everything = catalog.models(ModelQuery())
    assert [r.name for r in everything.rows] == ["model-0", "model-1", "model-2", "toy"]
    toy = everything.rows[3]
    assert (toy.owner, toy.versions, toy.latest, toy.verdict) == ("research", 3, 3, "failed")
    assert toy.aliases == {"candidate": 3}

    def names(**query: object) -> list[str]:
        return [r.name for r in catalog.models(ModelQuery(**query)).rows]  # type: ignore[arg-type]

    assert names(team="serving") == ["model-1", "model-2"]
    assert names(verdict="failed") == ["toy"]
    assert names(verdict="passed") == ["model-1"]
    assert names(verdict="none") == ["model-0", "model-2"]
    assert names(stage="staging") == ["model-1"]
    assert names(stage="none") == ["model-0", "model-2", "toy"]
    assert names(search="MODEL-") == ["model-0", "model-1", "model-2"]
    assert names(search="serv") == ["model-1", "model-2"]  # the owner team's name
    assert names(search="%") == []  # wildcards are searched for, not obeyed
    paged = catalog.models(ModelQuery(page=2, per_page=3))
    assert [r.name for r in paged.rows] == ["toy"] and paged.total == 4 and paged.pages == 2


def test_bad_filters_are_refused(catalog: Catalog) -> None:
    with pytest.raises(BadInput, match="unknown verdict"):
        ModelQuery(verdict="meh")
    with pytest.raises(BadInput, match="unknown stage"):
        ModelQuery(stage="canary")
    with pytest.raises(BadInput):
        ModelQuery(per_page=1000)


def test_versions_page_newest_first_with_verdicts(catalog: Catalog) -> None:
    found = catalog.versions("toy", per_page=2)
    assert [(v.number, v.verdict) for v in found.rows] == [(3, "failed"), (2, "passed")]
    assert found.rows[0].aliases == ("candidate",)
    assert found.total == 3 and found.pages == 2
    assert [v.number for v in catalog.versions("toy", page=2, per_page=2).rows] == [1]
    with pytest.raises(NotFound):
        catalog.versions("nosuch")
    assert catalog.aliases("model-1") == {"candidate": 1, "staging": 1}


def test_audit_filters(catalog: Catalog) -> None:
    everything = catalog.audit(AuditQuery(per_page=200))
    assert everything.total == len(everything.rows) > 10
    ids = [e.id for e in everything.rows]
    assert ids == sorted(ids, reverse=True)
    promotions = catalog.audit(AuditQuery(action="promotion"))
    assert {e.action for e in promotions.rows} == {
        "promotion.request", "promotion.approve", "promotion.apply"
    }  # fmt: skip
    assert {e.actor for e in catalog.audit(AuditQuery(team="serving", per_page=200)).rows} <= {
        "root", "sam", "sue"
    }  # fmt: skip
    assert {e.actor for e in catalog.audit(AuditQuery(person="sue")).rows} == {"sue"}
    assert {e.model for e in catalog.audit(AuditQuery(model="model-1")).rows} == {"model-1"}
    future = datetime.now(UTC) + timedelta(days=1)
    assert catalog.audit(AuditQuery(since=future)).total == 0
    assert catalog.audit(AuditQuery(until=future)).total == everything.total
