"""One model's outputs over a whole pass, written where they will stay.

ONNX Runtime writes each batch's outputs straight into one array per output, allocated
once for every row of the file (an IOBinding onto the batch's rows), so the pass neither
allocates outputs per batch nor concatenates them at the end. The arrays are allocated
before the first batch when the model declares each output's type and every dimension but
the batch, else after the first batch, from what it returned; over whole columns (a mapped
file) every batch's binding is prepared before the pass. What cannot be written in place
(outputs that are not numeric tensors with one row per input row, a declared shape that
lies, a shape that changes between batches, more rows than the file announced) keeps each
batch's arrays and concatenates them after the pass, as the straightforward path does:
the values are the same either way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

_BINDABLE = "biuf"  # numpy kinds ONNX Runtime can take by pointer
# ONNX Runtime's names of the tensor types numpy holds as they are
_TENSOR_TYPES: dict[str, np.dtype[Any]] = {
    "tensor(float)": np.dtype("float32"),
    "tensor(double)": np.dtype("float64"),
    **{f"tensor({t})": np.dtype(t) for t in ("float16", "bool", "int8", "int16", "int32")},
    **{f"tensor({t})": np.dtype(t) for t in ("int64", "uint8", "uint16", "uint32", "uint64")},
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
        self.filled = 0  # rows written in place
        self.rows_kept = 0  # rows whose outputs are kept, either way
        self.parts: list[list[np.ndarray]] = [[] for _ in self.names]
        self._binding: Binding | None = None
        self._plan: list[tuple[int, Callable[[], None]]] = []  # batches ahead, next one last
        declared = _declared(declared_outputs) if in_place and capacity > 0 else None
        if declared is not None:  # bind from the first batch: no run to learn the shapes
            self.whole = [np.empty((capacity, *tail), dtype) for tail, dtype in declared]
            self._binding = Binding(session)

    def plan(self, inputs: dict[str, np.ndarray], batch_size: int) -> bool:
        """Prepare the bindings of a pass over ``inputs`` (every row of each column) in
        batches of ``batch_size`` rows, when all can be written in place; ``run_planned``
        then runs them one by one, with almost no Python between two runs of the model
        (whose batches evict the caches: there, 10-20 µs a batch of Python is 1-2 % of a
        small model's pass)."""
        rows = len(next(iter(inputs.values())))
        binding = self._binding
        if self.whole is None or binding is None or self.filled or rows > self.capacity:
            return False
        if not _bindable_inputs(inputs):  # row slices of these are bindable too
            return False
        plan: list[tuple[int, Callable[[], None]]] = []
        for start in range(0, rows, batch_size):
            end = start + batch_size
            prepared = binding.prepare(
                {name: column[start:end] for name, column in inputs.items()},
                {
                    name: whole[start:end]
                    for name, whole in zip(self.names, self.whole, strict=True)
                },
            )
            plan.append(
                (min(batch_size, rows - start), functools.partial(binding.run_prepared, prepared))
            )
        plan.reverse()  # popped from the end
        self._plan = plan
        return True

    def run_planned(self) -> bool:
        """Run the next planned batch; False if there is none or it failed (the plan is
        dropped: ``run`` then takes that batch and the rest, and says what went wrong)."""
        plan = self._plan
        if not plan:
            return False
        rows, run = plan[-1]
        try:
            run()
        except Exception:
            self._plan = []
            return False
        plan.pop()
        self.filled += rows
        self.rows_kept += rows
        return True

    def run(self, inputs: dict[str, np.ndarray], rows: int) -> None:
        """Run one batch and keep its outputs; whatever ONNX Runtime raises propagates."""
        self._plan = []
        self._run(inputs, rows)
        self.rows_kept += rows

    def _run(self, inputs: dict[str, np.ndarray], rows: int) -> None:
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
            self._plan = []


class Prepared(NamedTuple):
    """One batch's OrtValues, made before the pass; ``arrays`` keeps their memory alive."""

    inputs: list[tuple[str, Any]]
    outputs: list[tuple[str, Any]]
    arrays: list[np.ndarray]


class Binding:
    """An IOBinding over numpy arrays, run batch by batch.

    Through ONNX Runtime's extension module where this version has it: its Python wrappers
    (1.32) spend 8-10 µs a batch on checks a CPU session does not need, 1.5 % of a small
    model's pass. Otherwise, or with ``public=True``, through the public API; the values
    are the same either way (``tests/evaluate/test_outputs.py``)."""

    def __init__(self, session: Any, *, public: bool = False):
        self.through_extension = not public and self._through_extension(session)
        if not self.through_extension:
            from onnxruntime import OrtValue

            binding = session.io_binding()
            self._run = functools.partial(session.run_with_iobinding, binding)
            self._ortvalue = OrtValue.ortvalue_from_numpy
            self._device = None
            self._bind_input = binding.bind_ortvalue_input
            self._bind_output = binding.bind_ortvalue_output

    def _through_extension(self, session: Any) -> bool:
        found = _extension()
        if found is None:
            return False
        extension, self._device = found
        try:
            raw = extension.SessionIOBinding(session._sess)
            self._run = functools.partial(session._sess.run_with_iobinding, raw, None)
        except (AttributeError, TypeError):  # another version's layout: the public API
            return False
        self._ortvalue = extension.OrtValue.ortvalue_from_numpy
        self._bind_input = raw.bind_ortvalue_input
        self._bind_output = raw.bind_ortvalue_output
        return True

    def prepare(self, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> Prepared:
        """The OrtValues of one batch: ``inputs`` read and ``outputs`` written where they
        lie, as long as the ``Prepared`` lives."""
        make, device = self._ortvalue, self._device
        if device is None:  # the public API: its OrtValues keep their arrays alive
            made_in = [(name, make(values)) for name, values in inputs.items()]
            made_out = [(name, make(into)) for name, into in outputs.items()]
        else:
            made_in = [(name, make(values, device)) for name, values in inputs.items()]
            made_out = [(name, make(into, device)) for name, into in outputs.items()]
        return Prepared(made_in, made_out, [*inputs.values(), *outputs.values()])

    def run_prepared(self, prepared: Prepared) -> None:
        bind_input, bind_output = self._bind_input, self._bind_output
        for name, value in prepared.inputs:
            bind_input(name, value)
        for name, value in prepared.outputs:
            bind_output(name, value)
        self._run()

    def run(self, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> None:
        """Run with ``inputs`` read and ``outputs`` written where they lie."""
        self.run_prepared(self.prepare(inputs, outputs))


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
