"""Rollout documents and phase rules: what may be stored, and where a phase may go."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.core.rollout_records import (
    ACTIVE,
    FINISHED,
    Classification,
    Holder,
    MetricResult,
    Phase,
    RolloutSpec,
    Thresholds,
    Weights,
    check_phase_change,
    lease_for,
    parse_metrics,
    parse_spec,
    parse_weights,
)
from baton.errors import BadInput, Conflict


@given(st.integers(0, 100), st.integers(0, 100), st.integers(0, 100))
def test_weights_are_accepted_exactly_when_they_sum_to_100(s: int, b: int, c: int) -> None:
    doc = {"stable": s, "baseline": b, "canary": c}
    if s + b + c == 100:
        assert parse_weights(doc, "w").model_dump() == doc
    else:
        with pytest.raises(BadInput, match=f"sum to {s + b + c}, not 100"):
            parse_weights(doc, "w")


def test_weights_out_of_range_or_unknown_keys_are_bad_input() -> None:
    with pytest.raises(BadInput, match="router weights: stable: .*less than or equal to 100"):
        parse_weights({"stable": 110, "canary": -10}, "router weights")
    with pytest.raises(BadInput, match="shadow"):
        parse_weights({"stable": 100, "shadow": 0}, "w")


def test_the_spec_defaults_follow_flagger_and_kayenta_and_steps_must_rise() -> None:
    spec = RolloutSpec()
    assert spec.steps == (5, 10, 25, 50) and spec.interval_s == 60 and spec.deadline_s == 600
    assert (spec.thresholds.pass_score, spec.thresholds.marginal_score) == (95, 75)
    assert parse_spec(spec.model_dump(mode="json"), "spec") == spec
    with pytest.raises(BadInput, match=r"steps \[10, 5\] must rise"):
        parse_spec({"steps": [10, 5]}, "spec")
    with pytest.raises(BadInput, match="steps"):
        parse_spec({"steps": [10, 100]}, "spec")
    with pytest.raises(BadInput, match="at least one"):
        parse_spec({"steps": []}, "spec")
    with pytest.raises(ValueError, match="marginal score 90.0 is above pass score 80.0"):
        Thresholds(pass_score=80, marginal_score=90)


def test_metric_results_refuse_non_finite_numbers() -> None:
    good = parse_metrics({"latency": {"classification": "high", "canary": 0.2}}, "d")
    assert good["latency"] == MetricResult(classification=Classification.HIGH, canary=0.2)
    with pytest.raises(BadInput, match="metric 'latency'"):
        parse_metrics({"latency": {"classification": "pass", "canary": float("nan")}}, "d")
    with pytest.raises(BadInput, match="classification"):
        parse_metrics({"errors": {"classification": "meh"}}, "d")
    with pytest.raises(BadInput, match="object of metric name"):
        parse_metrics([1, 2], "d")


def test_finished_phases_never_change_and_succeeded_only_follows_promoting() -> None:
    assert set(Phase) == ACTIVE | FINISHED and not ACTIVE & FINISHED
    for done in FINISHED:
        for wanted in Phase:
            with pytest.raises(Conflict, match="a finished rollout never changes"):
                check_phase_change(1, done, wanted)
    for phase in ACTIVE - {Phase.PROMOTING}:
        with pytest.raises(Conflict, match="cannot become succeeded"):
            check_phase_change(1, phase, Phase.SUCCEEDED)
    check_phase_change(1, Phase.PROMOTING, Phase.SUCCEEDED)
    check_phase_change(1, Phase.PAUSED, Phase.PROGRESSING)


def test_a_lease_expires_at_its_end() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    lease = lease_for(Holder(7, "h"), now, 30)
    assert not lease.expired(now + timedelta(seconds=29.9))
    assert lease.expired(now + timedelta(seconds=30))
    with pytest.raises(BadInput, match="positive number of seconds"):
        lease_for(Holder(7, "h"), now, 0)
    assert str(Weights(stable=90, baseline=5, canary=5)) == "stable 90 / baseline 5 / canary 5"
