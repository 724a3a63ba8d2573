"""Candidate against baseline on the same rows, and int8 against fp32."""

from __future__ import annotations

import numpy as np

from baton.core.policy import Policy
from baton.evaluate.compare import compare, int8_tradeoff


def _onehot(pred: np.ndarray, confidence: float = 0.9) -> np.ndarray:
    out = np.full((len(pred), 3), (1 - confidence) / 2, np.float32)
    out[np.arange(len(pred)), pred] = confidence
    return out


def test_a_worse_candidate_fails_and_its_disagreements_are_listed() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 1000)
    wrong = rng.random(1000) < 0.2
    cand_pred = np.where(wrong, (y + 1) % 3, y)
    outputs = {"candidate": _onehot(cand_pred), "baseline": _onehot(y)}
    report, verdict = compare(
        "classification",
        y,
        outputs,
        None,
        3,
        {"candidate": True, "baseline": True},
        Policy(),
        300,
        ["a", "b", "c"],
    )
    assert not verdict.passed and "a real drop" in verdict.reasons[0]
    assert np.isclose(report["agreement"], 1 - wrong.mean())
    assert report["disagreements"] == int(wrong.sum())
    assert len(report["examples"]) == 10
    first = report["examples"][0]
    assert first["candidate"] != first["baseline"] and first["truth"] == first["baseline"]
    deltas = {d["name"]: d for d in report["deltas"]}
    assert deltas["accuracy"]["high"] < 0 and deltas["log_loss"]["higher_is_better"] is False
    assert report["resamples"] == 300 and report["gated"] == ["accuracy", "macro_f1"]


def test_regressors_compare_values_and_show_both() -> None:
    y = np.linspace(0, 10, 200)
    outputs = {"candidate": (y + 0.01)[:, None], "baseline": (y * 1.5)[:, None]}
    report, verdict = compare(
        "regression",
        y,
        outputs,
        None,
        1,
        {"candidate": False, "baseline": False},
        Policy(),
        200,
        None,
    )
    assert verdict.passed  # the candidate is far better
    assert report["agreement"] < 0.1
    example = report["examples"][0]
    assert example["row"] == 199 and len(example["candidate"]) == 1


def test_int8_tradeoff_uses_the_primary_metric_and_the_policy() -> None:
    policy = Policy()
    assert int8_tradeoff("classification", {"candidate": {"accuracy": 0.9}}, policy) is None
    ok = int8_tradeoff(
        "classification", {"candidate": {"accuracy": 0.9}, "int8": {"accuracy": 0.898}}, policy
    )
    assert ok is not None and ok.ok and np.isclose(ok.drop or 0, 0.002)
    assert list(ok.model_dump()) == ["metric", "fp32", "int8", "drop", "ok", "reason"]
    bad = int8_tradeoff("regression", {"candidate": {"r2": 0.9}, "int8": {"r2": 0.8}}, policy)
    assert bad is not None and not bad.ok and "beyond" in bad.reason
    none = int8_tradeoff("generic", {"candidate": {}, "int8": {}}, policy)
    assert none is not None and none.metric is None and not none.ok
    assert list(none.model_dump()) == ["metric", "ok", "reason"]  # as stored before
