"""The gate end to end: real models, real stores; it passes a fair retrain and fails each
planted fault (worse, unreproduced claims, NaN, logits, slower, crashing)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import yaml

from baton.core.policy import Policy
from baton.core.refs import Ref
from baton.core.serving_config import ServingConfig
from baton.errors import BadInput, BatonError, NotFound
from baton.evaluate.service import evaluate
from baton.examples.digits import NAME, train
from baton.handover.bundle import read_handover
from baton.handover.register import register_handover
from baton.runtime.mlp import mlp_onnx, random_mlp
from baton.store.registry import FileRecord
from baton.store.store import Store
from tests.evaluate.conftest import crashing_model, honest_claims, weights, write_digits_like

EvalArrays = tuple[np.ndarray, np.ndarray]


def register(store: Store, folder: Path) -> int:
    return register_handover(store, folder, actor="research").version.number


def production(store: Store, folder: Path) -> int:
    number = register(store, folder)
    store.registry.set_alias(NAME, "production", number, "serving")
    return number


def test_fair_retrain_passes_against_production(
    store: Store, digits_source: Path, digits_retrain: Path
) -> None:
    production(store, digits_source)
    version = register(store, digits_retrain)
    record = evaluate(store, Ref(NAME, version), actor="ci", mode="quick")
    report = record.report
    assert record.status == "passed", report.verdict
    assert record.against == 1
    assert {k: v.status for k, v in report.checks.items()} == {
        "parity": "passed",
        "regression": "passed",
        "sanity": "passed",
        "performance": "passed",
    }
    assert report.data.rows == 450
    assert 0.95 < report.metrics["accuracy"] <= 1
    assert len(report.metrics["confusion_matrix"]) == 10
    deltas = {d["name"]: d for d in report.regression["deltas"]}
    assert deltas["accuracy"]["low"] < deltas["accuracy"]["delta"] < deltas["accuracy"]["high"]
    assert 0.9 < report.regression["agreement"] < 1
    assert (
        report.regression["examples"][0]["candidate"]
        != report.regression["examples"][0]["baseline"]
    )

    latest = store.evaluations.latest(NAME, version)
    assert latest is not None and latest.passed and latest.id == record.id
    config = ServingConfig.model_validate(latest.recommended)
    assert config.cores == 1 and config.throughput_rps and config.throughput_rps >= 500
    assert config.p99_latency_ms is not None and config.p99_latency_ms <= 20
    assert store.registry.log_entries(NAME, limit=1)[0].action == "evaluation.passed"
    inputs, outputs = report.drift_references()  # what the server measures traffic against
    assert inputs is not None and inputs.rows == 450
    assert outputs is not None and len(outputs.features) == 10


def test_default_profile_measures_int8_and_the_grid(
    sqlite_store: Store, digits_source: Path
) -> None:
    version = register(sqlite_store, digits_source)
    record = evaluate(sqlite_store, Ref(NAME, version), actor="ci", cpus=2)
    report = record.report
    assert record.passed, report.verdict
    assert report.checks["regression"].status == "skipped"
    int8 = report.int8
    assert int8 is not None and int8.metric == "accuracy"
    assert int8.drop is not None and abs(int8.drop) < 0.05
    assert report.profile is not None
    points = report.profile.points
    assert {p.precision for p in points} == {"fp32", "int8"}
    assert {p.threads for p in points} == {1, 2}
    assert {p.graph_optimization for p in points} == {"basic", "all"}
    assert {p.batch_size for p in points} == {1, 8, 32}
    assert all((p.cores or 0) <= 2 for p in points)
    assert set(report.profile.load_seconds) == {"fp32", "int8"}
    assert report.profile.size_bytes["fp32"] > 0
    recommended = ServingConfig.model_validate(record.recommended)
    if recommended.precision == "int8":  # only when it really was the cheapest: stored
        assert recommended.model_sha256 is not None
        sqlite_store.artifacts.verified_path(recommended.model_sha256)


def test_a_worse_model_fails_regression_only(
    sqlite_store: Store, digits_source: Path, digits_eval: EvalArrays, tmp_path: Path
) -> None:
    production(sqlite_store, digits_source)
    model, x, y = train(seed=0, max_iter=15)
    claims = honest_claims(model, x, y)  # research is honest: parity holds
    folder = write_digits_like(
        tmp_path / "worse",
        model,
        x,
        y,
        eval={"data": "eval.npz", "claimed": claims, "tolerance": 0.01},
    )
    record = evaluate(
        sqlite_store, Ref(NAME, register(sqlite_store, folder)), actor="ci", mode="quick"
    )
    checks = record.report.checks
    assert record.status == "failed"
    assert checks["parity"].status == "passed"
    assert checks["regression"].status == "failed"
    assert (
        "accuracy" in checks["regression"].reasons[0]
        and "a real drop" in checks["regression"].reasons[0]
    )
    assert not sqlite_store.evaluations.latest(NAME, 2).passed  # type: ignore[union-attr]


def test_claims_that_do_not_reproduce_fail_parity(
    sqlite_store: Store, digits_handover: Path
) -> None:
    manifest = yaml.safe_load((digits_handover / "baton.yaml").read_text())
    manifest["eval"]["claimed"] = {"accuracy": 0.999, "macro_f1": 0.999}
    (digits_handover / "baton.yaml").write_text(yaml.safe_dump(manifest))
    record = evaluate(
        sqlite_store, Ref(NAME, register(sqlite_store, digits_handover)), actor="ci", mode="quick"
    )
    parity = record.report.checks["parity"]
    assert record.status == "failed" and parity.status == "failed"
    assert "not reproduced" in parity.reasons[0]


def test_nan_outputs_fail_sanity(store: Store, digits_eval: EvalArrays, tmp_path: Path) -> None:
    x, y = digits_eval
    w, b = weights(train(seed=0, max_iter=15)[0])
    b[-1] = b[-1].copy()
    b[-1][3] = np.nan  # one poisoned bias: softmax turns every row into NaN
    folder = write_digits_like(tmp_path / "nan", mlp_onnx(w, b), x, y)
    record = evaluate(store, Ref(NAME, register(store, folder)), actor="ci", mode="quick")
    sanity = record.report.checks["sanity"]
    assert record.status == "failed" and sanity.status == "failed"
    assert "NaN or Inf" in sanity.reasons[0]
    assert record.report.metrics["log_loss"] is None  # not computed from garbage
    stored = store.evaluations.latest(NAME, record.version)  # NaN never reaches the JSON
    assert stored is not None and stored.report == record.report


@pytest.mark.parametrize("head", ["identity", "sigmoid"])
def test_outputs_that_are_not_probabilities_fail_sanity(
    sqlite_store: Store, digits_source: Path, digits_eval: EvalArrays, tmp_path: Path, head: Any
) -> None:
    production(sqlite_store, digits_source)
    x, y = digits_eval
    w, b = weights(onnx.load(str(digits_source / "model.onnx")))
    folder = write_digits_like(tmp_path / head, mlp_onnx(w, b, head=head), x, y)
    record = evaluate(
        sqlite_store, Ref(NAME, register(sqlite_store, folder)), actor="ci", mode="quick"
    )
    checks = record.report.checks
    assert record.status == "failed" and checks["sanity"].status == "failed"
    assert any("do not sum to one" in r for r in checks["sanity"].reasons)
    assert checks["regression"].status == "passed"  # same argmax: the ranking is intact
    if head == "identity":  # logits leave the range [0, 1] the baseline's probabilities used
        assert any("outside the reference range" in r for r in checks["sanity"].reasons)


def test_a_slower_model_fails_the_slo(
    sqlite_store: Store, digits_source: Path, digits_eval: EvalArrays, tmp_path: Path
) -> None:
    x, y = digits_eval
    slo = {"p99_latency_ms": 20, "min_throughput_rps": 20000}
    fast = write_digits_like(
        tmp_path / "fast", onnx.load(str(digits_source / "model.onnx")), x, y, slo=slo
    )
    slow = write_digits_like(
        tmp_path / "slow", random_mlp([64, 4096, 4096, 4096, 10], seed=3), x, y, slo=slo
    )
    fast_record = evaluate(
        sqlite_store, Ref(NAME, register(sqlite_store, fast)), actor="ci", mode="quick"
    )
    assert fast_record.report.checks["performance"].status == "passed"
    slow_record = evaluate(
        sqlite_store,
        Ref(NAME, register(sqlite_store, slow)),
        actor="ci",
        mode="quick",
        against=Ref(NAME, 1),
    )
    performance = slow_record.report.checks["performance"]
    assert slow_record.status == "failed" and performance.status == "failed"
    assert "no profiled configuration meets the SLO" in performance.reasons[0]
    assert slow_record.recommended is None


def test_a_model_that_crashes_mid_evaluation_is_recorded_as_an_error(
    store: Store, digits_eval: EvalArrays, tmp_path: Path
) -> None:
    x, y = digits_eval
    w, b = weights(train(seed=0, max_iter=15)[0])
    late = x.copy()
    late[300:, 0] = 0.5  # rows 300.. make the model fail; the first batches run fine
    folder = write_digits_like(tmp_path / "crash", crashing_model(w, b), late, y)
    version = register(store, folder)
    record = evaluate(store, Ref(NAME, version), actor="ci", mode="quick", batch_size=100)
    assert record.status == "error" and not record.passed
    assert record.error is not None and "failed on rows 300..399" in record.error
    assert record.recommended is None
    latest = store.evaluations.latest(NAME, version)
    assert latest is not None and latest.status == "error" and latest.report.error == record.error


def _bad_eval(folder: Path, kind: str) -> None:
    data = dict(np.load(folder / "eval.npz"))
    if kind == "columns":
        np.savez(folder / "eval.npz", pixels=data["input"], label=data["label"])
    elif kind == "shape":
        np.savez(folder / "eval.npz", input=data["input"][:, :32], label=data["label"])
    elif kind == "dtype":
        np.savez(folder / "eval.npz", input=data["input"].astype(str), label=data["label"])
    elif kind == "labels":
        np.savez(folder / "eval.npz", input=data["input"], label=data["label"] + 5)
    elif kind == "empty":
        (folder / "eval.npz").write_bytes(b"")


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("columns", "has no array 'input' (it has: pixels, label)"),
        ("shape", "shape [rows, 32] but 'input' needs [rows, 64]"),
        ("dtype", "the model takes float32"),
        ("labels", "labels the model does not know: 10, 11, 12, 13, 14"),
        ("empty", "is empty"),
    ],
)
def test_bad_eval_data_is_one_line_and_stores_nothing(
    sqlite_store: Store, digits_handover: Path, kind: str, message: str
) -> None:
    """Refused at register now; a version stored before that check fails evaluation alike."""
    _bad_eval(digits_handover, kind)
    with pytest.raises(BadInput) as refused:
        register(sqlite_store, digits_handover)
    assert message in refused.value.message and "\n" not in refused.value.message
    assert sqlite_store.registry.models() == []
    version = _register_unchecked(sqlite_store, digits_handover)
    with pytest.raises(BadInput) as err:
        evaluate(sqlite_store, Ref(NAME, version), actor="ci", mode="quick")
    assert message in err.value.message and "\n" not in err.value.message
    assert sqlite_store.evaluations.latest(NAME, version) is None
    assert not any(
        e.action.startswith("evaluation") for e in sqlite_store.registry.log_entries(NAME)
    )


def _register_unchecked(store: Store, folder: Path) -> int:
    """Store a hand-over as registration did before it read the eval data."""
    handover = read_handover(folder)
    files = []
    for role, path in (("model", handover.model_path), ("manifest", handover.manifest_path)):
        item = store.artifacts.put_file(path)
        files.append(FileRecord(role, path.name, item.sha256, item.size))
    assert handover.eval_path is not None
    item = store.artifacts.put_file(handover.eval_path)
    files.append(FileRecord("eval_data", handover.eval_path.name, item.sha256, item.size))
    return store.registry.register(handover.manifest, files, "research").version.number


def test_against_must_exist_and_be_another_version_of_the_model(
    sqlite_store: Store, digits_source: Path
) -> None:
    version = register(sqlite_store, digits_source)
    cases: list[tuple[Ref, type[BatonError], str]] = [
        (Ref(NAME, 9), NotFound, "has no version 9"),
        (Ref(NAME, alias="production"), NotFound, "has no alias @production"),
        (Ref(NAME, version), BadInput, "is the version being evaluated"),
        (Ref("other", 1), BadInput, "is another model"),
    ]
    for against, kind, message in cases:
        with pytest.raises(kind, match=message):
            evaluate(sqlite_store, Ref(NAME, version), actor="ci", against=against, mode="quick")
    assert sqlite_store.evaluations.history(NAME) == []


def test_a_version_without_eval_data_is_bad_input(
    sqlite_store: Store, digits_handover: Path
) -> None:
    manifest = yaml.safe_load((digits_handover / "baton.yaml").read_text())
    del manifest["eval"]
    (digits_handover / "baton.yaml").write_text(yaml.safe_dump(manifest))
    version = register(sqlite_store, digits_handover)
    with pytest.raises(BadInput, match="has no eval data"):
        evaluate(sqlite_store, Ref(NAME, version), actor="ci", mode="quick")


def test_a_stricter_team_policy_fails_what_the_default_passes(
    sqlite_store: Store, digits_source: Path, digits_retrain: Path
) -> None:
    production(sqlite_store, digits_source)
    version = register(sqlite_store, digits_retrain)
    strict = Policy.model_validate({"regression": {"min_agreement": 0.999}})
    record = evaluate(sqlite_store, Ref(NAME, version), actor="ci", mode="quick", policy=strict)
    assert record.status == "failed"
    assert "policy asks for at least 99.9%" in record.report.checks["regression"].reasons[0]


def test_generic_model_against_reference_outputs(sqlite_store: Store, tmp_path: Path) -> None:
    model = random_mlp([4, 8, 3], seed=0, head="identity")
    import onnxruntime as ort

    x = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    expected = ort.InferenceSession(model.SerializeToString()).run(None, {"input": x})[0]
    folder = tmp_path / "generic"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    onnx.save(model, str(folder / "model.onnx"))
    manifest = {
        "name": "toy",
        "owner": "research",
        "task": "generic",
        "model": "model.onnx",
        "signature": {
            "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 4]}],
            "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 3]}],
        },
        "eval": {"data": "eval.npz", "claimed": {"max_abs_diff": 0.0}, "tolerance": 1e-4},
    }
    (folder / "baton.yaml").write_text(yaml.safe_dump(manifest))
    np.savez(folder / "eval.npz", input=x, probabilities=expected)
    version = register(sqlite_store, folder)
    record = evaluate(sqlite_store, Ref("toy", version), actor="ci", mode="quick")
    assert record.passed, record.report.verdict
    assert record.report.metrics["max_abs_diff"] < 1e-5
    onnx.save(random_mlp([4, 8, 3], seed=1, head="identity"), str(folder / "model.onnx"))
    version = register(sqlite_store, folder)  # another model, judged on the same references
    bad = evaluate(sqlite_store, Ref("toy", version), actor="ci", mode="quick")
    assert bad.status == "failed"
    assert bad.report.checks["parity"].status == "failed"
    assert bad.report.metrics["mean_abs_diff"] > 0.1


def test_an_int8_recommendation_stores_the_quantized_model(
    sqlite_store: Store, digits_source: Path, digits_eval: EvalArrays
) -> None:
    import onnxruntime as ort

    version = register(sqlite_store, digits_source)
    int8_only = Policy.model_validate(
        {"performance": {"precisions": ["int8"], "int8_max_drop": 0.05}}
    )
    record = evaluate(sqlite_store, Ref(NAME, version), actor="ci", mode="quick", policy=int8_only)
    assert record.passed, record.report.verdict
    assert {p.precision for p in record.report.profile.points} == {"int8"}  # type: ignore[union-attr]
    config = ServingConfig.model_validate(record.recommended)
    assert config.precision == "int8" and config.model_sha256 is not None
    path = sqlite_store.artifacts.verified_path(config.model_sha256)
    x, y = digits_eval
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    accuracy = float((session.run(None, {"input": x})[0].argmax(axis=1) == y).mean())
    assert record.report.int8 is not None and accuracy == record.report.int8.int8
    assert any(n.op_type == "DynamicQuantizeLinear" for n in onnx.load(str(path)).graph.node)


def _regression_handover(folder: Path, scale: float, claimed: dict[str, float]) -> Path:
    """A linear regressor ``x @ (w * scale)`` with CSV eval data whose truth is ``x @ w``."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    rng = np.random.default_rng(7)
    w = np.array([[1.0], [-2.0], [0.5], [3.0]], np.float32)
    x = rng.normal(size=(600, 4)).astype(np.float32)
    y = (x @ w)[:, 0] + rng.normal(0, 0.1, 600).astype(np.float32)
    folder.mkdir(parents=True)
    model = mlp_onnx([w * scale], [np.zeros(1, np.float32)], head="identity", output_name="y_hat")
    onnx.save(model, str(folder / "model.onnx"))
    table = pa.table({**{f"input_{i}": x[:, i] for i in range(4)}, "price": y})
    pcsv.write_csv(table, folder / "eval.csv")
    manifest = {
        "name": "pricer",
        "owner": "research",
        "task": "regression",
        "model": "model.onnx",
        "signature": {
            "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 4]}],
            "outputs": [{"name": "y_hat", "dtype": "float32", "shape": [-1, 1]}],
        },
        "eval": {"data": "eval.csv", "target": "price", "claimed": claimed, "tolerance": 0.02},
    }
    (folder / "baton.yaml").write_text(yaml.safe_dump(manifest))
    return folder


def test_a_regression_model_from_csv_is_compared_on_mae_rmse_and_r2(
    sqlite_store: Store, tmp_path: Path
) -> None:
    good = register(sqlite_store, _regression_handover(tmp_path / "good", 1.0, {"r2": 0.99}))
    sqlite_store.registry.set_alias("pricer", "production", good, "serving")
    worse = register(sqlite_store, _regression_handover(tmp_path / "worse", 0.7, {}))
    record = evaluate(sqlite_store, Ref("pricer", worse), actor="ci", mode="quick")
    metrics = record.report.metrics
    assert set(metrics) == {"mae", "rmse", "r2"} and metrics["r2"] < 0.95
    assert record.report.baseline_metrics["r2"] > 0.99
    regression = record.report.checks["regression"]
    assert record.status == "failed" and regression.status == "failed"
    assert any(r.startswith("mae") and "a real drop" in r for r in regression.reasons)
    back = evaluate(
        sqlite_store, Ref("pricer", good), actor="ci", mode="quick", against=Ref("pricer", worse)
    )
    assert back.passed, back.report.verdict
    assert back.report.checks["parity"].status == "passed"


def test_an_embedding_model_reproduces_claimed_recall_at_1_5_10_and_mrr(
    sqlite_store: Store, tmp_path: Path
) -> None:
    import json

    import onnxruntime as ort
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(3)
    centres = rng.normal(size=(4, 8)) * 1.2
    labels = rng.integers(0, 4, 200)
    x = (centres[labels] + rng.normal(size=(200, 8))).astype(np.float32)
    folder = tmp_path / "embed"
    folder.mkdir()
    model = random_mlp([8, 16], seed=0, head="identity")
    onnx.save(model, str(folder / "model.onnx"))
    lines = [
        json.dumps({"input": row.tolist(), "label": f"c{k}"})
        for row, k in zip(x, labels, strict=True)
    ]
    (folder / "eval.jsonl").write_text("\n".join(lines) + "\n")
    # what research measured, independently: scikit-learn's cosine neighbours of the outputs
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    emb = session.run(None, {"input": x})[0]
    _, nearest = NearestNeighbors(n_neighbors=200, metric="cosine").fit(emb).kneighbors(emb)
    same = labels[nearest[:, 1:]] == labels[:, None]
    claimed = {f"recall_at_{k}": float(same[:, :k].any(axis=1).mean()) for k in (1, 10)}
    claimed["recall_at_k"] = float(same[:, :5].any(axis=1).mean())  # the older name of @5
    claimed["mrr"] = float(np.where(same.any(axis=1), 1 / (same.argmax(axis=1) + 1), 0).mean())
    manifest = {
        "name": "embedder",
        "owner": "research",
        "task": "embedding",
        "model": "model.onnx",
        "signature": {
            "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 8]}],
            "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 16]}],
        },
        "eval": {"data": "eval.jsonl", "claimed": claimed, "tolerance": 0.001},
    }
    (folder / "baton.yaml").write_text(yaml.safe_dump(manifest))
    record = evaluate(
        sqlite_store, Ref("embedder", register(sqlite_store, folder)), actor="ci", mode="quick"
    )
    assert record.passed, record.report.verdict
    parity = record.report.checks["parity"]
    assert parity.status == "passed" and len(parity.reasons) == 4
    assert "recall_at_k (now recall_at_5)" in " ".join(parity.reasons)
    measured = record.report.metrics
    assert 0.3 < measured["recall_at_1"] < measured["recall_at_5"] < measured["recall_at_10"]
    assert record.report.directions["mrr"] is True


def test_a_binary_classifier_with_one_sigmoid_score(sqlite_store: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 4)).astype(np.float32)
    w = np.array([[2.0], [-1.0], [0.0], [1.0]], np.float32)
    y = ((x @ w)[:, 0] > 0).astype(np.int64)
    folder = tmp_path / "binary"
    folder.mkdir()
    onnx.save(mlp_onnx([w], [np.zeros(1, np.float32)], head="sigmoid"), str(folder / "model.onnx"))
    np.savez(folder / "eval.npz", input=x, label=y)
    manifest = {
        "name": "churn",
        "owner": "research",
        "task": "classification",
        "model": "model.onnx",
        "signature": {
            "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 4]}],
            "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 1]}],
        },
        "eval": {"data": "eval.npz", "claimed": {"accuracy": 1.0}, "tolerance": 0.0},
    }
    (folder / "baton.yaml").write_text(yaml.safe_dump(manifest))
    record = evaluate(
        sqlite_store, Ref("churn", register(sqlite_store, folder)), actor="ci", mode="quick"
    )
    assert record.passed, record.report.verdict
    assert record.report.metrics["confusion_matrix"] == [
        [int((y == 0).sum()), 0],
        [0, int((y == 1).sum())],
    ]
