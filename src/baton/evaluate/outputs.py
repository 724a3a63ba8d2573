"""One model's outputs over a whole pass, written where they will stay.

After the first batch, each batch's outputs are copied into the rows of one array per
output, allocated once for every row of the file, so the pass never concatenates. The copy
is deliberate: ONNX Runtime writing straight into those rows through an IOBinding was 5-15 %
slower per batch than a plain ``run`` plus a copy into the rows (measured on the digits
model, batch 16,384, in ``bench/evaluate.py``'s setting: the binding's per-call set-up and
ORT's own output path cost more than copying 640 KB the cache still holds). What cannot be
kept that way (outputs that are not numeric tensors with one row per input row, a model
whose output shape changes between batches, more rows than the file announced) keeps each
batch's arrays and concatenates them after the pass, as the straightforward path does: the
values are the same either way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_KEPT_IN_PLACE = "biuf"  # numeric kinds; strings and objects are kept batch by batch


class Outputs:
    """Runs one session batch by batch and keeps its outputs, by output name."""

    def __init__(self, session: Any, capacity: int, *, in_place: bool = True):
        self.session = session
        self.names: list[str] = [o.name for o in session.get_outputs()]
        self.capacity = capacity  # rows the data announced
        self.in_place = in_place
        self.whole: list[np.ndarray] | None = None  # in place: one array per output
        self.filled = 0
        self.parts: list[list[np.ndarray]] = [[] for _ in self.names]

    def run(self, inputs: dict[str, np.ndarray], rows: int) -> None:
        """Run one batch and keep its outputs; whatever ONNX Runtime raises propagates."""
        results = self.session.run(None, inputs)
        if self.whole is not None:
            if self._fits(results, rows):
                end = self.filled + rows
                for whole, values in zip(self.whole, results, strict=True):
                    whole[self.filled : end] = values
                self.filled = end
                return
            self._to_parts()
        elif not self.filled and not self.parts[0] and self._start_in_place(results, rows):
            return
        for into, values in zip(self.parts, results, strict=True):
            into.append(values)

    def result(self) -> dict[str, np.ndarray]:
        """Every row's outputs, by output name."""
        if self.whole is not None:
            whole = self.whole
            if self.filled < self.capacity:  # fewer rows than announced: do not keep the rest
                whole = [w[: self.filled].copy() for w in whole]
            return dict(zip(self.names, whole, strict=True))
        return {k: np.concatenate(v) for k, v in zip(self.names, self.parts, strict=True)}

    def _start_in_place(self, results: list[Any], rows: int) -> bool:
        """After the first batch: allocate every row's outputs, if they can be kept so."""
        if (
            not self.in_place
            or rows > self.capacity
            or not all(_row_aligned(r, rows) for r in results)
        ):
            return False
        self.whole = [np.empty((self.capacity, *r.shape[1:]), r.dtype) for r in results]
        for whole, first in zip(self.whole, results, strict=True):
            whole[:rows] = first
        self.filled = rows
        return True

    def _fits(self, results: list[Any], rows: int) -> bool:
        """This batch's outputs go into the next rows: same shape and type, room left."""
        assert self.whole is not None
        return self.filled + rows <= self.capacity and all(
            _row_aligned(r, rows) and r.shape[1:] == w.shape[1:] and r.dtype == w.dtype
            for r, w in zip(results, self.whole, strict=True)
        )

    def _to_parts(self) -> None:
        """Leave the in-place path: what was written so far becomes the first part."""
        if self.whole is not None:
            self.parts = [[w[: self.filled]] for w in self.whole]
            self.whole = None


def _row_aligned(values: Any, rows: int) -> bool:
    """A numeric array with one row per input row."""
    return (
        isinstance(values, np.ndarray)
        and values.ndim >= 1
        and values.shape[0] == rows
        and values.dtype.kind in _KEPT_IN_PLACE
    )
