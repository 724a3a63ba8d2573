from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.core.manifest import SLO
from baton.core.slo import WINDOWS, bucket_at_or_above, objectives

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, float("inf"))
DEFAULT = SLO(p99_latency_ms=100, max_error_rate=0.01)


def test_workbook_windows_spend_the_documented_budget() -> None:
    spent = [round(w.budget_spent, 3) for w in WINDOWS]
    assert spent == [0.02, 0.05, 0.1]
    assert all(w.severity == "critical" for w in WINDOWS[:2])


def test_exact_bucket_is_used_without_a_note() -> None:
    result = objectives(SLO(p99_latency_ms=20, max_error_rate=0.001), BUCKETS, DEFAULT)
    latency, availability = result.items
    assert latency.threshold_seconds == pytest.approx(0.02)
    assert latency.budget == pytest.approx(0.01)
    assert availability.target == pytest.approx(0.999)
    assert result.notes == ()


def test_between_buckets_rounds_up_and_says_so() -> None:
    result = objectives(SLO(p99_latency_ms=30), BUCKETS, DEFAULT)
    assert result.items[0].threshold_seconds == 0.05
    assert any("50 ms bucket" in n for n in result.notes)
    assert any("assuming 0.001" in n for n in result.notes)


def test_missing_slo_uses_the_default_and_says_so() -> None:
    result = objectives(None, BUCKETS, DEFAULT)
    assert result.items[0].threshold_seconds == 0.1
    assert result.items[1].target == pytest.approx(0.99)
    assert "team default" in result.notes[0]


def test_threshold_above_every_bucket_gives_no_latency_alert() -> None:
    result = objectives(SLO(p99_latency_ms=5000), BUCKETS, DEFAULT)
    assert [o.name for o in result.items] == ["availability"]
    assert "above every histogram bucket" in result.notes[0]


def test_zero_error_budget_gives_no_availability_alert() -> None:
    result = objectives(SLO(p99_latency_ms=20, max_error_rate=0), BUCKETS, DEFAULT)
    assert [o.name for o in result.items] == ["latency"]


@given(st.floats(min_value=1e-4, max_value=0.99))
def test_chosen_bucket_is_never_below_the_threshold(threshold: float) -> None:
    bound = bucket_at_or_above(threshold, BUCKETS)
    assert bound is not None
    assert bound >= threshold - 1e-12
    smaller = [b for b in BUCKETS if b < bound]
    assert all(b < threshold for b in smaller)


@given(st.floats(min_value=1e-5, max_value=0.5), st.sampled_from(WINDOWS))
def test_tighter_objectives_alert_earlier(error_rate: float, window: object) -> None:
    loose = objectives(SLO(max_error_rate=min(error_rate * 2, 1.0)), BUCKETS, DEFAULT).items[-1]
    tight = objectives(SLO(max_error_rate=error_rate), BUCKETS, DEFAULT).items[-1]
    assert tight.alert_threshold(window) <= loose.alert_threshold(window)  # type: ignore[arg-type]
