"""Drift on the serving path: the monitor itself, and a real server under shifted traffic."""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

import numpy as np
import pytest
from tests.serve.conftest import ADMIN, ADMIN_TOKEN, LiveServer, Start

from baton.core.drift import build_reference, feature_matrix
from baton.core.evaluation import EvaluationReport, ReferenceBins
from baton.core.signature import Signature
from baton.serve.drift import DriftMonitor
from baton.store.store import Store
from baton.store.tx import utcnow

SIG = Signature.model_validate({
    "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 4]}],
    "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 3]}],
})  # fmt: skip
RNG = np.random.default_rng(0)
EVAL = RNG.normal(size=(400, 4)).astype(np.float32)


def reference_report() -> EvaluationReport:
    names, matrix = feature_matrix({"input": EVAL}, ["input"], len(EVAL))
    stored = {"drift_reference": {"inputs": ReferenceBins.of(build_reference(names, matrix))}}
    return EvaluationReport.model_validate(stored)


def test_sampling_keeps_to_its_time_budget() -> None:
    inputs, _ = reference_report().drift_references()
    # each observe reads the clock before and after: 0 -> 1 takes 1 s, so with a 50% budget
    # the next observation is due at 1 + 1 / 0.5 = 3
    ticks = iter([0.0, 1.0, 2.0, 3.0, 3.5])
    monitor = DriftMonitor(SIG, inputs, None, budget=0.5, max_rows=10, clock=ticks.__next__)
    batch = {"input": RNG.normal(size=(32, 4))}
    monitor.observe(batch, {})
    assert monitor.samples == 10  # at most max_rows of a batch
    monitor.observe(batch, {})  # at 2: still within the pause
    assert monitor.samples == 10
    monitor.observe(batch, {})  # at 3: due again
    assert monitor.samples == 20


def test_windows_rotate_so_scores_follow_recent_traffic() -> None:
    inputs, _ = reference_report().drift_references()
    counter = itertools.count()
    monitor = DriftMonitor(SIG, inputs, None, window_rows=1000, budget=1.0, max_rows=100,
                           clock=lambda: float(next(counter)))  # fmt: skip
    for _ in range(20):  # 2,000 shifted rows
        monitor.observe({"input": RNG.normal(3, 1, size=(100, 4))}, {})
    assert all(s.status == "drift" for s in monitor.scores())
    for _ in range(20):  # then 2,000 rows like the eval data: the shift ages out
        monitor.observe({"input": RNG.normal(size=(100, 4))}, {})
    assert all(s.status == "ok" for s in monitor.scores())
    assert monitor.samples <= 2000


def test_bad_batches_never_raise() -> None:
    inputs, _ = reference_report().drift_references()
    monitor = DriftMonitor(SIG, inputs, None, budget=1.0, clock=itertools.count().__next__)  # type: ignore[arg-type]
    monitor.observe({"input": np.zeros((2, 7))}, {})  # wrong width: skipped
    monitor.observe({}, {})
    assert monitor.samples == 0


def test_failed_sampling_is_counted_and_the_first_failure_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 15.7: a failure no longer disappears; it is counted, and said once."""
    inputs, _ = reference_report().drift_references()
    counted: list[int] = []
    monitor = DriftMonitor(SIG, inputs, None, budget=1.0, clock=itertools.count().__next__,  # type: ignore[arg-type]
                           name="toy:1", on_error=lambda: counted.append(1))  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="baton.serve"):
        for _ in range(3):  # zero rows: numpy cannot reshape them (a [0, 4] request)
            monitor.observe({"input": np.zeros((0, 4), dtype=np.float32)}, {})
        monitor.observe({"input": np.zeros((2, 7))}, {})  # wrong width: skipped, no failure
        monitor.observe({}, {})  # nothing to sample is not a failure either
    assert monitor.errors == 3
    assert len(counted) == 3
    said = [r.getMessage() for r in caplog.records if "drift sampling failed" in r.getMessage()]
    assert len(said) == 1
    assert said[0].startswith("toy:1: ")
    assert "baton_drift_errors_total" in said[0]


def test_no_reference_means_no_monitor_fields() -> None:
    assert EvaluationReport().drift_references() == (None, None)
    assert EvaluationReport.model_validate({"accuracy": 1}).drift_references() == (None, None)


def test_a_served_model_reports_drift_on_shifted_traffic(
    toy_store: Store, live_server: Start
) -> None:
    toy_store.evaluations.record(
        "toy", 1, status="passed", report=reference_report(), actor="tester", started_at=utcnow()
    )
    server = live_server("toy")
    before = server.client.get("/v2/models/toy/drift").json()
    assert before["reference"] is True
    assert {f["status"] for f in before["features"]} == {"insufficient data"}

    rows = RNG.normal(2.5, 1, size=(256, 4)).astype(np.float32)
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [256, 4],
                        "data": rows.ravel().tolist()}]}  # fmt: skip
    deadline = time.monotonic() + 60
    report = before
    while time.monotonic() < deadline:
        for _ in range(20):
            assert server.client.post("/v2/models/toy/infer", json=body).status_code == 200
        report = server.client.get("/v2/models/toy/drift").json()
        if all(f["samples"] >= 1000 for f in report["features"]):
            break
    statuses = {f["feature"]: f["status"] for f in report["features"]}
    assert statuses == {f"input[{i}]": "drift" for i in range(4)}
    metrics = server.client.get("/metrics").text
    assert 'baton_drift_score{feature="input[0]",model="toy",version="1"}' in metrics
    assert 'baton_drift_samples{model="toy",version="1"}' in metrics
    assert 'baton_drift_errors_total{model="toy",version="1"} 0.0' in metrics


def test_a_model_without_reference_says_so(toy_store: Store, live_server: Start) -> None:
    server = live_server("toy")
    report = server.client.get("/v2/models/toy/drift").json()
    assert report == {"name": "toy", "version": "1", "reference": False, "features": []}


@pytest.mark.parametrize("path", ["/v2/models/nope/drift", "/v2/models/toy/versions/9/drift"])
def test_drift_of_unserved_models_is_404(toy_store: Store, live_server: Start, path: str) -> None:
    server = live_server("toy")
    response = server.client.get(path)
    assert response.status_code == 404
    assert "not served here" in response.json()["error"]


def wait_for_reference(server: LiveServer, path: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        report: dict[str, Any] = server.client.get(path).json()
        if report["reference"] or time.monotonic() > deadline:
            return report
        time.sleep(0.02)


@pytest.mark.parametrize("ref", ["toy", "toy:1"])
def test_an_evaluation_that_lands_after_loading_brings_its_reference_without_restart(
    toy_store: Store, live_server: Start, ref: str
) -> None:
    """Issue 14.3: the poller notices the new evaluation (alias and pinned routes alike)."""
    server = live_server(ref, poll_interval_s=0.05)
    assert server.client.get("/v2/models/toy/drift").json()["reference"] is False
    toy_store.evaluations.record(
        "toy", 1, status="passed", report=reference_report(), actor="tester", started_at=utcnow()
    )
    report = wait_for_reference(server, "/v2/models/toy/drift")
    assert report["reference"] is True
    assert {f["feature"] for f in report["features"]} == {f"input[{i}]" for i in range(4)}
    rows = RNG.normal(2.5, 1, size=(64, 4)).astype(np.float32)
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [64, 4],
                        "data": rows.ravel().tolist()}]}  # fmt: skip
    assert server.client.post("/v2/models/toy/infer", json=body).status_code == 200
    samples = [f["samples"] for f in server.client.get("/v2/models/toy/drift").json()["features"]]
    assert min(samples) > 0  # traffic after the pick-up counts against the new reference


def test_load_rereads_the_reference_when_polling_is_off(
    toy_store: Store, live_server: Start
) -> None:
    server = live_server("toy:1", poll_interval_s=0, admin_token=ADMIN_TOKEN)
    toy_store.evaluations.record(
        "toy", 1, status="passed", report=reference_report(), actor="tester", started_at=utcnow()
    )
    assert server.client.get("/v2/models/toy/drift").json()["reference"] is False
    assert server.client.post("/v2/repository/models/toy/load", headers=ADMIN).status_code == 200
    assert server.client.get("/v2/models/toy/drift").json()["reference"] is True
