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
from typing import Any

import numpy as np

from baton.core.serving_config import ServingConfig
from baton.core.signature import DType, Signature
from baton.evaluate.datasets import EvalData

Progress = Callable[[int], None]  # rows just processed
TargetTransform = Callable[[np.ndarray], np.ndarray]

_OPT_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


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


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__


def open_session(path: Path, config: ServingConfig | None = None, *, label: str = "model") -> Any:
    """An ONNX Runtime session with the configuration's threads, optimisation and provider."""
    import onnxruntime as ort

    config = config or ServingConfig()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = config.intra_op_threads
    options.inter_op_num_threads = config.inter_op_threads
    options.graph_optimization_level = getattr(
        ort.GraphOptimizationLevel, _OPT_LEVELS[config.graph_optimization]
    )
    providers = [config.provider]
    if config.provider != "CPUExecutionProvider":
        providers.append("CPUExecutionProvider")
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:
        raise ModelCrashed(f"ONNX Runtime cannot load the {label} ({first_line(exc)})") from None


@dataclass
class RunResult:
    rows: int = 0
    target: np.ndarray | None = None
    reference: dict[str, np.ndarray] = field(default_factory=dict)
    outputs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # model -> name
    seconds: dict[str, float] = field(default_factory=dict)  # model -> time inside ORT


def run_models(
    sessions: dict[str, Any],
    data: EvalData,
    *,
    batch_size: int = 1024,
    target_transform: TargetTransform | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Stream ``data`` once through every session; outputs are kept, inputs are not."""
    names = {m: [o.name for o in s.get_outputs()] for m, s in sessions.items()}
    parts: dict[str, list[list[np.ndarray]]] = {m: [[] for _ in names[m]] for m in sessions}
    targets: list[np.ndarray] = []
    references: dict[str, list[np.ndarray]] = {}
    seconds = dict.fromkeys(sessions, 0.0)
    runs = [(m, s.run, parts[m]) for m, s in sessions.items()]
    clock = time.perf_counter
    rows = 0
    for batch in data.batches(batch_size):
        if batch.target is not None:
            if target_transform is not None and not targets:
                target_transform(batch.target)  # fail on the first batch, not after the pass
            targets.append(batch.target)
        for name, values in batch.reference.items():
            references.setdefault(name, []).append(values)
        for model, run, kept in runs:
            start = clock()
            try:
                results = run(None, batch.inputs)
            except Exception as exc:
                raise ModelCrashed(
                    f"the {model} failed on rows {batch.start}..{batch.start + batch.rows - 1} "
                    f"({first_line(exc)})"
                ) from None
            seconds[model] += clock() - start
            for into, values in zip(kept, results, strict=True):
                into.append(values)
        rows += batch.rows
        if progress:
            progress(batch.rows)
    return RunResult(
        rows=rows,
        target=_target(targets, target_transform),
        reference={k: np.concatenate(v) for k, v in references.items()},
        outputs={
            m: {k: np.concatenate(v) for k, v in zip(names[m], parts[m], strict=True)}
            for m in sessions
        },
        seconds=seconds,
    )


def _target(parts: list[np.ndarray], transform: TargetTransform | None) -> np.ndarray | None:
    """The whole target, transformed once (per batch it would cost more than the model)."""
    if not parts:
        return None
    whole = np.concatenate(parts)
    return transform(whole) if transform is not None else whole
