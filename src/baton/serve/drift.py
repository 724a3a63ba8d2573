"""Drift on the serving path: each loaded version counts its traffic into the bins of the
evaluation's reference, in constant memory, and reports PSI per feature.

Observation is sampled to a time budget: after a batch is observed (at most ``max_rows``
of its rows), the next is observed only once ``1 / budget`` times as long has passed, so
drift costs the hot path at most ``budget`` (2%) of its time whatever the load. Two
generations of counts rotate every ``window_rows`` rows, so the scores describe recent
traffic (between one and two windows of it), not everything since the server started.

A batch whose sampling fails is still served: the failure is counted (``on_error``, which
the server wires to ``baton_drift_errors_total``) and the first one is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from baton.core.drift import DriftScore, DriftSketch, Reference, feature_matrix, scores
from baton.core.metric_names import DRIFT_ERRORS_TOTAL
from baton.core.signature import Signature

Arrays = Mapping[str, np.ndarray[Any, Any]]
Clock = Callable[[], float]
log = logging.getLogger("baton.serve")


class _Windowed:
    """Current and previous generation of one reference's counts."""

    def __init__(self, reference: Reference, window_rows: int) -> None:
        self.reference = reference
        self.window_rows = window_rows
        self.current = DriftSketch(reference)
        self.previous: DriftSketch | None = None

    def observe(self, values: np.ndarray) -> None:
        self.current.observe(values)
        if self.current.rows >= self.window_rows:
            self.previous, self.current = self.current, DriftSketch(self.reference)

    def combined(self) -> DriftSketch:
        both = DriftSketch(self.reference)
        for part in (self.current, self.previous):
            if part is not None:
                both.counts += part.counts
                both.rows += part.rows
        return both


class DriftMonitor:
    """Inputs and outputs of one served version against its evaluation data."""

    def __init__(
        self,
        signature: Signature,
        inputs: Reference | None,
        outputs: Reference | None,
        *,
        window_rows: int = 100_000,
        budget: float = 0.02,
        max_rows: int = 64,
        clock: Clock = time.perf_counter,
        name: str = "model",
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self._input_names = [s.name for s in signature.inputs]
        self._output_names = [s.name for s in signature.outputs]
        self._inputs = _Windowed(inputs, window_rows) if inputs else None
        self._outputs = _Windowed(outputs, window_rows) if outputs else None
        self._budget = budget
        self._max_rows = max_rows
        self._clock = clock
        self._next = -float("inf")
        self._name = name
        self._on_error = on_error
        self.errors = 0  # batches whose sampling failed

    def observe(self, feed: Arrays, results: Arrays) -> None:
        """Called with every batch (on the model's thread); samples, never raises."""
        started = self._clock()
        if started < self._next:
            return
        try:
            for side, tensors, names in (
                (self._inputs, feed, self._input_names),
                (self._outputs, results, self._output_names),
            ):
                if side is None:
                    continue
                first = next((tensors[n] for n in names if n in tensors), None)
                if first is None or first.ndim == 0:
                    continue
                rows = min(len(first), self._max_rows)
                sample = {n: tensors[n][:rows] for n in names if n in tensors}
                _, matrix = feature_matrix(sample, names, rows)
                side.observe(matrix)
        except Exception as exc:  # a drift summary must never fail a request: counted, told once
            self._failed(exc)
        finally:
            finished = self._clock()
            self._next = finished + (finished - started) / self._budget

    def _failed(self, exc: Exception) -> None:
        self.errors += 1
        if self._on_error is not None:
            self._on_error()
        if self.errors == 1:
            log.warning(
                "%s: drift sampling failed on a batch (%s: %s); the batch was served, and "
                "further failures are counted in %s",
                self._name,
                type(exc).__name__,
                str(exc).strip().splitlines()[0][:300] if str(exc).strip() else "",
                DRIFT_ERRORS_TOTAL,
            )

    def scores(self, min_samples: int | None = None) -> list[DriftScore]:
        out: list[DriftScore] = []
        for side in (self._inputs, self._outputs):
            if side is not None:
                combined = side.combined()
                out += scores(combined) if min_samples is None else scores(combined, min_samples)
        return out

    @property
    def samples(self) -> int:
        return self._inputs.combined().rows if self._inputs else 0
