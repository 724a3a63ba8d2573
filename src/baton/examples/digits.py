"""A research hand-over to try: a digits classifier trained on scikit-learn's bundled data.

No download: ``load_digits`` ships with scikit-learn. Training is deterministic for a seed,
so building twice gives the same bytes (and the registry says "already registered").
"""

from __future__ import annotations

import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import yaml

NAME = "digits-classifier"


@dataclass(frozen=True)
class DigitsHandOver:
    folder: Path
    accuracy: float
    macro_f1: float


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def train(
    seed: int = 0, hidden: tuple[int, ...] = (64,), max_iter: int = 300, label_noise: float = 0.0
) -> tuple[onnx.ModelProto, np.ndarray, np.ndarray]:
    """Train an MLP on 75% of digits; return the ONNX model and the held-out split.

    ``label_noise`` flips that share of training labels, to make a deliberately worse model.
    """
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    from baton.runtime.mlp import mlp_onnx

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_train, x_eval, y_train, y_eval = train_test_split(
        x, y, test_size=0.25, random_state=0, stratify=y
    )
    if label_noise > 0:
        rng = np.random.default_rng(seed)
        flip = rng.random(len(y_train)) < label_noise
        y_train = y_train.copy()
        y_train[flip] = rng.integers(0, 10, flip.sum())
    clf = MLPClassifier(hidden_layer_sizes=hidden, max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_train, y_train)
    model = mlp_onnx(clf.coefs_, clf.intercepts_, activation="relu", head="softmax")
    return model, x_eval.astype(np.float32), y_eval.astype(np.int64)


def build(folder: Path, seed: int = 0) -> DigitsHandOver:
    """Write ``model.onnx``, ``eval.npz`` and ``baton.yaml``; metrics measured by ONNX Runtime."""
    import onnxruntime as ort
    from sklearn.metrics import accuracy_score, f1_score

    folder.mkdir(parents=True, exist_ok=True)
    model, x_eval, y_eval = train(seed)
    model_path = folder / "model.onnx"
    onnx.save(model, str(model_path))
    np.savez(folder / "eval.npz", input=x_eval, label=y_eval)

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    probabilities = session.run(None, {"input": x_eval})[0]
    predicted = probabilities.argmax(axis=1)
    accuracy = float(accuracy_score(y_eval, predicted))
    macro_f1 = float(f1_score(y_eval, predicted, average="macro"))
    manifest = {
        "name": NAME,
        "version": f"2026.11.{seed}",
        "owner": "research-vision",
        "task": "classification",
        "model": "model.onnx",
        "signature": {
            "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 64]}],
            "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 10]}],
        },
        "labels": [str(i) for i in range(10)],
        "eval": {
            "data": "eval.npz",
            "target": "label",
            "claimed": {"accuracy": round(accuracy, 4), "macro_f1": round(macro_f1, 4)},
            "tolerance": 0.01,
        },
        "slo": {"p99_latency_ms": 20, "min_throughput_rps": 500},
        "lineage": {
            "git_commit": _git_commit(),
            "training_data": f"sklearn digits, stratified 75/25 split, random_state 0, seed {seed}",
            "trainer": "sklearn MLPClassifier(64 hidden, relu), exported by baton.runtime.mlp",
        },
        "contacts": {"slack": "#vision-research", "email": "vision@example.com"},
        "description": "8x8 handwritten digit classifier; input is pixel intensity / 16.",
    }
    (folder / "baton.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    return DigitsHandOver(folder, accuracy, macro_f1)
