"""``baton drift`` finds the running servers through their discovery files and reads them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from baton.config import Settings
from baton.core.drift import build_reference, feature_matrix
from baton.core.evaluation import EvaluationReport, ReferenceBins
from baton.handover.register import register_handover
from baton.store.store import open_store
from baton.store.tx import utcnow
from tests.baton_cli import baton, clean_env, serving
from tests.handover_factory import write_handover


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    settings = Settings(home=tmp_path / "home", user="tester")
    store = open_store(settings)
    register_handover(store, write_handover(tmp_path / "toy"), actor="tester")
    evals = np.random.default_rng(0).normal(size=(400, 4))
    names, matrix = feature_matrix({"input": evals}, ["input"], 400)
    stored = {"drift_reference": {"inputs": ReferenceBins.of(build_reference(names, matrix))}}
    report = EvaluationReport.model_validate(stored)
    store.evaluations.record("toy", 1, status="passed", report=report, actor="tester",
                             started_at=utcnow())  # fmt: skip
    store.close()
    return clean_env(tmp_path / "home")


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[str]:
    with serving(env, "toy") as url:
        yield url


def test_drift_of_a_running_server(env: dict[str, str], server: str) -> None:
    rows = np.random.default_rng(1).normal(3, 1, size=(256, 4)).astype(np.float32)
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [256, 4],
                        "data": rows.ravel().tolist()}]}  # fmt: skip
    with httpx.Client(base_url=server, timeout=30) as client:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for _ in range(20):
                client.post("/v2/models/toy/infer", json=body).raise_for_status()
            features = client.get("/v2/models/toy/drift").json()["features"]
            if min(f["samples"] for f in features) >= 1000:
                break
    result = baton(env, "drift", "toy", "--json")
    assert result.returncode == 0, result.stderr
    (found,) = json.loads(result.stdout)
    assert found["server"] == server
    assert {f["status"] for f in found["features"]} == {"drift"}
    table = baton(env, "drift", "toy")
    assert "input[0]" in table.stdout
    failing = baton(env, "drift", "toy", "--fail-on-drift")
    assert failing.returncode == 1
    assert "4 feature(s) of toy have drifted" in failing.stderr


def test_no_server_is_exit_2(env: dict[str, str]) -> None:
    result = baton(env, "drift", "toy")
    assert result.returncode == 2
    assert "no running baton server serves toy" in result.stderr
