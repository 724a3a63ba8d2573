"""Weights: parsed and checked, cut into spans of [0, 1), and the sticky point of an id."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.errors import BadInput
from baton.rollout.weights import (
    LAYOUT,
    VARIANTS,
    Weights,
    check_routable,
    parse_weights,
    split_of,
    sticky_point,
    weights_from,
)


def test_weights_are_read_in_percent_or_as_fractions() -> None:
    assert parse_weights("stable=90,baseline=5,canary=5") == Weights(90, 5, 5)
    assert parse_weights(" stable = 0.9 , canary=0.1") == Weights(90, 0, 10)
    assert parse_weights("canary=100") == Weights(0, 0, 100)
    assert parse_weights("stable=1") == Weights(100, 0, 0)
    assert weights_from({"stable": 97.5, "canary": "2.5"}) == Weights(97.5, 0, 2.5)
    assert str(Weights(90, 5, 5)) == "stable=90,baseline=5,canary=5"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stable=90,canary=5", "add up to 100 (percent) or to 1 (fractions); stable=90, canary=5"),
        ("stable=50,stable=50", "stable is given twice"),
        ("stable=50,shadow=50", "unknown variant 'shadow'"),
        ("stable=110,canary=-10", "finite number of 0 or more"),
        ("stable=nan", "finite number"),
        ("stable=inf,canary=-inf", "finite number"),
        ("stable=ninety", "must be a number"),
        ("stable:100", "VARIANT=NUMBER"),
        ("", "VARIANT=NUMBER"),
        ("stable=0,canary=0", "adds up to 0"),
    ],
)
def test_bad_weights_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_weights(text)
    assert message in caught.value.message


def test_json_weights_must_be_numbers() -> None:
    for value in (True, None, [1], {"a": 1}):
        with pytest.raises(BadInput, match="must be a number"):
            weights_from({"stable": value})


def test_a_variant_with_weight_needs_a_server() -> None:
    check_routable(Weights(90, 0, 10), {"stable": "http://a:1", "canary": "http://b:2"})
    with pytest.raises(BadInput, match="canary has weight above 0 but no server"):
        check_routable(Weights(90, 0, 10), {"stable": "http://a:1", "canary": None})


@given(st.lists(st.integers(0, 1000), min_size=3, max_size=3).filter(lambda w: sum(w) > 0))
def test_spans_cover_the_line_in_proportion(raw: list[int]) -> None:
    total = sum(raw)
    weights = weights_from({v: 100 * n / total for v, n in zip(VARIANTS, raw, strict=True)})
    split = split_of(weights)
    assert split.variants == tuple(v for v in LAYOUT if weights.of(v) > 0)
    assert split.bounds[-1] == 1.0
    lower = 0.0
    for variant, bound in zip(split.variants, split.bounds, strict=True):
        assert math.isclose(bound - lower, weights.of(variant) / 100, abs_tol=1e-9)
        assert split.pick(lower) == variant
        assert split.pick(math.nextafter(bound, 0)) == variant
        lower = bound
    assert split.pick(0.999999999999) == split.variants[-1]


def test_a_weight_of_zero_gets_no_point() -> None:
    split = split_of(Weights(95, 0, 5))
    rng = random.Random(3)
    seen = Counter(split.pick(rng.random()) for _ in range(20_000))
    assert set(seen) == {"stable", "canary"}
    assert abs(seen["canary"] - 1000) < 4 * math.sqrt(20_000 * 0.05 * 0.95)


@given(st.binary(max_size=64))
def test_an_id_has_one_point_on_the_line(key: bytes) -> None:
    point = sticky_point(key)
    assert 0.0 <= point < 1.0
    assert sticky_point(key) == point  # BLAKE2b: the same in every process and run


def test_sequential_ids_spread_evenly() -> None:
    """Ids such as req-1, req-2... (what clients send) fill every tenth of the line."""
    deciles = Counter(int(sticky_point(f"req-{i}".encode()) * 10) for i in range(10_000))
    assert all(abs(deciles[d] - 1000) < 4 * math.sqrt(10_000 * 0.1 * 0.9) for d in range(10))


def test_a_growing_canary_keeps_the_ids_it_had() -> None:
    """The canary's span comes first on the line: raising its weight only extends it."""
    ids = [f"user-{i}".encode() for i in range(2000)]
    steps = [Weights(100 - 2 * s, s, s) for s in (5, 10, 25, 50)]
    had: set[bytes] = set()
    for weights in steps:
        split = split_of(weights)
        now = {k for k in ids if split.pick(sticky_point(k)) == "canary"}
        assert had <= now
        had = now
    assert abs(len(had) - 1000) < 4 * math.sqrt(2000 * 0.25)


def test_weights_that_do_not_add_up_cannot_be_made() -> None:
    with pytest.raises(BadInput, match="add up to 100"):
        Weights(90, 5, 0)
    with pytest.raises(BadInput, match="0 or more"):
        Weights(110, -10, 0)
