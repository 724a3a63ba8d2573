from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import yaml

from baton.core.manifest import parse_manifest
from baton.examples.digits import build


def test_built_handover_is_valid_and_claims_what_it_measures(digits_source: Path) -> None:
    manifest = parse_manifest(yaml.safe_load((digits_source / "baton.yaml").read_text()))
    assert manifest.eval is not None
    data = np.load(digits_source / "eval.npz")
    session = ort.InferenceSession(
        str(digits_source / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    probabilities = session.run(None, {"input": data["input"]})[0]
    accuracy = float((probabilities.argmax(1) == data["label"]).mean())
    assert accuracy > 0.9
    assert abs(manifest.eval.claimed["accuracy"] - accuracy) < 1e-3
    assert session.run(None, {"input": data["input"][:1]})[0].shape == (1, 10)


def test_training_is_deterministic(digits_source: Path, tmp_path: Path) -> None:
    again = build(tmp_path / "again")
    assert (again.folder / "model.onnx").read_bytes() == (digits_source / "model.onnx").read_bytes()


def test_quickstart_builds_registers_and_is_idempotent(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    env.update(BATON_HOME=str(tmp_path / "home"), COLUMNS="200")
    cmd = [sys.executable, "-m", "baton.cli.main", "quickstart", "--no-serve"]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert first.returncode == 0, first.stderr
    assert "registered digits-classifier:1" in first.stdout
    assert "baton alias set digits-classifier@production 1" in first.stdout
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert second.returncode == 0
    assert "already registered" in second.stdout
    assert (tmp_path / "home" / "baton.db").exists()
