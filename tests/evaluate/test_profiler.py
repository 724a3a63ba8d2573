"""The profile measures real sessions, stays in its time budget and picks the cheapest fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from baton.core.manifest import SLO
from baton.evaluate.profiler import (
    Plan,
    Variant,
    count_points,
    plan_for,
    profile,
    quantize_int8,
    recommend,
    serving_config,
)
from baton.runtime.mlp import random_mlp

SAMPLE = {"input": np.random.default_rng(0).normal(size=(16, 8)).astype(np.float32)}


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "m.onnx"
    onnx.save(random_mlp([8, 32, 4], seed=0), str(path))
    return path


def test_plans_grow_from_quick_to_full_and_respect_the_cores() -> None:
    quick, default, full = (plan_for(m, 2) for m in ("quick", "default", "full"))  # type: ignore[arg-type]
    assert quick.precisions == ("fp32",) and quick.budget_s < default.budget_s < full.budget_s
    assert default.precisions == ("fp32", "int8") and default.threads == (1, 2)
    assert max(full.threads) == 2 and len(full.optimizations) == 4
    assert plan_for("default", 1).threads == (1,)


def test_profile_measures_each_point_of_the_plan(small: Path, tmp_path: Path) -> None:
    int8 = tmp_path / "q.onnx"
    assert quantize_int8(small, int8) is None
    plan = Plan("default", (1, 2), ("all",), ("fp32", "int8"), (1, 8), (1, 2), 0.05, 30, 100)
    variants = [Variant("fp32", small), Variant("int8", int8)]
    seen: list[int] = []
    result = profile(variants, SAMPLE, plan, queue_delay_ms=2.0, max_cores=2, progress=seen.append)
    expected = count_points(plan, variants, 2, [])
    assert len(result.points) == expected == len(seen) == 12  # (1t x1, 1t x2, 2t x1) x 2 x 2
    for p in result.points:
        assert p.cores == p.threads * p.concurrency <= 2
        assert 0 < p.p50_ms <= p.p95_ms <= p.p99_ms
        assert p.throughput_rps > 0 and p.calls > 0
        assert p.served_p99_ms == 2 * p.p99_ms + (2.0 if p.batch_size > 1 else 0.0)
    assert set(result.load_seconds) == {"fp32", "int8"}
    assert result.size_bytes["fp32"] == small.stat().st_size
    assert result.notes == []


def test_profile_stops_at_its_budget_and_says_so(small: Path) -> None:
    plan = Plan("quick", (1,), ("all",), ("fp32",), (1, 8, 32), (1,), 0.05, 0.0, 100)
    result = profile([Variant("fp32", small)], SAMPLE, plan, queue_delay_ms=2.0, max_cores=1)
    assert len(result.points) < 3
    assert "budget" in result.notes[0]


def test_recommendation_is_the_cheapest_point_meeting_the_slo(small: Path) -> None:
    plan = Plan("default", (1, 2), ("all",), ("fp32",), (1, 8), (1,), 0.05, 30, 100)
    result = profile([Variant("fp32", small)], SAMPLE, plan, queue_delay_ms=2.0, max_cores=2)
    best, _ = recommend(result, SLO(p99_latency_ms=1000), int8_ok=True)
    assert best is not None and best.cores == 1
    config = serving_config(best, result, 2.0)
    assert config.cores == 1 and config.intra_op_threads == 1 and config.precision == "fp32"
    assert config.max_batch_size == best.batch_size
    assert config.throughput_rps == round(best.throughput_rps, 1)
    none, near = recommend(result, SLO(p99_latency_ms=1e-6), int8_ok=True)
    assert none is None and near is not None


def test_int8_points_are_not_recommended_when_int8_lost_quality(
    small: Path, tmp_path: Path
) -> None:
    int8 = tmp_path / "q.onnx"
    quantize_int8(small, int8)
    plan = Plan("default", (1,), ("all",), ("int8",), (1,), (1,), 0.05, 30, 100)
    result = profile([Variant("int8", int8)], SAMPLE, plan, queue_delay_ms=2.0, max_cores=1)
    assert recommend(result, None, int8_ok=False) == (None, None)
    assert recommend(result, None, int8_ok=True)[0] is not None


def test_quantizing_something_that_is_not_a_model_says_why(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"nope")
    problem = quantize_int8(bad, tmp_path / "out.onnx")
    assert problem is not None and problem.startswith("int8 dynamic quantisation failed")
