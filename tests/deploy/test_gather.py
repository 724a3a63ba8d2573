"""The spec gathered for a render: which precision runs, and int8 refused in one line where
no int8 copy exists (for the version, or for a canary the same runtime would serve)."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.core.evaluation import EvaluationReport
from baton.errors import BadInput
from baton.store.store import Store
from baton.store.tx import utcnow
from tests.deploy.conftest import render_toy


def test_int8_without_an_int8_copy_names_the_evaluation_that_makes_one(
    evaluated: Store, wheel: Path, tmp_path: Path
) -> None:
    with pytest.raises(BadInput) as caught:
        render_toy(evaluated, tmp_path / "x", wheel, "k8s", precision="int8")
    assert caught.value.message == (
        "--precision int8: toy:1 has no int8 copy (its latest evaluation, 1, recommends "
        "fp32): run `baton evaluate toy:1 --full` to measure int8, or render without "
        "--precision int8"
    )
    assert not (tmp_path / "x").exists()
    # what the evaluation recommends is fp32 here: recommended renders fp32, not a refusal
    done = render_toy(evaluated, tmp_path / "r", wheel, "k8s", precision="recommended")
    assert (done.spec.precision, done.spec.int8_sha256) == ("fp32", None)


def test_a_canary_served_at_int8_needs_its_own_int8_copy(
    int8_evaluated: Store, wheel: Path, tmp_path: Path
) -> None:
    int8_evaluated.evaluations.record(
        "toy", 2, status="passed", report=EvaluationReport(), actor="g", started_at=utcnow()
    )
    with pytest.raises(BadInput, match=r"toy:2 has no int8 copy and the runtime serves both"):
        render_toy(int8_evaluated, tmp_path / "x", wheel, "kserve", canary=2, percent=10,
                   precision="int8")  # fmt: skip
    done = render_toy(int8_evaluated, tmp_path / "f", wheel, "kserve", canary=2, percent=10)
    assert done.spec.precision == "fp32"
