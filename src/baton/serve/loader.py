"""Load one registered version into ONNX Runtime, ready to batch requests for it."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from baton.core.serving_config import ServingConfig
from baton.core.signature import Signature
from baton.errors import BadInput, BatonError, Unavailable
from baton.runtime.session import CannotLoad, open_session
from baton.serve.batcher import Batcher
from baton.serve.drift import DriftMonitor, OutputWatch
from baton.serve.metrics import ModelSeries
from baton.serve.options import ServingPlan, is_batchable
from baton.serve.process_metrics import Limits, read_limits
from baton.serve.source import ModelSource
from baton.serve.stats import ModelStats
from baton.store.registry import VersionInfo

Arrays = dict[str, np.ndarray[Any, Any]]

log = logging.getLogger("baton.serve")


class ModelFailed(BadInput):
    """ONNX Runtime rejected a request that matched the signature (its values, then)."""


@dataclass
class DriftSlot:
    """The drift monitor a model's batches feed (replaced when a new evaluation lands), and
    the watch over every output they return (kept for the life of the version)."""

    monitor: DriftMonitor | None = None
    outputs: OutputWatch | None = None
    evaluation: int | None = None  # the latest evaluation read (None: never evaluated)
    read: bool = False  # whether the evaluations were read at all


@dataclass
class LoadedModel:
    """A version in memory: its session, signature, batcher and metric children."""

    info: VersionInfo
    signature: Signature
    plan: ServingPlan
    alias: str
    batcher: Batcher
    series: ModelSeries
    batchable: bool
    slot: DriftSlot = field(default_factory=DriftSlot)
    stats: ModelStats = field(default_factory=ModelStats)  # Triton's statistics extension
    # tensor shapes already checked against the signature (data plane; a bounded memory)
    checked: set[tuple[object, ...]] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.info.model

    @property
    def version(self) -> str:
        return str(self.info.number)

    @property
    def config(self) -> ServingConfig:
        return self.plan.config

    @property
    def drift(self) -> DriftMonitor | None:
        return self.slot.monitor


def _serving_on_cpu(provider: str) -> None:
    log.warning(
        "%s (recommended by the evaluation) is not available here: serving on CPU", provider
    )


def model_session(path: Path, config: ServingConfig) -> Any:
    """The served session: the same builder as the profile's (``runtime.session``)."""
    try:
        return open_session(path, config, on_missing=_serving_on_cpu)
    except CannotLoad as exc:
        raise Unavailable(f"ONNX Runtime cannot load the model ({exc})") from None


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


def verified_model(store: ModelSource, info: VersionInfo, config: ServingConfig) -> Path:
    """The file to load, once every file of the version (and the int8 copy derived from
    its model, when that is what runs) hashes to its recorded digest.

    A derived copy is only as good as its source: it is served only while the model it
    was made from still verifies. Any failure names the file and refuses the version.
    """
    files = [(f.sha256, f"{f.role} file {f.filename}") for f in info.files]
    if all(sha != info.sha256 for sha, _ in files):
        files.append((info.sha256, "model file"))
    for sha, what in files:
        _verify(store, sha, f"{info.ref} will not be served: its {what}")
    if config.model_sha256 is None or config.model_sha256 == info.sha256:
        return store.artifacts.path_for(info.sha256)
    return _verify(
        store,
        config.model_sha256,
        f"{info.ref} will not be served at {config.precision}: its {config.precision} copy "
        "(made from its model file by `baton evaluate`)",
        f"; serve it without --precision, or run `baton evaluate {info.ref}` again",
    )


def _verify(store: ModelSource, sha256: str, what: str, fix: str = "") -> Path:
    try:
        return store.artifacts.verified_path(sha256)
    except BatonError as exc:
        text = f"{what} failed verification: {exc.message}{fix}"
        raise type(exc)(text, kind=exc.kind) from None  # same kind: missing, corrupted


INLINE_BELOW_S = 0.0001  # a batch cheaper than this runs on the event loop (see batcher)


def one_cpu(limits: Limits) -> bool:
    """Whether this process may run on one CPU at most (its affinity, or a cgroup quota of
    one core or less): then a batch thread cannot overlap the event loop, only slow it."""
    quota = limits.cpu_limit
    return len(limits.cpu_affinity) <= 1 or (quota is not None and quota <= 1.0)


def inline_below_s(limits: Callable[[], Limits] = read_limits) -> float:
    """The batcher's ``inline_below_s``: every batch in place on one CPU, else the small ones."""
    try:
        return math.inf if one_cpu(limits()) else INLINE_BELOW_S
    except OSError:  # limits unreadable: the default, which is right on any machine
        return INLINE_BELOW_S


def load_version(
    store: ModelSource,
    info: VersionInfo,
    plan: ServingPlan,
    *,
    alias: str,
    series: ModelSeries,
    max_queue: int,
    on_batch: Callable[[int, float], None],
    drift: DriftSlot | None = None,
    stats: ModelStats | None = None,
) -> LoadedModel:
    """Verify the version's files, open a session and build the model's batcher (blocking)."""
    config = plan.config
    path = verified_model(store, info, config)
    session = model_session(path, config)
    signature = info.manifest.signature
    batchable = is_batchable(signature)
    slot = drift or DriftSlot()
    batcher = Batcher(
        _watched(runner(session, info.ref), slot),
        max_batch_size=config.max_batch_size if batchable else 1,
        max_queue_delay_s=config.max_queue_delay_ms / 1000.0,
        max_queue=max_queue,
        on_batch=on_batch,
        name=info.ref,
        inline_below_s=inline_below_s(),
    )
    return LoadedModel(
        info, signature, plan, alias, batcher, series, batchable, slot, stats or ModelStats()
    )


def _watched(run: Callable[[Arrays], Arrays], slot: DriftSlot) -> Callable[[Arrays], Arrays]:
    """The runner, with each batch's outputs counted by the slot's output watch and its
    inputs and outputs sampled into the slot's monitor (read per batch, so a reference that
    arrives later is used from the next batch)."""

    def watched(feed: Arrays) -> Arrays:
        results = run(feed)
        outputs = slot.outputs
        if outputs is not None:
            outputs.observe(results)
        monitor = slot.monitor
        if monitor is not None:
            monitor.observe(feed, results)
        return results

    return watched
