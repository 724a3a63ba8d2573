"""Load one registered version into ONNX Runtime, ready to batch requests for it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from baton.core.serving_config import ServingConfig
from baton.core.signature import Signature
from baton.errors import BadInput, Unavailable
from baton.serve.batcher import Batcher
from baton.serve.drift import DriftMonitor
from baton.serve.metrics import ModelSeries
from baton.store.registry import VersionInfo
from baton.store.store import Store

Arrays = dict[str, np.ndarray[Any, Any]]

log = logging.getLogger("baton.serve")

_OPTIMIZATION = {"disable": 0, "basic": 1, "extended": 2, "all": 99}


class ModelFailed(BadInput):
    """ONNX Runtime rejected a request that matched the signature (its values, then)."""


@dataclass
class LoadedModel:
    """A version in memory: its session, signature, batcher and metric children."""

    info: VersionInfo
    signature: Signature
    config: ServingConfig
    alias: str
    batcher: Batcher
    series: ModelSeries
    batchable: bool
    drift: DriftMonitor | None = None

    @property
    def name(self) -> str:
        return self.info.model

    @property
    def version(self) -> str:
        return str(self.info.number)


def _session(path: str, config: ServingConfig) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = config.intra_op_threads
    options.inter_op_num_threads = config.inter_op_threads
    options.graph_optimization_level = ort.GraphOptimizationLevel(
        _OPTIMIZATION[config.graph_optimization]
    )
    available = ort.get_available_providers()
    providers = [config.provider] if config.provider in available else []
    if config.provider not in available:
        log.warning(
            "%s (recommended by the evaluation) is not available here: serving on CPU",
            config.provider,
        )
    if "CPUExecutionProvider" not in providers:
        providers.append("CPUExecutionProvider")
    try:
        return ort.InferenceSession(path, options, providers=providers)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise Unavailable(f"ONNX Runtime cannot load the model ({first})") from None


def runner(session: Any, ref: str) -> Callable[[Arrays], Arrays]:
    """A blocking call from feed to named outputs (run on the batcher's thread)."""
    names = [o.name for o in session.get_outputs()]

    def run(feed: Arrays) -> Arrays:
        try:
            results = session.run(names, feed)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelFailed(f"{ref} could not compute this request: {first}") from None
        return dict(zip(names, results, strict=True))

    return run


def is_batchable(signature: Signature) -> bool:
    """Requests merge only if every tensor has a dynamic first (batch) dimension."""
    tensors = (*signature.inputs, *signature.outputs)
    return all(t.shape and t.shape[0] == -1 for t in tensors)


def load_version(
    store: Store,
    info: VersionInfo,
    config: ServingConfig,
    *,
    alias: str,
    series: ModelSeries,
    max_queue: int,
    on_batch: Callable[[int, float], None],
    drift: DriftMonitor | None = None,
) -> LoadedModel:
    """Verify the artifact, open a session and build the model's batcher (blocking)."""
    sha = config.model_sha256 or info.sha256
    path = store.artifacts.verified_path(sha)
    session = _session(str(path), config)
    signature = Signature.model_validate(info.manifest["signature"])
    batchable = is_batchable(signature)
    run = runner(session, info.ref)
    if drift is not None:
        run = _watched(run, drift)
    batcher = Batcher(
        run,
        max_batch_size=config.max_batch_size if batchable else 1,
        max_queue_delay_s=config.max_queue_delay_ms / 1000.0,
        max_queue=max_queue,
        on_batch=on_batch,
        name=info.ref,
    )
    return LoadedModel(info, signature, config, alias, batcher, series, batchable, drift)


def _watched(run: Callable[[Arrays], Arrays], drift: DriftMonitor) -> Callable[[Arrays], Arrays]:
    """The runner, with each batch's inputs and outputs sampled into the drift monitor."""

    def watched(feed: Arrays) -> Arrays:
        results = run(feed)
        drift.observe(feed, results)
        return results

    return watched
