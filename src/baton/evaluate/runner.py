"""Run one or more models over the eval data in a single streamed pass.

The candidate, the baseline it would replace and its int8 variant see the same batches,
so the data is read once and every comparison is row for row. A failure inside ONNX
Runtime is a ``ModelCrashed`` (recorded as a failed evaluation); a problem with the data
stays ``BadInput`` (nothing is recorded).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from baton.core.serving_config import ServingConfig
from baton.core.signature import DType, Signature
from baton.evaluate.datasets import EvalData
from baton.evaluate.outputs import Outputs
from baton.runtime.session import CannotLoad
from baton.runtime.session import first_line as first_line  # the profiler's too
from baton.runtime.session import open_session as runtime_session

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

Progress = Callable[[int], None]  # rows just processed
TargetTransform = Callable[[np.ndarray], np.ndarray]

BATCH_BYTES = 4 << 20  # input bytes per evaluation batch: large enough to hide per-call cost
MIN_BATCH, MAX_BATCH = 16, 16384


def batch_rows(signature: Signature) -> int:
    """Rows per evaluation batch: about BATCH_BYTES of input, whatever the row size, so a
    small tabular model runs big batches and an image model small ones."""
    row_bytes = 0
    for spec in signature.inputs:
        items = math.prod(d if d > 0 else 1 for d in spec.shape[1:])
        size = 64 if spec.dtype is DType.STRING else np.dtype(spec.dtype.value).itemsize
        row_bytes += items * size
    return max(MIN_BATCH, min(MAX_BATCH, BATCH_BYTES // max(row_bytes, 1)))


class ModelCrashed(Exception):
    """ONNX Runtime failed while running the model (not a problem with the data)."""


def open_session(path: Path, config: ServingConfig | None = None, *, label: str = "model") -> Any:
    """The session the server would open for ``config`` (``runtime.session``), so the
    profile measures what is served; a file ORT refuses is a ``ModelCrashed``."""
    try:
        return runtime_session(path, config)
    except CannotLoad as exc:
        raise ModelCrashed(f"ONNX Runtime cannot load the {label} ({exc})") from None


@dataclass
class RunResult:
    rows: int = 0
    target: np.ndarray | None = None
    reference: dict[str, np.ndarray] = field(default_factory=dict)
    outputs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # model -> name
    seconds: dict[str, float] = field(default_factory=dict)  # model -> time inside ORT


def run_models(
    sessions: dict[str, InferenceSession],
    data: EvalData,
    *,
    batch_size: int = 1024,
    target_transform: TargetTransform | None = None,
    progress: Progress | None = None,
    in_place: bool = True,
) -> RunResult:
    """Stream ``data`` once through every session; outputs are kept, inputs are not.

    ``in_place=False`` keeps every batch's outputs and concatenates them after the pass
    (the straightforward path, which the in-place one must match value for value)."""
    kept = {m: Outputs(s, data.rows, in_place=in_place) for m, s in sessions.items()}
    mapped = data.mapped() if in_place else None
    if mapped is not None:
        target = mapped.target
        if target is not None and target_transform is not None:
            target = target_transform(target)  # checked before the pass
        seconds = _run_mapped(kept, mapped.inputs, data.rows, batch_size, progress)
        return _result(kept, data.rows, target, dict(mapped.reference), seconds)
    whole_target = data.whole_target() if in_place else None
    if whole_target is not None and target_transform is not None:
        whole_target = target_transform(whole_target)  # checked before the pass
    targets: list[np.ndarray] = []
    references: dict[str, list[np.ndarray]] = {}
    seconds = dict.fromkeys(kept, 0.0)
    rows = 0
    for batch in data.batches(batch_size):
        n = batch.rows
        if batch.target is not None and whole_target is None:
            if target_transform is not None and not targets:
                target_transform(batch.target)  # fail on the first batch, not after the pass
            targets.append(batch.target)
        for name, values in batch.reference.items():
            references.setdefault(name, []).append(values)
        _run_batch(kept, batch.inputs, batch.start, n, seconds)
        rows += n
        if progress:
            progress(n)
    target = whole_target if whole_target is not None else _target(targets, target_transform)
    reference = {k: np.concatenate(v) for k, v in references.items()}
    return _result(kept, rows, target, reference, seconds)


def _run_mapped(
    kept: dict[str, Outputs],
    inputs: dict[str, np.ndarray],
    rows: int,
    batch_size: int,
    progress: Progress | None,
) -> dict[str, float]:
    """Every batch of mapped columns through every model, the bindings prepared before
    the pass; from the first batch a model fails on (or cannot plan), the general path
    runs the rest and says what went wrong."""
    starts = range(0, rows, batch_size)
    sizes = [min(batch_size, rows - start) for start in starts]
    seconds = dict.fromkeys(kept, 0.0)
    done = 0
    if all(outputs.plan(inputs, batch_size) for outputs in kept.values()):
        done = _run_planned(kept, sizes, seconds, progress)
    for start, n in zip(starts[done:], sizes[done:], strict=True):
        batch = {k: v[start : start + n] for k, v in inputs.items()}
        _run_batch(kept, batch, start, n, seconds)
        if progress:
            progress(n)
    return seconds


def _run_planned(
    kept: dict[str, Outputs], sizes: list[int], seconds: dict[str, float], progress: Progress | None
) -> int:
    """How many batches every model ran on its plan: all, unless one failed."""
    clock = time.perf_counter
    models = list(kept.items())
    for done, n in enumerate(sizes):
        for model, outputs in models:
            start = clock()
            if not outputs.run_planned():
                return done
            seconds[model] += clock() - start
        if progress:
            progress(n)
    return len(sizes)


def _run_batch(
    kept: dict[str, Outputs],
    inputs: dict[str, np.ndarray],
    start: int,
    n: int,
    seconds: dict[str, float],
) -> None:
    """One batch through every model that has not run it yet; a failure inside ONNX
    Runtime is a ``ModelCrashed`` naming the rows."""
    clock = time.perf_counter
    for model, outputs in kept.items():
        if outputs.rows_kept > start:  # ran this batch on its plan
            continue
        began = clock()
        try:
            outputs.run(inputs, n)
        except Exception as exc:
            raise ModelCrashed(
                f"the {model} failed on rows {start}..{start + n - 1} ({first_line(exc)})"
            ) from None
        seconds[model] += clock() - began


def _result(
    kept: dict[str, Outputs],
    rows: int,
    target: np.ndarray | None,
    reference: dict[str, np.ndarray],
    seconds: dict[str, float],
) -> RunResult:
    outputs = {m: o.result() for m, o in kept.items()}
    return RunResult(rows, target, reference, outputs, seconds)


def _target(parts: list[np.ndarray], transform: TargetTransform | None) -> np.ndarray | None:
    """The whole target, transformed once (per batch it would cost more than the model)."""
    if not parts:
        return None
    whole = np.concatenate(parts)
    return transform(whole) if transform is not None else whole
