"""Quality metrics per task, and the bootstrap's fast maths agreeing with scikit-learn."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import f1_score, r2_score, top_k_accuracy_score

from baton.evaluate import metrics


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 6).flatmap(
        lambda k: st.tuples(
            st.just(k),
            st.lists(
                st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), min_size=1, max_size=60
            ),
        )
    )
)
def test_fast_macro_f1_equals_scikit_learn(case: tuple[int, list[tuple[int, int]]]) -> None:
    classes, pairs = case
    y = np.array([a for a, _ in pairs])
    p = np.array([b for _, b in pairs])
    expected = f1_score(y, p, average="macro", zero_division=0)
    assert abs(metrics.macro_f1(y, p, classes) - expected) < 1e-12


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float64, st.tuples(st.integers(2, 40), st.integers(1, 3)), elements=st.floats(-100, 100)
    ),
    arrays(np.float64, 1, elements=st.floats(-5, 5)),
)
def test_fast_r2_equals_scikit_learn(truth: np.ndarray, noise: np.ndarray) -> None:
    err = np.full_like(truth, float(noise[0])) + truth * 0.1
    expected = r2_score(truth, truth + err)
    assert np.isclose(metrics.r2(truth, err), expected, atol=1e-9)


def test_classification_metrics_of_a_known_case() -> None:
    y = np.array([0, 0, 1, 1, 2, 2])
    proba = np.array(
        [
            [0.9, 0.05, 0.05],
            [0.2, 0.7, 0.1],
            [0.1, 0.8, 0.1],
            [0.1, 0.8, 0.1],
            [0, 0, 1],
            [0, 0.1, 0.9],
        ],
        dtype=np.float32,
    )
    m = metrics.classification(y, proba, 3, ["a", "b", "c"], probabilities=True)
    assert m["accuracy"] == 5 / 6
    assert m["per_class_recall"] == {"a": 0.5, "b": 1.0, "c": 1.0}
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [0, 0, 2]]
    assert 0 < m["log_loss"] < 1 and 0 <= m["ece"] <= 1
    assert "top_3_accuracy" not in m  # 3 classes: the top 3 always hold the truth
    logits = metrics.classification(y, proba * 5, 3, None, probabilities=False)
    assert logits["log_loss"] is None and logits["accuracy"] == 5 / 6


def test_top_k_accuracy_for_every_k_below_the_classes_with_its_bootstrap() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, 300)
    scores = rng.random((300, 10)) + np.eye(10)[y] * 0.3
    m = metrics.classification(y, scores, 10, None, probabilities=False)
    for k in (3, 5):
        expected = top_k_accuracy_score(y, scores, k=k, labels=list(range(10)))
        assert m[f"top_{k}_accuracy"] == expected
    assert m["accuracy"] < m["top_3_accuracy"] < m["top_5_accuracy"] < 1
    assert "top_10_accuracy" not in m
    fns = metrics.resampled_metrics("classification", y, scores, None, 10, False)
    assert fns["top_5_accuracy"](np.arange(300)) == m["top_5_accuracy"]


def test_embedding_recall_at_1_5_10_and_mrr_with_their_bootstrap() -> None:
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 8, 400)
    emb = rng.normal(size=(8, 16))[labels] + rng.normal(size=(400, 16)) * 2.5
    e = metrics.embedding(emb, None, labels)
    assert 0 < e["recall_at_1"] < e["recall_at_5"] < e["recall_at_10"] < 1
    assert e["recall_at_1"] <= e["mrr"] < e["recall_at_10"]
    fns = metrics.resampled_metrics("embedding", labels, emb, None, 0, False)
    assert {n: fns[n](np.arange(400)) for n in ("recall_at_1", "mrr")} == {
        "recall_at_1": e["recall_at_1"],
        "mrr": e["mrr"],
    }


def test_nan_outputs_do_not_crash_the_metrics() -> None:
    proba = np.array([[np.nan, np.nan], [0.2, 0.8]], dtype=np.float32)
    assert metrics.predicted_classes(proba).tolist() == [0, 1]
    assert not metrics.looks_like_probabilities(proba, 1e-3)
    assert metrics.regression(np.array([1.0, 2.0]), np.array([np.nan, 2.0]))["mae"] is None


def test_ece_is_zero_when_confidence_matches_accuracy() -> None:
    y = np.array([0, 1, 0, 1])
    proba = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    assert metrics.expected_calibration_error(y, proba) == 0.0
    overconfident = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    assert metrics.expected_calibration_error(y, overconfident) == 0.5


def test_regression_embedding_and_generic_metrics() -> None:
    y = np.array([1.0, 2.0, 3.0])
    m = metrics.regression(y, np.array([[1.5], [2.0], [2.5]]))
    assert np.isclose(m["mae"], 1 / 3) and np.isclose(m["rmse"], np.sqrt(0.5 / 3))
    emb = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    e = metrics.embedding(emb, emb * 2, np.array([0, 0, 1, 1]))
    assert np.isclose(e["mean_cosine"], 1.0)
    assert e["recall_at_1"] == e["recall_at_5"] == e["recall_at_10"] == e["mrr"] == 1.0
    g = metrics.generic(np.array([[1.0, 2.0]]), np.array([[1.0, 2.5]]))
    assert g == {"max_abs_diff": 0.5, "mean_abs_diff": 0.25}
    assert metrics.generic(np.zeros((1, 2)), None) == {}


def _model(y: np.ndarray, accuracy: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    right = rng.random(len(y)) < accuracy
    pred = np.where(right, y, (y + 1 + rng.integers(0, 8, len(y))) % 10)
    return np.eye(10, dtype=np.float32)[pred] * 0.9 + 0.01


def test_paired_bootstrap_catches_a_real_drop_and_not_noise() -> None:
    y = np.random.default_rng(0).integers(0, 10, 2000)
    base = metrics.resampled_metrics("classification", y, _model(y, 0.95, 1), None, 10, True)
    worse = metrics.resampled_metrics("classification", y, _model(y, 0.85, 2), None, 10, True)
    same = metrics.resampled_metrics("classification", y, _model(y, 0.95, 3), None, 10, True)
    drop = {
        d.name: d
        for d in metrics.paired_deltas(worse, base, len(y), resamples=300, confidence=0.95)
    }
    assert drop["accuracy"].high < 0 and np.isclose(drop["accuracy"].delta, -0.1, atol=0.03)
    assert drop["macro_f1"].high < 0
    noise = {
        d.name: d for d in metrics.paired_deltas(same, base, len(y), resamples=300, confidence=0.95)
    }
    assert noise["accuracy"].low < 0 < noise["accuracy"].high or abs(noise["accuracy"].delta) < 0.02


def test_small_eval_sets_give_wide_intervals() -> None:
    y = np.random.default_rng(1).integers(0, 10, 40)
    a = metrics.resampled_metrics("classification", y, _model(y, 0.9, 1), None, 10, True)
    b = metrics.resampled_metrics("classification", y, _model(y, 0.9, 2), None, 10, True)
    d = {x.name: x for x in metrics.paired_deltas(a, b, len(y), resamples=300, confidence=0.95)}
    assert d["accuracy"].high - d["accuracy"].low > 0.08


def test_bootstrap_draws_shrink_on_large_eval_sets_but_never_below_the_floor() -> None:
    assert metrics.bootstrap_draws(1000, 450) == 1000
    assert metrics.bootstrap_draws(1000, 100_000) == 200
    assert metrics.bootstrap_draws(1000, 10_000_000) == metrics.MIN_RESAMPLES
