"""The gate with a team's own metrics from a pip-installed package: claimed, gated against the
baseline with their direction, refused up front when they cannot be gated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from baton.core.policy import parse_policy
from baton.core.refs import Ref
from baton.errors import BadInput
from baton.evaluate.catalogue import packaged_names
from baton.evaluate.service import evaluate
from baton.examples.digits import NAME
from baton.handover.register import register_handover
from baton.store.store import Store
from tests.evaluate.conftest import write_digits_like


def scores_input(folder: Path) -> np.ndarray:
    return np.asarray(np.load(folder / "eval.npz")["input"])


def outputs_of(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    scores = session.run(None, {"input": scores_input(folder)})[0]
    return scores, np.asarray(np.load(folder / "eval.npz")["label"])


def test_a_team_metric_is_claimed_reported_and_gated(
    sqlite_store: Store,
    digits_source: Path,
    digits_retrain: Path,
    team_metrics_site: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.syspath_prepend(str(team_metrics_site))
    first = register_handover(sqlite_store, digits_source, actor="research").version.number
    sqlite_store.registry.set_alias(NAME, "production", first, "serving")
    scores, y = outputs_of(digits_retrain)
    top2 = np.argsort(scores, axis=1)[:, -2:]
    claimed = {
        "hit_rate_at_2": round(float((top2 == y[:, None]).any(axis=1).mean()), 4),
        "top_1_accuracy": round(float((scores.argmax(axis=1) == y).mean()), 4),  # = accuracy
    }
    folder = write_digits_like(
        tmp_path / "v2",
        onnx.load(str(digits_retrain / "model.onnx")),
        scores_input(digits_retrain),
        y,
        eval={"data": "eval.npz", "target": "label", "claimed": claimed, "tolerance": 0.001},
    )
    second = register_handover(sqlite_store, folder, actor="research").version.number
    policy = parse_policy(
        {
            "regression": {
                "metrics": {"classification": ["accuracy", "hit_rate_at_2", "worst_class_recall"]},
                "higher_is_better": {"worst_class_recall": True},
            }
        },
        extra=packaged_names(),
    )
    record = evaluate(sqlite_store, Ref(NAME, second), actor="ci", mode="quick", policy=policy)
    report = record.report
    assert record.passed, report.verdict
    assert report.checks["parity"].reasons[0].startswith("hit_rate_at_2 ")
    assert abs(report.metrics["hit_rate_at_2"] - claimed["hit_rate_at_2"]) < 1e-4
    assert report.baseline_metrics["worst_class_recall"] > 0.8
    assert report.directions["hit_rate_at_2"] is True
    deltas = {d["name"]: d for d in report.regression["deltas"]}
    assert {"accuracy", "hit_rate_at_2", "worst_class_recall"} <= set(deltas)
    assert "top_5_accuracy" in deltas  # the built-in top-k is bootstrapped too
    assert deltas["worst_class_recall"]["higher_is_better"] is True
    hit = deltas["hit_rate_at_2"]
    assert hit["low"] <= hit["delta"] <= hit["high"]
    gate_lines = " ".join(report.checks["regression"].reasons)
    assert "hit_rate_at_2" in gate_lines and "worst_class_recall" in gate_lines


def test_gating_a_metric_without_a_direction_is_refused_before_anything_runs(
    sqlite_store: Store,
    digits_source: Path,
    team_metrics_site: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(team_metrics_site))
    number = register_handover(sqlite_store, digits_source, actor="research").version.number
    policy = parse_policy(
        {"regression": {"metrics": {"classification": ["worst_class_recall"]}}},
        extra=packaged_names(),
    )
    with pytest.raises(BadInput, match="does not say whether higher is better"):
        evaluate(sqlite_store, Ref(NAME, number), actor="ci", mode="quick", policy=policy)
    assert sqlite_store.evaluations.latest(NAME, number) is None
