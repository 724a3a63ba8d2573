"""The refusal throttle: bounded entries per key and in total, every event counted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from baton.core.ratelimit import OVERFLOW, Limits, Throttle

times = st.lists(st.floats(0, 3600, allow_nan=False), min_size=1, max_size=300).map(sorted)


def test_a_burst_is_cut_and_its_count_reported_with_the_next_entry() -> None:
    throttle = Throttle(Limits(burst=5, per_minute=1))
    admitted = [throttle.admit("10.0.0.1", "invalid", 0.0) for _ in range(14)]
    assert admitted == [0, 0, 0, 0, 0] + [None] * 9
    assert throttle.admit("10.0.0.2", "invalid", 0.0) == 0  # another source has its own
    assert throttle.admit("10.0.0.1", "invalid", 30.0) is None  # half a token back
    assert throttle.admit("10.0.0.1", "invalid", 60.0) == 10
    assert throttle.drain() == {}


def test_drain_hands_over_what_no_later_entry_reported() -> None:
    throttle = Throttle(Limits(burst=1))
    for _ in range(4):
        throttle.admit("alice", "admin", 0.0)
    assert throttle.drain() == {("alice", "admin"): 3}
    assert throttle.drain() == {}
    assert throttle.admit("alice", "admin", 60.0) == 0


@given(times, st.integers(1, 20), st.floats(0.1, 600))
def test_one_key_writes_at_most_its_burst_plus_its_rate(
    at: list[float], burst: int, per_minute: float
) -> None:
    throttle = Throttle(Limits(burst=burst, per_minute=per_minute, total_burst=10**9))
    results = [throttle.admit("s", "r", t) for t in at]
    admitted = [r for r in results if r is not None]
    bound = burst + per_minute / 60 * (at[-1] - at[0])
    assert len(admitted) <= bound + 1e-6
    assert len(admitted) >= min(len(at), burst)  # a quiet key is never cut
    reported = sum(admitted) + sum(throttle.drain().values())
    assert len(admitted) + reported == len(at)  # every event is written or counted


@given(st.lists(st.tuples(st.integers(0, 50), st.floats(0, 600)), min_size=1, max_size=400))
def test_all_keys_together_write_at_most_the_total(events: list[tuple[int, float]]) -> None:
    limits = Limits(burst=3, per_minute=6, total_burst=10, total_per_minute=12, max_keys=20)
    throttle = Throttle(limits)
    events.sort(key=lambda e: e[1])
    admitted = [throttle.admit(f"10.0.0.{s}", "invalid", t) for s, t in events]
    span = events[-1][1] - events[0][1]
    assert sum(r is not None for r in admitted) <= 10 + 12 / 60 * span + 1e-6
    assert len(throttle._slots) <= limits.max_keys + 1  # + the overflow key
    counted = sum(r for r in admitted if r is not None) + sum(throttle.drain().values())
    assert counted + sum(r is not None for r in admitted) == len(events)


def test_beyond_max_keys_new_sources_share_the_overflow_key() -> None:
    throttle = Throttle(Limits(burst=1, max_keys=2))
    assert throttle.admit("a", "r", 0.0) == 0
    assert throttle.admit("a", "r", 0.0) is None  # owes a count: never forgotten
    assert throttle.admit("b", "r", 0.0) == 0
    assert throttle.admit("c", "r", 0.0) == 0  # b's bucket is empty, not idle: c overflows
    assert throttle.admit("d", "r", 0.0) is None
    assert throttle.drain() == {("a", "r"): 1, (OVERFLOW, "r"): 1}
