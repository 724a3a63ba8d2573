"""Per-version statistics: what each counter adds up, and that Triton's message takes it."""

from __future__ import annotations

from google.protobuf import json_format

from baton.serve.stats import ModelStats


def test_counters_add_up_per_request_and_per_batch_size() -> None:
    stats = ModelStats()
    stats.batch(1, 0.001)
    stats.batch(4, 0.002)
    stats.batch(4, 0.003)
    for i in range(3):
        # arrived, queued 10 µs later; 0.5 ms in the queue, a 2 ms call, then 20 µs more
        arrived = 100.0 + i
        stats.computed(arrived, arrived + 1e-5, 5e-4, 2e-3, arrived + 1e-5 + 5e-4 + 2e-3 + 2e-5)
        stats.finished(True, 0.003)
    stats.finished(False, 0.000_1)
    report = stats.report("toy", "2")
    assert report["name"] == "toy"
    assert report["version"] == "2"
    assert report["execution_count"] == 3
    assert report["inference_count"] == 9  # rows computed, not requests
    assert report["last_inference"] > 0
    inference = report["inference_stats"]
    assert inference["success"] == {"count": 3, "ns": 9_000_000}
    assert inference["fail"] == {"count": 1, "ns": 100_000}
    assert inference["queue"] == {"count": 3, "ns": 1_500_000}
    assert inference["compute_input"] == {"count": 3, "ns": 30_000}
    assert inference["compute_infer"] == {"count": 3, "ns": 6_000_000}
    assert inference["compute_output"] == {"count": 3, "ns": 60_000}
    assert report["batch_stats"] == [
        {"batch_size": 1, "compute_infer": {"count": 1, "ns": 1_000_000}},
        {"batch_size": 4, "compute_infer": {"count": 2, "ns": 5_000_000}},
    ]


def test_a_fresh_version_reports_zeros_and_no_last_inference() -> None:
    report = ModelStats().report("toy", "1")
    assert report["last_inference"] == 0
    assert report["batch_stats"] == []
    assert all(d == {"count": 0, "ns": 0} for d in report["inference_stats"].values())


def test_a_negative_output_time_from_clock_rounding_counts_as_zero() -> None:
    stats = ModelStats()
    stats.computed(1.0, 1.0, 0.0, 1e-9, 1.0)
    assert stats.report("m", "1")["inference_stats"]["compute_output"]["ns"] == 0


def test_last_inference_is_wall_clock_milliseconds() -> None:
    import time

    stats = ModelStats()
    stats.computed(0.0, 0.0, 0.0, 0.0, time.perf_counter())
    assert abs(stats.report("m", "1")["last_inference"] - time.time() * 1000) < 1000


def test_the_report_is_a_valid_triton_statistics_message() -> None:
    """Triton's own message definition (from tritonclient) takes every field we write."""
    from tritonclient.grpc import service_pb2

    stats = ModelStats()
    stats.batch(2, 0.001)
    stats.computed(0.0, 0.0, 0.0, 0.001, 0.001)
    stats.finished(True, 0.002)
    message = json_format.ParseDict(
        {"model_stats": [stats.report("toy", "1")]}, service_pb2.ModelStatisticsResponse()
    )
    assert message.model_stats[0].inference_stats.success.count == 1
    assert message.model_stats[0].batch_stats[0].batch_size == 2
