"""Merge queued requests into one model call and split the results back (pure).

Requests batch together only when every input agrees on dtype and on all dimensions but
the first (the batch dimension), so a merged batch is always a plain concatenation.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np

Arrays = Mapping[str, np.ndarray[Any, Any]]


class Batchable(Protocol):
    @property
    def key(self) -> Hashable: ...

    @property
    def rows(self) -> int: ...


T = TypeVar("T", bound=Batchable)


def batch_key(inputs: Arrays) -> Hashable:
    """Requests with equal keys can be concatenated along their first dimension."""
    if len(inputs) == 1:  # most models take one input: no sort, no generator
        ((name, a),) = inputs.items()
        return ((name, a.dtype.str, a.shape[1:]),)
    return tuple((name, a.dtype.str, a.shape[1:]) for name, a in sorted(inputs.items()))


def take_batch(pending: list[T], max_rows: int) -> list[T]:
    """Remove and return the head request plus every later one that fits beside it.

    The head is always taken, even when it alone has more rows than ``max_rows`` (the
    server's row limit is checked before a request is queued). Requests that cannot join
    keep their order for the next batch.
    """
    head = pending[0]
    taken = [head]
    total = head.rows
    keep: list[T] = []
    for i in range(1, len(pending)):
        item = pending[i]
        if total >= max_rows:
            keep.extend(pending[i:])
            break
        if item.key == head.key and total + item.rows <= max_rows:
            taken.append(item)
            total += item.rows
        else:
            keep.append(item)
    pending[:] = keep
    return taken


def merge(parts: Sequence[Arrays]) -> dict[str, np.ndarray[Any, Any]]:
    """One feed from many requests' inputs (all with the same batch key)."""
    if len(parts) == 1:
        return dict(parts[0])
    return {name: np.concatenate([p[name] for p in parts], axis=0) for name in parts[0]}


class SplitError(ValueError):
    """The model's outputs do not have one row per input row, so they cannot be split."""


def split(outputs: Arrays, sizes: Sequence[int]) -> list[dict[str, np.ndarray[Any, Any]]]:
    """Give each request its own rows of every output."""
    if len(sizes) == 1:
        return [dict(outputs)]
    total = sum(sizes)
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != total:
            raise SplitError(
                f"output {name!r} has shape {list(array.shape)}, not one row per input row "
                f"({total}), so the model cannot batch requests"
            )
    result: list[dict[str, np.ndarray[Any, Any]]] = []
    start = 0
    for size in sizes:
        result.append({name: a[start : start + size] for name, a in outputs.items()})
        start += size
    return result
