from __future__ import annotations

from pathlib import Path

import pytest

from baton.errors import NotFound
from baton.handover.register import register_handover
from baton.store.store import Store
from baton.store.tx import utcnow
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
        report={"checks": {"parity": False}},
        actor="ci",
        started_at=started,
        against=1,
    )
    second = two_versions.evaluations.record(
        "toy",
        2,
        status="passed",
        report={"checks": {"parity": True}},
        actor="ci",
        started_at=started,
        against=1,
        recommended={"batch_size": 16, "threads": 1},
    )
    latest = two_versions.evaluations.latest("toy", 2)
    assert latest == second
    assert latest is not None
    assert latest.passed
    assert latest.against == 1
    assert latest.recommended == {"batch_size": 16, "threads": 1}
    assert not first.passed
    assert [e.id for e in two_versions.evaluations.history("toy")] == [second.id, first.id]
    actions = [e.action for e in two_versions.registry.audit("toy")][:2]
    assert actions == ["evaluation.passed", "evaluation.failed"]


def test_error_records_keep_the_message(two_versions: Store) -> None:
    rec = two_versions.evaluations.record(
        "toy",
        1,
        status="error",
        report={},
        actor="ci",
        started_at=utcnow(),
        error="ONNX Runtime crashed on batch 3",
    )
    assert rec.error == "ONNX Runtime crashed on batch 3"
    assert not rec.passed


def test_unknown_versions_are_refused_and_nothing_recorded(two_versions: Store) -> None:
    with pytest.raises(NotFound, match="toy has no version 9"):
        two_versions.evaluations.record(
            "toy", 9, status="passed", report={}, actor="ci", started_at=utcnow()
        )
    with pytest.raises(NotFound, match="toy has no version 7"):
        two_versions.evaluations.record(
            "toy", 1, status="passed", report={}, actor="ci", started_at=utcnow(), against=7
        )
    assert two_versions.evaluations.history("toy") == []
