"""Merging and splitting batches: properties over random requests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baton.serve.batching import SplitError, batch_key, merge, split, take_batch


@dataclass
class Item:
    key: tuple[int, ...]
    rows: int
    tag: int


@given(st.lists(st.integers(1, 6), min_size=1, max_size=8), st.integers(1, 5))
@settings(max_examples=100, deadline=None)
def test_split_inverts_merge(sizes: list[int], width: int) -> None:
    rng = np.random.default_rng(len(sizes))
    parts = [
        {"a": rng.normal(size=(n, width)).astype(np.float32), "b": np.arange(n)} for n in sizes
    ]
    merged = merge(parts)
    assert merged["a"].shape == (sum(sizes), width)
    back = split(merged, sizes)
    assert len(back) == len(parts)
    for got, want in zip(back, parts, strict=True):
        np.testing.assert_array_equal(got["a"], want["a"])
        np.testing.assert_array_equal(got["b"], want["b"])


@given(
    st.lists(st.tuples(st.integers(0, 2), st.integers(1, 5)), min_size=1, max_size=20),
    st.integers(1, 12),
)
@settings(max_examples=200, deadline=None)
def test_take_batch_takes_the_head_and_only_what_fits(
    spec: list[tuple[int, int]], max_rows: int
) -> None:
    pending = [Item((key,), rows, i) for i, (key, rows) in enumerate(spec)]
    before = list(pending)
    taken = take_batch(pending, max_rows)
    assert taken[0] is before[0]  # never starves the oldest request
    assert all(item.key == taken[0].key for item in taken)
    assert len(taken) == 1 or sum(i.rows for i in taken) <= max_rows
    assert sorted(i.tag for i in taken + pending) == list(range(len(before)))  # nothing lost
    assert [i.tag for i in pending] == sorted(i.tag for i in pending)  # the rest keep order
    assert [i.tag for i in taken] == sorted(i.tag for i in taken)


def test_batch_key_separates_what_cannot_be_concatenated() -> None:
    a = {"x": np.zeros((1, 4), np.float32)}
    assert batch_key(a) == batch_key({"x": np.zeros((7, 4), np.float32)})
    assert batch_key(a) != batch_key({"x": np.zeros((1, 5), np.float32)})
    assert batch_key(a) != batch_key({"x": np.zeros((1, 4), np.float64)})
    assert batch_key(a) != batch_key({"z": np.zeros((1, 4), np.float32)})
    two = {"x": np.zeros((1, 4), np.float32), "w": np.zeros((1, 2), np.int64)}
    assert batch_key(two) == batch_key(dict(reversed(two.items())))  # order does not matter
    assert batch_key(two) != batch_key(a)
    # one input or several: the same form of key
    assert batch_key(a) == tuple((n, x.dtype.str, x.shape[1:]) for n, x in a.items())


def test_split_refuses_outputs_without_a_row_per_input_row() -> None:
    with pytest.raises(SplitError, match="not one row per input row"):
        split({"y": np.zeros((1, 3))}, [1, 1])
