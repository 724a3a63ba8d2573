"""The whole audit against a real Prometheus holding a fleet with known verdicts."""

from __future__ import annotations

import pytest

from baton.audit.prices import default_prices
from baton.audit.prometheus import Prometheus
from baton.audit.result import AuditResult
from baton.audit.service import run_audit
from tests.audit.verdict_fleet import (
    EXPECTED,
    POLICY,
    RATE_WINDOW_S,
    VerdictFleet,
    verdict_fleet,  # noqa: F401  (the fixture)
)


@pytest.fixture(scope="module")
def result(verdict_fleet: VerdictFleet) -> AuditResult:  # noqa: F811
    prom = Prometheus(verdict_fleet.prometheus.url)
    return run_audit(
        verdict_fleet.deployments,
        prom,
        verdict_fleet.start,
        verdict_fleet.end,
        prices=default_prices(),
        policy=POLICY,
        rate_window_s=RATE_WINDOW_S,
    )


def test_each_deployment_gets_the_verdict_its_data_implies(result: AuditResult) -> None:
    got = {r.deployment.name: r.verdict for r in result.rows}
    assert got == EXPECTED, {
        r.deployment.name: r.recommendation.reasons for r in result.rows
        if r.verdict != EXPECTED[r.deployment.name]
    }  # fmt: skip


def test_every_recommendation_says_why(result: AuditResult) -> None:
    for row in result.rows:
        assert row.recommendation.reasons, row.deployment.name


def test_at_risk_rows_come_first_and_say_what_is_wrong(result: AuditResult) -> None:
    ordered = [r.deployment.name for r in result.sorted_rows()]
    assert set(ordered[:2]) == {"slow", "hot"}
    by = {r.deployment.name: r for r in result.rows}
    assert "SLO breached" in by["slow"].flags
    assert any("breaches the 50 ms SLO" in x for x in by["slow"].recommendation.reasons)
    assert "near capacity" in by["hot"].flags


def test_sizes_follow_the_data(result: AuditResult) -> None:
    by = {r.deployment.name: r for r in result.rows}
    assert by["over"].target.replicas == 2
    assert by["under"].target.replicas == 3  # 155 x 1.5 / 100
    assert by["right"].target.replicas == 2
    assert by["idle"].target.replicas == 0
    assert "scale to zero" in by["idle"].flags
    # autoscaled: bounds from the load, cheaper than the autoscaler's 10 req/s a replica
    auto = by["auto"]
    assert (auto.target.min_replicas, auto.target.max_replicas) == (2, 2)
    assert auto.recommendation.monthly_savings > 0
    # memory: the observed per-replica peak plus 15%, not the 1 GiB request
    assert by["over"].target.memory_bytes == pytest.approx(600 * 2**20 * 1.15, rel=0.05)


def test_an_idle_gpu_moves_to_the_cheaper_cpu(result: AuditResult) -> None:
    gpu = {r.deployment.name: r for r in result.rows}["gpu"]
    assert gpu.target.hardware == "cpu"
    assert gpu.target.gpus == 0
    assert "move to cpu" in gpu.flags
    assert any("2 replica(s) of 2 core(s)" in r for r in gpu.recommendation.reasons)
    assert gpu.observed is not None and gpu.observed.usage.gpu_utilization_mean is not None
    assert gpu.observed.usage.gpu_utilization_mean < 0.1


def test_capacity_without_a_load_test_comes_from_the_served_cost(result: AuditResult) -> None:
    measured = {r.deployment.name: r for r in result.rows}["measured"]
    assert "served cost" in measured.capacity_source
    # 1 core less 0.02 idle over 5 ms a request = 196 req/s saturation; M/M/1 at 100 ms
    assert measured.recommendation.load_per_replica == pytest.approx(196 - 46.05, rel=0.05)


def test_missing_data_is_named_not_guessed(result: AuditResult) -> None:
    by = {r.deployment.name: r for r in result.rows}
    assert by["gappy"].target.replicas is None
    assert "insufficient data" in by["gappy"].recommendation.reasons[0]
    unmeasured = by["unmeasured"]
    assert unmeasured.target.replicas is None
    assert any("cpu" in x and "missing" in x for x in unmeasured.recommendation.reasons)


def test_queries_cover_the_whole_fleet_at_once(
    result: AuditResult,
    verdict_fleet: VerdictFleet,  # noqa: F811
) -> None:
    """As many queries for two deployments as for eleven: none loops per deployment."""
    few = run_audit(
        verdict_fleet.deployments[:2],
        Prometheus(verdict_fleet.prometheus.url),
        verdict_fleet.start,
        verdict_fleet.end,
        prices=default_prices(),
        policy=POLICY,
        rate_window_s=RATE_WINDOW_S,
    )
    assert few.queries == result.queries
    assert [r.verdict for r in few.rows] == [EXPECTED["idle"], EXPECTED["over"]]


def test_near_idle_traffic_is_never_at_risk(result: AuditResult) -> None:
    """0.02 req/s and a noisy idle CPU: no cost per request can be read from it, and a
    server seen meeting its SLO is never "SLO unreachable" (issue 14, item 5)."""
    quiet = {r.deployment.name: r for r in result.rows}["quiet"]
    assert quiet.verdict == "insufficient data"
    assert "SLO unreachable" not in quiet.flags
    reasons = quiet.recommendation.reasons
    assert any("served cost not used" in r and "too little traffic" in r for r in reasons)


def test_an_idle_gpu_moves_to_cpu_and_the_floor_adds_no_gpu(result: AuditResult) -> None:
    """One T4 busy 1%: the finding is "move to CPU or share the GPU", priced on CPU, not
    "add a replica" at twice the cost (issue 14, item 6)."""
    row = {r.deployment.name: r for r in result.rows}["idle-gpu"]
    assert {"idle GPU", "move to cpu"} <= set(row.flags)
    assert row.target.gpus == 0 and row.target.hardware == "cpu"
    rec = row.recommendation
    assert rec.monthly_cost_after is not None and rec.monthly_cost_now is not None
    assert rec.monthly_cost_after < rec.monthly_cost_now
    assert any("move to CPU, or share the GPU (time-slicing" in r for r in rec.reasons)
    assert any(r.startswith("CPU option: 2 ms CPU a request") for r in rec.reasons)
