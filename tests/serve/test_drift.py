"""Drift on the serving path: the monitor itself, and a real server under shifted traffic."""

from __future__ import annotations

import itertools
import logging
import math
import time
from typing import Any

import numpy as np
import orjson
import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families
from tests.serve.conftest import ADMIN, ADMIN_TOKEN, LiveServer, Start

from baton.core.drift import DriftSketch, build_reference, feature_matrix
from baton.core.evaluation import EvaluationReport, ReferenceBins
from baton.core.metric_names import OUTPUT_BINS, bin_label
from baton.core.signature import Signature
from baton.errors import BadInput
from baton.serve.drift import DriftMonitor, MakeBin, OutputWatch
from baton.serve.options import ServeOptions
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


# --- every served output: non-finite rows, and bins exported for the canary judge -------

OUT_NAMES = [f"probabilities[{i}]" for i in range(3)]
OUT_REFERENCE = build_reference(OUT_NAMES, RNG.dirichlet(np.ones(3), 400))


def bin_counter(registry: CollectorRegistry) -> tuple[Counter, MakeBin]:
    family = Counter("bins", "test bins", ["output", "bin"], registry=registry)
    return family, lambda output, upper: family.labels(output, bin_label(upper))


def exported(registry: CollectorRegistry, name: str = "bins_total") -> dict[tuple[str, ...], float]:
    return {
        tuple(v for k, v in sorted(s.labels.items())): s.value
        for family in registry.collect()
        for s in family.samples
        if s.name == name
    }


def test_the_output_watch_bins_every_row_and_exports_what_grew() -> None:
    registry = CollectorRegistry()
    nonfinite = Counter("nonfinite", "rows", registry=registry)
    _, make = bin_counter(registry)
    watch = OutputWatch(["probabilities"], nonfinite)
    watch.observe({"probabilities": RNG.dirichlet(np.ones(3), 50)})  # not binned yet: not counted
    watch.bin_with(OUT_REFERENCE, make)
    assert len(exported(registry)) == 3 * 10  # every bin exported at 0 from the start
    assert set(exported(registry).values()) == {0.0}
    for rows in (1, 7, 300):
        watch.observe({"probabilities": RNG.dirichlet(np.ones(3), rows)})
    watch.flush()
    counts = exported(registry)
    for name in OUT_NAMES:
        assert sum(v for (bin_, output), v in counts.items() if output == name) == 308
    bounds = {float(b) for b, output in counts if output == OUT_NAMES[0]}
    assert bounds == {*OUT_REFERENCE.features[0].edges, math.inf}
    watch.flush()  # nothing grew: nothing added
    assert exported(registry) == counts
    assert watch.rows == 358


def test_rows_with_a_nan_or_an_infinity_are_counted_once_and_not_binned() -> None:
    registry = CollectorRegistry()
    nonfinite = Counter("nonfinite", "rows", registry=registry)
    _, make = bin_counter(registry)
    watch = OutputWatch(["probabilities", "label"], nonfinite)
    watch.bin_with(OUT_REFERENCE, make)
    outputs = RNG.dirichlet(np.ones(3), 6)
    outputs[1, :] = np.nan  # one row, three NaN: one row
    outputs[4, 2] = np.inf
    watch.observe({"probabilities": outputs, "label": np.arange(6)})  # ints: always finite
    watch.flush()
    assert exported(registry, "nonfinite_total") == {(): 2.0}
    by_output = {n: sum(v for (b, o), v in exported(registry).items() if o == n) for n in OUT_NAMES}
    assert by_output == {OUT_NAMES[0]: 5, OUT_NAMES[1]: 5, OUT_NAMES[2]: 4}


def test_outputs_a_reference_does_not_know_are_not_binned() -> None:
    registry = CollectorRegistry()
    _, make = bin_counter(registry)
    watch = OutputWatch(["scores"], Counter("n", "rows", registry=registry))
    watch.bin_with(OUT_REFERENCE, make)  # a reference from a version with other outputs
    watch.observe({"scores": RNG.dirichlet(np.ones(3), 9)})
    watch.flush()
    assert set(exported(registry).values()) == {0.0}
    assert watch.rows == 9


def test_the_bins_are_fixed_by_the_first_reference() -> None:
    registry = CollectorRegistry()
    _, make = bin_counter(registry)
    watch = OutputWatch(["probabilities"], Counter("n", "rows", registry=registry))
    watch.bin_with(OUT_REFERENCE, make)
    before = set(exported(registry))
    watch.bin_with(build_reference(OUT_NAMES, RNG.normal(size=(100, 3))), make)
    assert set(exported(registry)) == before


def test_outputs_that_cannot_be_binned_are_counted_as_failures_and_spoil_nothing_else(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    _, make = bin_counter(registry)
    counted: list[int] = []
    watch = OutputWatch(
        ["probabilities"],
        Counter("n", "rows", registry=registry),
        name="toy:1",
        on_error=lambda: counted.append(1),
    )
    watch.bin_with(OUT_REFERENCE, make)
    with caplog.at_level(logging.WARNING, logger="baton.serve"):
        watch.observe({"probabilities": RNG.dirichlet(np.ones(3), 5)})
        for _ in range(2):  # two columns where the reference has three: not binnable
            watch.observe({"probabilities": RNG.dirichlet(np.ones(2), 4)})
        watch.observe({"probabilities": np.zeros((0, 3))})  # no rows: nothing to do
        watch.flush()
    assert (watch.errors, len(counted)) == (1, 1)  # one group of batches of that shape
    said = [r.getMessage() for r in caplog.records if "counting served outputs" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("toy:1: ")
    by_output = {n: sum(v for (b, o), v in exported(registry).items() if o == n) for n in OUT_NAMES}
    assert by_output == dict.fromkeys(OUT_NAMES, 5.0)


def test_set_aside_outputs_are_binned_once_there_are_enough() -> None:
    """Memory stays bounded: past ``max_pending_rows`` the batches are binned at once."""
    registry = CollectorRegistry()
    _, make = bin_counter(registry)
    watch = OutputWatch(["probabilities"], Counter("n", "rows", registry=registry),
                        max_pending_rows=10)  # fmt: skip
    watch.bin_with(OUT_REFERENCE, make)
    watch.observe({"probabilities": RNG.dirichlet(np.ones(3), 6)})
    watch.observe({"probabilities": RNG.dirichlet(np.ones(3), 6)})  # 12 >= 10: binned now
    watch.observe({"probabilities": RNG.dirichlet(np.ones(3), 2)})  # set aside
    assert set(exported(registry).values()) == {0.0}  # counters move only on a flush
    watch.flush()
    assert sum(v for (b, o), v in exported(registry).items() if o == OUT_NAMES[0]) == 14


def test_binning_matches_the_drift_sketch() -> None:
    """The watch's fast binning puts every value where ``DriftSketch.observe`` does."""
    registry = CollectorRegistry()
    _, make = bin_counter(registry)
    watch = OutputWatch(["probabilities"], Counter("n", "rows", registry=registry))
    watch.bin_with(OUT_REFERENCE, make)
    values = np.concatenate([RNG.dirichlet(np.ones(3), 500), [[np.nan, np.inf, 0.5]],
                             [[f.edges[2] for f in OUT_REFERENCE.features]]])  # fmt: skip
    watch.observe({"probabilities": values})
    watch.flush()
    sketch = DriftSketch(OUT_REFERENCE)
    sketch.observe(values)
    for i, feature in enumerate(OUT_REFERENCE.features):
        bounds = [*feature.edges, math.inf]
        got = exported(registry)
        assert [got[(bin_label(b), feature.name)] for b in bounds] == list(sketch.counts[i])


def output_report(seed: int = 0) -> EvaluationReport:
    rng = np.random.default_rng(seed)
    names, matrix = feature_matrix(
        {"probabilities": rng.dirichlet(np.ones(3), 400)}, ["probabilities"], 400
    )
    outputs = ReferenceBins.of(build_reference(names, matrix))
    return EvaluationReport.model_validate({"drift_reference": {"outputs": outputs}})


def served_bins(text: str, version: str) -> dict[str, dict[float, float]]:
    found: dict[str, dict[float, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == OUTPUT_BINS and s.labels["version"] == version:
                found.setdefault(s.labels["output"], {})[float(s.labels["bin"])] = s.value
    return found


def infer_rows(server: LiveServer, rows: np.ndarray, name: str = "toy") -> None:
    """One request, its rows sent as binary data (JSON has no NaN)."""
    blob = rows.astype("<f4").tobytes()
    head = orjson.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": list(rows.shape),
                                     "parameters": {"binary_data_size": len(blob)}}]})  # fmt: skip
    response = server.client.post(
        f"/v2/models/{name}/infer",
        content=head + blob,
        headers={"Inference-Header-Content-Length": str(len(head))},
    )
    assert response.status_code == 200, response.text


def test_a_served_version_exports_bins_that_add_up_to_its_outputs(
    toy_store: Store, live_server: Start
) -> None:
    report = output_report()
    toy_store.evaluations.record(
        "toy", 1, status="passed", report=report, actor="tester", started_at=utcnow()
    )
    server = live_server("toy", allow_nonfinite=True)
    empty = served_bins(server.client.get("/metrics").text, "1")
    assert set(empty) == set(OUT_NAMES)  # every bin there at 0 before the first request
    assert {v for bins in empty.values() for v in bins.values()} == {0.0}
    sizes = [1, 5, 64, 3, 200]
    for size in sizes:
        infer_rows(server, RNG.normal(size=(size, 4)).astype(np.float32))
    nan_rows = RNG.normal(size=(4, 4)).astype(np.float32)
    nan_rows[::2, 0] = np.nan  # two rows whose outputs are NaN
    infer_rows(server, nan_rows)
    text = server.client.get("/metrics").text
    bins = served_bins(text, "1")
    stored = report.drift_references()[1]
    assert stored is not None
    for feature in stored.features:
        assert sorted(bins[feature.name]) == [*feature.edges, math.inf]
        assert sum(bins[feature.name].values()) == sum(sizes) + 2  # finite rows, all of them
    assert 'baton_nonfinite_outputs_total{model="toy",version="1"} 2.0' in text


def test_output_bins_from_another_version_gives_both_variants_the_same_bins(
    toy_store: Store, live_server: Start
) -> None:
    """A canary (toy:2) and its baseline (toy:1) both binned by toy:1's evaluation."""
    toy_store.evaluations.record(
        "toy", 1, status="passed", report=output_report(1), actor="tester", started_at=utcnow()
    )
    toy_store.evaluations.record(
        "toy", 2, status="passed", report=output_report(2), actor="tester", started_at=utcnow()
    )
    baseline = live_server("toy:1", output_bins_from="toy:1")
    canary = live_server("toy:2", output_bins_from="toy:1")
    own = live_server("toy:2")
    rows = RNG.normal(size=(50, 4)).astype(np.float32)
    for server in (baseline, canary, own):
        infer_rows(server, rows)
    base_bins = served_bins(baseline.client.get("/metrics").text, "1")
    canary_bins = served_bins(canary.client.get("/metrics").text, "2")
    own_bins = served_bins(own.client.get("/metrics").text, "2")
    edges = {name: sorted(b) for name, b in base_bins.items()}
    assert {name: sorted(b) for name, b in canary_bins.items()} == edges
    assert {name: sorted(b) for name, b in own_bins.items()} != edges
    assert all(sum(b.values()) == 50 for b in (*canary_bins.values(), *own_bins.values()))


def test_output_bins_from_must_name_one_version() -> None:
    with pytest.raises(BadInput, match="must name one version, as in toy:3"):
        ServeOptions(refs=("toy",), output_bins_from="toy@production")
    with pytest.raises(BadInput, match="--output-bins-from"):
        ServeOptions(refs=("toy",), output_bins_from="Toy:1")
