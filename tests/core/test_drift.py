from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baton.core.drift import (
    DriftSketch,
    build_reference,
    feature_matrix,
    psi,
    scores,
)
from baton.core.evaluation import ReferenceBins

RNG = np.random.default_rng(0)
REF = RNG.normal(size=(450, 3))  # the size of the digits eval split
NAMES = ["a", "b", "c"]


def sketch_of(values: np.ndarray, batch: int = 1000) -> DriftSketch:
    sketch = DriftSketch(build_reference(NAMES, REF))
    for start in range(0, len(values), batch):
        sketch.observe(values[start : start + batch])
    return sketch


def test_a_million_rows_with_no_shift_do_not_alarm() -> None:
    same = np.random.default_rng(1).normal(size=(1_000_000, 3))
    result = scores(sketch_of(same, batch=50_000))
    assert [s.status for s in result] == ["ok"] * 3
    assert max(s.score or 0 for s in result) < 0.1


def test_a_real_shift_is_caught_and_only_where_it_is() -> None:
    shifted = np.random.default_rng(2).normal(size=(5000, 3))
    shifted[:, 1] += 1.0
    result = {s.feature: s for s in scores(sketch_of(shifted))}
    assert result["b"].status == "drift"
    assert result["a"].status == result["c"].status == "ok"


def test_effect_size_does_not_grow_with_traffic() -> None:
    rng = np.random.default_rng(3)
    small = rng.normal(0.5, 1, size=(2_000, 3))
    large = rng.normal(0.5, 1, size=(200_000, 3))
    a = scores(sketch_of(small))[0].score
    b = scores(sketch_of(large, batch=20_000))[0].score
    assert a is not None and b is not None
    assert b == pytest.approx(a, abs=0.06)


def test_small_window_is_insufficient_data_not_an_alarm() -> None:
    result = scores(sketch_of(np.full((50, 3), 9.0)))
    assert {s.status for s in result} == {"insufficient data"}
    assert all(s.score is None and s.samples == 50 for s in result)


def test_memory_is_fixed_whatever_the_traffic() -> None:
    sketch = sketch_of(RNG.normal(size=(10, 3)))
    before = sketch.counts.nbytes
    sketch.observe(RNG.normal(size=(100_000, 3)))
    assert sketch.counts.nbytes == before
    assert sketch.rows == 100_010


def test_constant_and_empty_features_have_a_single_bin() -> None:
    values = np.column_stack([np.zeros(100), np.full(100, np.nan), np.arange(100.0)])
    ref = build_reference(NAMES, values)
    assert ref.features[0].edges == (0.0,)
    assert ref.features[0].shares == (0.0, 1.0)
    assert ref.features[1].shares == (1.0,)
    sketch = DriftSketch(ref)
    sketch.observe(values)
    assert scores(sketch, min_samples=10)[0].status == "ok"


def test_reference_round_trips_through_the_stored_json() -> None:
    ref = build_reference(NAMES, REF)
    stored = json.loads(json.dumps(ReferenceBins.of(ref).model_dump()))
    assert ReferenceBins.model_validate(stored).reference() == ref


def test_wrong_width_is_refused_when_building() -> None:
    with pytest.raises(ValueError, match="2 feature names for 3 columns"):
        build_reference(["a", "b"], REF)


@given(st.lists(st.floats(0.01, 1), min_size=2, max_size=12))
@settings(max_examples=50)
def test_psi_is_zero_for_identical_and_positive_otherwise(weights: list[float]) -> None:
    shares = np.array(weights) / sum(weights)
    counts = np.round(shares * 1_000_000).astype(int)
    assert psi(shares.tolist(), counts.tolist()) == pytest.approx(0, abs=1e-4)
    flipped = counts[::-1]
    assert psi(shares.tolist(), flipped.tolist()) >= -1e-12


def test_vectorised_counts_match_a_per_feature_count() -> None:
    ref = build_reference(NAMES, REF)
    values = np.random.default_rng(7).normal(size=(500, 3))
    values[3, 1] = np.nan
    values[4, 2] = np.inf
    sketch = DriftSketch(ref)
    sketch.observe(values)
    for i, feature in enumerate(ref.features):
        column = values[:, i][np.isfinite(values[:, i])]
        expected = np.bincount(np.searchsorted(feature.edges, column, side="right"),
                               minlength=len(feature.edges) + 1)  # fmt: skip
        assert sketch.counts[i, : len(expected)].tolist() == expected.tolist()


def test_feature_matrix_watches_narrow_tensors_and_summarises_wide_ones() -> None:
    tensors = {
        "pixels": np.arange(2 * 4, dtype=np.float32).reshape(2, 4),
        "image": np.ones((2, 3, 32, 32), np.float32),
        "text": np.array([b"a", b"b"]),
        "scalar": np.array([1, 2], np.int64),
    }
    names, matrix = feature_matrix(tensors, ["pixels", "image", "text", "scalar"], 2)
    assert names == [
        "pixels[0]", "pixels[1]", "pixels[2]", "pixels[3]",
        "image:mean", "image:std", "image:min", "image:max", "scalar",
    ]  # fmt: skip
    assert matrix.shape == (2, 9)
    assert matrix[1, :4].tolist() == [4, 5, 6, 7]
