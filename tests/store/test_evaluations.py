from __future__ import annotations

from pathlib import Path

import pytest

from baton.core.evaluation import REPORT_SCHEMA, Check, EvaluationReport
from baton.core.serving_config import ServingConfig
from baton.errors import Corrupt, NotFound
from baton.handover.register import register_handover
from baton.store.store import Store
from baton.store.tables import evaluations
from baton.store.tx import find_version_id, utcnow
from tests.handover_factory import write_handover


@pytest.fixture
def two_versions(store: Store, tmp_path: Path) -> Store:
    register_handover(store, write_handover(tmp_path / "a", seed=1), actor="tester")
    register_handover(store, write_handover(tmp_path / "b", seed=2), actor="tester")
    return store


def test_latest_is_none_before_any_evaluation(two_versions: Store) -> None:
    assert two_versions.evaluations.latest("toy", 1) is None


def test_record_and_read_back(two_versions: Store) -> None:
    started = utcnow()
    first = two_versions.evaluations.record(
        "toy",
        2,
        status="failed",
        report=EvaluationReport(checks={"parity": Check(passed=False, status="failed")}),
        actor="ci",
        started_at=started,
        against=1,
    )
    second = two_versions.evaluations.record(
        "toy",
        2,
        status="passed",
        report=EvaluationReport(checks={"parity": Check(passed=True, status="passed")}),
        actor="ci",
        started_at=started,
        against=1,
        recommended=ServingConfig(max_batch_size=16, intra_op_threads=1),
    )
    latest = two_versions.evaluations.latest("toy", 2)
    assert latest == second
    assert latest is not None
    assert latest.passed
    assert latest.against == 1
    assert latest.recommended == ServingConfig(max_batch_size=16, intra_op_threads=1)
    assert latest.report.checks["parity"].passed and first.report.failed_checks() == ["parity"]
    assert not first.passed
    assert [e.id for e in two_versions.evaluations.history("toy")] == [second.id, first.id]
    actions = [e.action for e in two_versions.registry.log_entries("toy")][:2]
    assert actions == ["evaluation.passed", "evaluation.failed"]


def test_error_records_keep_the_message(two_versions: Store) -> None:
    rec = two_versions.evaluations.record(
        "toy",
        1,
        status="error",
        report=EvaluationReport(),
        actor="ci",
        started_at=utcnow(),
        error="ONNX Runtime crashed on batch 3",
    )
    assert rec.error == "ONNX Runtime crashed on batch 3"
    assert not rec.passed


def test_unknown_versions_are_refused_and_nothing_recorded(two_versions: Store) -> None:
    with pytest.raises(NotFound, match="toy has no version 9"):
        two_versions.evaluations.record(
            "toy", 9, status="passed", report=EvaluationReport(), actor="ci", started_at=utcnow()
        )
    with pytest.raises(NotFound, match="toy has no version 7"):
        two_versions.evaluations.record(
            "toy",
            1,
            status="passed",
            report=EvaluationReport(),
            actor="ci",
            started_at=utcnow(),
            against=7,
        )
    assert two_versions.evaluations.history("toy") == []


# A report as the first baton releases wrote it: no schema number, checks without a status,
# profile points from before the served latencies, a recommendation with fewer fields, and
# a section this baton does not know.
OLD_REPORT = {
    "model": "toy",
    "version": 2,
    "verdict": {"passed": True, "reasons": []},
    "checks": {"parity": {"passed": True, "reasons": ["accuracy 0.9 reproduced"]}},
    "metrics": {"accuracy": 0.9, "per_class_recall": {"a": 1.0, "b": 0.8}},
    "profile": {
        "points": [{"precision": "fp32", "batch_size": 1, "throughput_rps": 900.0}],
        "recommended_point": None,
    },
    "recommended": {"precision": "fp32", "max_batch_size": 8, "intra_op_threads": 2},
    "retired_section": {"kept": True},
}


def insert_row(store: Store, report: object, recommended: object = None) -> None:
    """A row written straight into the table, as an older baton left it."""
    with store.engine.begin() as conn:
        conn.execute(
            evaluations.insert().values(
                version_id=find_version_id(conn, "toy", 2),
                against_version_id=None,
                status="passed",
                started_at=utcnow(),
                finished_at=utcnow(),
                actor="old-baton",
                report=report,
                recommended=recommended,
                error=None,
            )
        )


def test_a_row_in_the_old_shape_still_loads_typed(two_versions: Store) -> None:
    insert_row(two_versions, OLD_REPORT, OLD_REPORT["recommended"])
    record = two_versions.evaluations.latest("toy", 2)
    assert record is not None and record.passed
    report = record.report
    assert report.schema_version is None and report.checks["parity"].passed
    assert report.per_class_recall() == {"a": 1.0, "b": 0.8}
    assert report.profile is not None and report.profile.points[0].served_p99_ms is None
    assert report.profile.recommended_row() is None
    assert record.recommended == ServingConfig(max_batch_size=8, intra_op_threads=2)
    assert report.drift_references() == (None, None)
    assert report.to_json() == OLD_REPORT  # dumped back exactly as it was read


def test_a_row_from_a_newer_baton_or_a_damaged_one_is_refused_in_one_line(
    two_versions: Store,
) -> None:
    insert_row(two_versions, {"schema": REPORT_SCHEMA + 1, "checks": {}})
    with pytest.raises(Corrupt, match="written by a newer baton .* upgrade baton"):
        two_versions.evaluations.latest("toy", 2)
    insert_row(two_versions, {"checks": {"parity": "yes"}})
    with pytest.raises(Corrupt, match=r"report baton cannot read \(checks\.parity"):
        two_versions.evaluations.latest("toy", 2)
    insert_row(two_versions, {}, {"max_batch_size": 0})
    with pytest.raises(Corrupt, match="recommended configuration baton cannot read"):
        two_versions.evaluations.latest("toy", 2)
