"""Drift on the serving path: each loaded version counts its traffic into the bins of the
evaluation's reference, in constant memory, and reports PSI per feature.

Observation is sampled to a time budget: after a batch is observed (at most ``max_rows``
of its rows), the next is observed only once ``1 / budget`` times as long has passed, so
drift costs the hot path at most ``budget`` (2%) of its time whatever the load. Two
generations of counts rotate every ``window_rows`` rows, so the scores describe recent
traffic (between one and two windows of it), not everything since the server started.

A batch whose sampling fails is still served: the failure is counted (``on_error``, which
the server wires to ``baton_drift_errors_total``) and the first one is logged.

``OutputWatch`` is the other half: not sampled, it sees every output row a version serves,
counts the rows holding a NaN or an infinity, and counts each output feature into fixed
bins that the server exports as counters (``baton_output_bin_total``), so the canary judge
can compare a canary's outputs with its baseline's over any interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from baton.core.drift import DriftScore, DriftSketch, Reference, feature_matrix, scores
from baton.core.metric_names import DRIFT_ERRORS_TOTAL, MAX_OUTPUT_FEATURES
from baton.core.signature import Signature

Arrays = Mapping[str, np.ndarray[Any, Any]]
Clock = Callable[[], float]
log = logging.getLogger("baton.serve")


class _Failures:
    """Failures of work on the serving path that must never fail a request: counted
    (``on_error``, wired to ``baton_drift_errors_total``), the first one logged."""

    def __init__(self, name: str, what: str, on_error: Callable[[], None] | None) -> None:
        self.name, self.what, self.on_error = name, what, on_error
        self.count = 0

    def __call__(self, exc: Exception) -> None:
        self.count += 1
        if self.on_error is not None:
            self.on_error()
        if self.count == 1:
            text = str(exc).strip()
            log.warning(
                "%s: %s failed on a batch (%s: %s); the batch was served, and further "
                "failures are counted in %s",
                self.name,
                self.what,
                type(exc).__name__,
                text.splitlines()[0][:300] if text else "",
                DRIFT_ERRORS_TOTAL,
            )


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
        self._failed = _Failures(name, "drift sampling", on_error)

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

    @property
    def errors(self) -> int:
        """Batches whose sampling failed."""
        return self._failed.count

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


class Increment(Protocol):
    """A counter child (prometheus-client's ``Counter.labels(...)``)."""

    def inc(self, amount: float = 1) -> None: ...


MakeBin = Callable[[str, float], Increment]  # (output feature, upper bound) -> its counter


def _nonfinite_rows(results: Arrays, names: Sequence[str]) -> int:
    """Rows of the float outputs holding a NaN or an infinity (one pass when all are finite)."""
    bad: np.ndarray | None = None
    extra = 0
    for name in names:
        array = results.get(name)
        if array is None or array.dtype.kind != "f" or array.ndim == 0 or np.isfinite(array).all():
            continue
        rows: np.ndarray = np.logical_not(np.isfinite(array.reshape(len(array), -1)).all(axis=1))
        if bad is None:
            bad = rows
        elif len(rows) == len(bad):
            bad |= rows
        else:
            extra += int(rows.sum())
    return extra + (int(bad.sum()) if bad is not None else 0)


def _columns(sketch: DriftSketch, labels: list[str], matrix: np.ndarray) -> np.ndarray:
    """The matrix's columns in the reference's feature order; a feature these outputs lack
    (a reference from a version with other outputs) is a column of NaN: not counted."""
    wanted = [f.name for f in sketch.reference.features]
    if labels[: len(wanted)] == wanted:
        return matrix[:, : len(wanted)]
    where = {label: i for i, label in enumerate(labels)}
    padded = np.column_stack((matrix, np.full(len(matrix), np.nan)))
    missing = int(matrix.shape[1])
    return padded[:, np.array([where.get(name, missing) for name in wanted], dtype=np.intp)]


def _bin(sketch: DriftSketch, edges: np.ndarray, matrix: np.ndarray) -> None:
    """``sketch.observe`` for many rows, a few times faster. A value's bin is the count of
    its feature's edges at or below it (``edges``: features x inner edges, padded with
    +inf), so the values in bin j or above are those at or above edge j - 1: one compare
    and one count per edge over the features' values laid out contiguously, and the bins
    are the differences. Non-finite values are skipped (as NaN, they reach no edge)."""
    columns = np.ascontiguousarray(matrix.T, dtype=np.float64)  # features x rows
    finite = np.isfinite(columns)
    if not finite.all():
        columns = np.where(finite, columns, np.nan)
    features = len(columns)
    at_or_above = np.empty((features, edges.shape[1] + 2), dtype=np.int64)
    at_or_above[:, 0] = finite.sum(axis=1)
    for j in range(edges.shape[1]):
        at_or_above[:, j + 1] = np.count_nonzero(columns >= edges[:, j : j + 1], axis=1)
    at_or_above[:, -1] = 0
    sketch.counts += at_or_above[:, :-1] - at_or_above[:, 1:]
    sketch.rows += len(matrix)


class OutputWatch:
    """Every output row one served version returns: non-finite rows, and each output
    feature (as ``feature_matrix`` names them, at most ``MAX_OUTPUT_FEATURES``) counted
    into the bins of an output reference, fixed for the life of the process.

    Cheap on the hot path: per batch one ``isfinite`` pass over the float outputs and, once
    binned, the outputs set aside (no copy). ``flush`` bins what was set aside in one
    vectorised pass (``_bin``, batches of one shape together) and brings the counters
    up to the counts (a loop over the bins that grew): the server calls it when /metrics is
    read, and every half second in multiprocess mode, where a worker's counters must reach
    the shared files whichever worker answers the scrape. More than ``max_pending_rows``
    rows (or ``max_pending_bytes``) set aside are binned at once, so memory stays bounded.
    Non-finite values are not binned: a feature's bins add up to its finite rows.
    """

    def __init__(
        self,
        output_names: Sequence[str],
        nonfinite: Increment,
        *,
        name: str = "model",
        on_error: Callable[[], None] | None = None,
        max_pending_rows: int = 8192,
        max_pending_bytes: int = 16 << 20,
    ) -> None:
        self._names = list(output_names)
        self._nonfinite = nonfinite
        self._failed = _Failures(name, "counting served outputs", on_error)
        self._max_rows = max_pending_rows
        self._max_bytes = max_pending_bytes
        self._lock = threading.Lock()  # the pending outputs, the sketch, the counters
        self._sketch: DriftSketch | None = None
        self._children: list[Increment | None] = []
        self._edges: np.ndarray = np.zeros((0, 0))
        self._seen: np.ndarray = np.zeros(0, dtype=np.int64)
        self._pending: list[Arrays] = []
        self._direct: bool | None = None  # whether one output's columns are the features
        self._pending_rows = 0
        self._pending_bytes = 0
        self.rows = 0  # output rows seen

    @property
    def binned(self) -> bool:
        return self._sketch is not None

    def bin_with(self, reference: Reference, make: MakeBin) -> None:
        """Count outputs into ``reference``'s bins from now on (only the first call counts:
        a counter's bins must not change under Prometheus)."""
        if self._sketch is not None or not reference.features:
            return
        kept = Reference(reference.features[:MAX_OUTPUT_FEATURES], reference.rows)
        sketch = DriftSketch(kept)
        width = sketch.counts.shape[1]
        children: list[Increment | None] = [None] * sketch.counts.size
        edges = np.full((len(kept.features), width - 1), np.inf)  # padded: no value reaches
        for i, feature in enumerate(kept.features):
            edges[i, : len(feature.edges)] = feature.edges
            for j, upper in enumerate((*feature.edges, float("inf"))):
                children[i * width + j] = make(feature.name, upper)
        with self._lock:
            self._children = children
            self._edges = edges
            self._seen = np.zeros(sketch.counts.size, dtype=np.int64)
            self._sketch = sketch

    def observe(self, results: Arrays) -> None:
        """Called with every batch's outputs on the model's thread; never raises."""
        try:
            bad = _nonfinite_rows(results, self._names)
            if bad:
                self._nonfinite.inc(bad)
            first = next((results[n] for n in self._names if n in results), None)
            if first is None or first.ndim == 0 or not len(first):
                return
            self.rows += len(first)
            if self._sketch is None:
                return
            kept = {n: results[n] for n in self._names if n in results}
            with self._lock:
                self._pending.append(kept)
                self._pending_rows += len(first)
                self._pending_bytes += sum(a.nbytes for a in kept.values())
                if self._pending_rows >= self._max_rows or self._pending_bytes >= self._max_bytes:
                    self._bin_pending()
        except Exception as exc:  # an output summary must never fail a request: counted, told once
            self._failed(exc)

    def flush(self) -> None:
        """Bin what was set aside and bring the counters up to the counts (thread-safe;
        cheap when nothing changed)."""
        try:
            with self._lock:
                if self._sketch is None:
                    return
                self._bin_pending()
                now = self._sketch.counts.ravel().copy()
                for i in np.flatnonzero(now != self._seen):
                    child = self._children[i]
                    if child is not None:
                        child.inc(float(now[i] - self._seen[i]))
                self._seen = now
        except Exception as exc:  # counted and told once, like a failing batch
            self._failed(exc)

    def _bin_pending(self) -> None:
        """Bin every batch set aside, those of one shape in one pass (lock held)."""
        pending, self._pending = self._pending, []
        self._pending_rows = self._pending_bytes = 0
        sketch = self._sketch
        if sketch is None or not pending:
            return
        groups: dict[tuple[tuple[str, tuple[int, ...], str], ...], list[Arrays]] = {}
        for batch in pending:
            key = tuple((n, a.shape[1:], a.dtype.str) for n, a in batch.items())
            groups.setdefault(key, []).append(batch)
        for batches in groups.values():  # a group that cannot be binned spoils no other
            try:
                joined = {n: np.concatenate([b[n] for b in batches]) for n in batches[0]}
                _bin(sketch, self._edges, self._matrix(sketch, joined))
            except Exception as exc:  # counted and told once, like a failing batch
                self._failed(exc)

    def _matrix(self, sketch: DriftSketch, outputs: Arrays) -> np.ndarray:
        """Rows x the reference's features; the common case, features that are exactly
        the columns of one narrow output, without ``feature_matrix``'s copies."""
        rows = len(next(iter(outputs.values())))
        if self._direct is None:
            labels, _ = feature_matrix({n: a[:1] for n, a in outputs.items()}, self._names, 1)
            first = self._names[0] if self._names else ""
            wanted = [f.name for f in sketch.reference.features]
            narrow = first in outputs and outputs[first].dtype.kind in "biuf"
            self._direct = (
                narrow
                and labels[: len(wanted)] == wanted
                and all(label.startswith(f"{first}[") or label == first for label in wanted)
            )
        if self._direct:
            return outputs[self._names[0]].reshape(rows, -1)[:, : len(sketch.reference.features)]
        labels, matrix = feature_matrix(dict(outputs), self._names, rows)
        return _columns(sketch, labels, matrix)

    @property
    def errors(self) -> int:
        """Batches (or groups of them) whose outputs could not be counted."""
        return self._failed.count
