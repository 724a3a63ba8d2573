"""Hand-overs with real models that are better, worse, broken or slower than the example."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import yaml
from onnx import TensorProto, helper, numpy_helper

from baton.config import Settings
from baton.runtime.mlp import mlp_onnx
from baton.store.store import Store, open_store


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """A real SQLite store; the tests that matter for PostgreSQL use ``store`` instead."""
    s = open_store(Settings(home=tmp_path / "home", user="tester"))
    yield s
    s.close()


@pytest.fixture(scope="session")
def digits_retrain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fair retrain of the example: another seed, same recipe (``digits.build(seed=1)``)."""
    from baton.examples.digits import build

    folder = tmp_path_factory.mktemp("digits-retrain") / "handover"
    build(folder, seed=1)
    return folder


@pytest.fixture(scope="session")
def digits_eval(digits_source: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.load(digits_source / "eval.npz")
    return data["input"], data["label"]


def digits_manifest(**changes: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "name": "digits-classifier",
        "owner": "research-vision",
        "task": "classification",
        "model": "model.onnx",
        "signature": {
            "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 64]}],
            "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 10]}],
        },
        "labels": [str(i) for i in range(10)],
        "eval": {"data": "eval.npz", "target": "label", "claimed": {}, "tolerance": 0.01},
        "slo": {"p99_latency_ms": 20, "min_throughput_rps": 500},
    }
    manifest.update(changes)
    return manifest


def honest_claims(model: onnx.ModelProto, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """What research would claim: the model's real accuracy on its eval data."""
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    predicted = session.run(None, {"input": x})[0].argmax(axis=1)
    return {"accuracy": round(float((predicted == y).mean()), 4)}


def write_digits_like(
    folder: Path,
    model: onnx.ModelProto,
    x: np.ndarray,
    y: np.ndarray,
    **manifest: Any,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    np.savez(folder / "eval.npz", input=x, label=y)
    (folder / "baton.yaml").write_text(yaml.safe_dump(digits_manifest(**manifest)))
    return folder


def weights(model: onnx.ModelProto) -> tuple[list[np.ndarray], list[np.ndarray]]:
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    n = sum(1 for k in inits if k.startswith("W"))
    return [inits[f"W{i}"] for i in range(n)], [inits[f"b{i}"] for i in range(n)]


def crashing_model(w: list[np.ndarray], b: list[np.ndarray]) -> onnx.ModelProto:
    """The digits MLP plus a lookup that ONNX Runtime rejects when the first pixel is not 0."""
    base = mlp_onnx(w, b)
    graph = base.graph
    extra = [
        helper.make_node("Slice", ["input", "s0", "s1", "ax"], ["first"]),
        helper.make_node("Mul", ["first", "k"], ["scaled"]),
        helper.make_node("Cast", ["scaled"], ["idx"], to=TensorProto.INT64),
        helper.make_node("Gather", ["table", "idx"], ["zero"]),
        helper.make_node("Add", ["z1", "zero"], ["z1b"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([0], np.int64), "s0"),
        numpy_helper.from_array(np.array([1], np.int64), "s1"),
        numpy_helper.from_array(np.array([1], np.int64), "ax"),
        numpy_helper.from_array(np.array([1000.0], np.float32), "k"),
        numpy_helper.from_array(np.zeros(1, np.float32), "table"),
    ]
    softmax = next(n for n in graph.node if n.op_type == "Softmax")
    softmax.input[0] = "z1b"
    nodes = [n for n in graph.node if n.op_type != "Softmax"] + extra + [softmax]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(inits)
    onnx.checker.check_model(base)
    return base


@pytest.fixture(scope="session")
def team_metrics_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Team X's metric package (hit_rate_at_2, worst_class_recall), pip-installed."""
    from tests.evaluate.metric_package import TEAM_ENTRIES, TEAM_METRICS, install

    root = tmp_path_factory.mktemp("team-metrics")
    return install(root / "site", "teamx-metrics", "teamx_metrics", TEAM_METRICS, TEAM_ENTRIES)


@pytest.fixture(scope="session")
def broken_metrics_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A package whose every metric is wrong in its own way."""
    from tests.evaluate.metric_package import BROKEN_ENTRIES, BROKEN_METRICS, install

    root = tmp_path_factory.mktemp("broken-metrics")
    return install(
        root / "site", "broken-metrics", "broken_metrics", BROKEN_METRICS, BROKEN_ENTRIES
    )
