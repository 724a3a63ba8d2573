from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.core.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("12h", 43200), ("14d", 14 * 86400), ("2w", 14 * 86400),
     ("1h30m", 5400), ("500ms", 0.5), ("1.5h", 5400), ("1y", 31536000)],
)  # fmt: skip
def test_parses_prometheus_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@given(
    st.lists(
        st.tuples(st.integers(1, 999), st.sampled_from(["y", "w", "d", "h", "m", "s"])), min_size=1
    )
)
def test_any_composed_duration_adds_up(parts: list[tuple[int, str]]) -> None:
    units = {"y": 31536000, "w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
    text = "".join(f"{n}{unit}" for n, unit in parts)
    assert parse_duration(text) == sum(n * units[unit] for n, unit in parts)


@pytest.mark.parametrize("text", ["", "14", "d", "14 days", "-5m", "0s", "5m garbage", "1.d"])
def test_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.integers(1, 10**8))
def test_format_and_parse_round_trip(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
