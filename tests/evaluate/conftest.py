"""Hand-overs with real models that are better, worse, broken or slower than the example."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import yaml

from baton.config import Settings
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
