"""One model's outputs over a whole pass, written where they will stay.

After the first batch, ONNX Runtime writes each batch's outputs straight into one array
per output, allocated once for every row of the file (an IOBinding onto the batch's rows),
so the pass neither allocates outputs per batch nor concatenates them at the end. What that
cannot take (outputs that are not numeric tensors with one row per input row, a model whose
output shape changes between batches, more rows than the file announced) keeps each
batch's arrays and concatenates them after the pass, as the straightforward path does:
the values are the same either way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_BINDABLE = "biuf"  # numpy kinds ONNX Runtime can take by pointer


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
        self._binding: Any = None

    def run(self, inputs: dict[str, np.ndarray], rows: int) -> None:
        """Run one batch and keep its outputs; whatever ONNX Runtime raises propagates."""
        if self.whole is not None:
            if self.filled + rows <= self.capacity and _bindable_inputs(inputs):
                try:
                    self._run_bound(inputs, rows)
                    return
                except Exception:  # e.g. a shape that differs from the first batch's:
                    pass  # the plain run below says whether the model really failed
            results = self.session.run(None, inputs)
            self._to_parts()
        else:
            results = self.session.run(None, inputs)
            if not self.filled and not self.parts[0] and self._start_in_place(results, rows):
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
        """After the first batch: allocate every row's outputs, if ORT can write them."""
        if (
            not self.in_place
            or rows > self.capacity
            or not all(
                isinstance(r, np.ndarray)
                and r.ndim >= 1
                and r.shape[0] == rows
                and r.dtype.kind in _BINDABLE
                for r in results
            )
        ):
            return False
        self.whole = [np.empty((self.capacity, *r.shape[1:]), r.dtype) for r in results]
        for whole, first in zip(self.whole, results, strict=True):
            whole[:rows] = first
        self.filled = rows
        self._binding = self.session.io_binding()
        return True

    def _run_bound(self, inputs: dict[str, np.ndarray], rows: int) -> None:
        """One batch, its inputs read where they lie and its outputs written into this
        batch's rows of ``whole`` (OrtValues over numpy memory: nothing is copied)."""
        from onnxruntime import OrtValue

        binding = self._binding
        for name, values in inputs.items():
            binding.bind_ortvalue_input(name, OrtValue.ortvalue_from_numpy(values))
        assert self.whole is not None
        end = self.filled + rows
        for name, whole in zip(self.names, self.whole, strict=True):
            rows_out = OrtValue.ortvalue_from_numpy(whole[self.filled : end])
            binding.bind_ortvalue_output(name, rows_out)
        self.session.run_with_iobinding(binding)
        self.filled = end

    def _to_parts(self) -> None:
        """Leave the in-place path: what was written so far becomes the first part."""
        if self.whole is not None:
            self.parts = [[w[: self.filled]] for w in self.whole]
            self.whole = None
            self._binding = None


def _bindable_inputs(inputs: dict[str, np.ndarray]) -> bool:
    """Numeric, row-contiguous arrays, which ONNX Runtime reads where they lie."""
    return all(v.dtype.kind in _BINDABLE and v.flags.c_contiguous for v in inputs.values())
