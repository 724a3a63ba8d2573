"""One model's outputs over a whole pass, written where they will stay.

ONNX Runtime writes each batch's outputs straight into one array per output, allocated
once for every row of the file (an IOBinding onto the batch's rows), so the pass neither
allocates outputs per batch nor concatenates them at the end. The arrays are allocated
before the first batch when the model declares each output's type and every dimension but
the batch, else after the first batch, from what it returned. What that
cannot take (outputs that are not numeric tensors with one row per input row, a model whose
output shape changes between batches, more rows than the file announced) keeps each
batch's arrays and concatenates them after the pass, as the straightforward path does:
the values are the same either way.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

_BINDABLE = "biuf"  # numpy kinds ONNX Runtime can take by pointer
_NUMPY_NAMES = {"float": "float32", "double": "float64"}  # the rest share numpy's names
_TENSOR_NAMES = (
    *("float", "double", "float16", "bool"),
    *("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"),
)
_TENSOR_TYPES = {  # ONNX Runtime's names of the tensor types numpy holds as they are
    f"tensor({name})": np.dtype(_NUMPY_NAMES.get(name, name)) for name in _TENSOR_NAMES
}


class Outputs:
    """Runs one session batch by batch and keeps its outputs, by output name."""

    def __init__(self, session: Any, capacity: int, *, in_place: bool = True):
        self.session = session
        declared_outputs = session.get_outputs()
        self.names: list[str] = [o.name for o in declared_outputs]
        self.capacity = capacity  # rows the data announced
        self.in_place = in_place
        self.whole: list[np.ndarray] | None = None  # in place: one array per output
        self.filled = 0
        self.parts: list[list[np.ndarray]] = [[] for _ in self.names]
        self._binding: Binding | None = None
        declared = _declared(declared_outputs) if in_place and capacity > 0 else None
        if declared is not None:  # bind from the first batch: no run to learn the shapes
            self.whole = [np.empty((capacity, *tail), dtype) for tail, dtype in declared]
            self._binding = Binding(session)

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
        self._binding = Binding(self.session)
        return True

    def _run_bound(self, inputs: dict[str, np.ndarray], rows: int) -> None:
        """One batch, its inputs read where they lie and its outputs written into this
        batch's rows of ``whole`` (OrtValues over numpy memory: nothing is copied)."""
        assert self.whole is not None and self._binding is not None
        end = self.filled + rows
        rows_out = zip(self.names, self.whole, strict=True)
        self._binding.run(inputs, {name: whole[self.filled : end] for name, whole in rows_out})
        self.filled = end

    def _to_parts(self) -> None:
        """Leave the in-place path: what was written so far becomes the first part."""
        if self.whole is not None:
            self.parts = [[w[: self.filled]] if self.filled else [] for w in self.whole]
            self.whole = None
            self._binding = None


class Binding:
    """An IOBinding over numpy arrays, run batch by batch.

    Through ONNX Runtime's extension module where this version has it: its Python wrappers
    spend about 10 µs a batch on checks a CPU session does not need, 0.5-1 % of a small
    model's pass. Otherwise, or with ``public=True``, through the public API; the values
    are the same either way. The caller keeps the arrays alive until ``run`` returns."""

    def __init__(self, session: Any, *, public: bool = False):
        self._session = session
        self._raw: Any = None
        self._binding: Any = None
        found = None if public else _extension()
        if found is not None:
            extension, self._device = found
            self._ortvalue = extension.OrtValue.ortvalue_from_numpy
            try:
                self._raw = extension.SessionIOBinding(session._sess)
                self._run_raw = session._sess.run_with_iobinding
            except (AttributeError, TypeError):  # another version's layout: the public API
                self._raw = None
        if self._raw is None:
            self._binding = session.io_binding()

    def run(self, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> None:
        """Run with ``inputs`` read and ``outputs`` written where they lie."""
        raw = self._raw
        if raw is not None:
            device, ortvalue = self._device, self._ortvalue
            for name, values in inputs.items():
                raw.bind_ortvalue_input(name, ortvalue(values, device))
            for name, into in outputs.items():
                raw.bind_ortvalue_output(name, ortvalue(into, device))
            self._run_raw(raw, None)
            return
        from onnxruntime import OrtValue

        binding = self._binding
        for name, values in inputs.items():
            binding.bind_ortvalue_input(name, OrtValue.ortvalue_from_numpy(values))
        for name, into in outputs.items():
            binding.bind_ortvalue_output(name, OrtValue.ortvalue_from_numpy(into))
        self._session.run_with_iobinding(binding)


@functools.cache
def _extension() -> tuple[Any, Any] | None:
    """ONNX Runtime's extension module and its CPU device (made once: 20 µs a pass), when
    this version has what ``Binding`` calls; else None."""
    try:
        from onnxruntime import OrtDevice
        from onnxruntime.capi import _pybind_state as extension

        return extension, OrtDevice.make("cpu", 0)._get_c_device()
    except (ImportError, AttributeError):
        return None


def _bindable_inputs(inputs: dict[str, np.ndarray]) -> bool:
    """Numeric, row-contiguous arrays, which ONNX Runtime reads where they lie."""
    return all(v.dtype.kind in _BINDABLE and v.flags.c_contiguous for v in inputs.values())


def _declared(outputs: list[Any]) -> list[tuple[tuple[int, ...], np.dtype[Any]]] | None:
    """Each output's shape after the batch and its dtype, when the model declares them all:
    a numeric tensor whose first dimension is the batch (symbolic) and the rest fixed."""
    declared = []
    for output in outputs:
        shape, dtype = output.shape, _TENSOR_TYPES.get(output.type)
        if dtype is None or not shape or isinstance(shape[0], int):
            return None
        tail = shape[1:]
        if not all(isinstance(d, int) and d >= 0 for d in tail):
            return None
        declared.append((tuple(tail), dtype))
    return declared
