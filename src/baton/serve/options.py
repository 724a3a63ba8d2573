"""How a server runs: the operator's options, and each model's serving configuration.

A version's batching and runtime settings start from its latest evaluation's
``recommended`` configuration (what the profile measured to meet the SLO); options the
operator sets on the command line win over it.
"""

from __future__ import annotations

from dataclasses import dataclass

from baton.core.serving_config import ServingConfig
from baton.errors import BadInput
from baton.store.registry import VersionInfo
from baton.store.store import Store

MIB = 1 << 20


@dataclass(frozen=True)
class ServeOptions:
    """Everything ``baton serve`` takes besides the settings (picklable, for workers)."""

    refs: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    max_body_bytes: int = 64 * MIB
    max_queue: int = 1024  # requests waiting per model before 429
    poll_interval_s: float = 1.0  # how often aliases are re-read; 0 = never
    drain_timeout_s: float = 30.0  # SIGTERM: how long in-flight requests may take
    allow_nonfinite: bool = False  # accept NaN / Infinity in float inputs
    # None: from the version's latest evaluation, else the defaults below
    max_batch_size: int | None = None
    max_queue_delay_ms: float | None = None
    threads: int | None = None
    # set by serve() for --workers above 1: where the workers share their metric values
    metrics_dir: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if not self.refs:
            problems.append(
                "name at least one model to serve, as in `baton serve digits-classifier`"
            )
        if not 0 <= self.port <= 65535:
            problems.append(f"--port {self.port} must lie in 0..65535")
        if self.workers < 1:
            problems.append("--workers must be at least 1")
        if self.max_body_bytes < 1024:
            problems.append("--max-body-mb must allow at least 1 KiB")
        if self.max_queue < 1:
            problems.append("--max-queue must be at least 1")
        if self.poll_interval_s < 0:
            problems.append("--poll-interval must be 0 (off) or more seconds")
        if self.max_batch_size is not None and self.max_batch_size < 1:
            problems.append("--max-batch-size must be at least 1")
        if self.max_queue_delay_ms is not None and self.max_queue_delay_ms < 0:
            problems.append("--max-queue-delay-ms must be 0 or more")
        if self.threads is not None and self.threads < 1:
            problems.append("--threads must be at least 1")
        if problems:
            raise BadInput("; ".join(problems))


# Without an evaluation: batch up to 32 rows, never hold a request for more.
DEFAULT_CONFIG = ServingConfig(max_batch_size=32, max_queue_delay_ms=0.0)


def serving_config_for(store: Store, version: VersionInfo, options: ServeOptions) -> ServingConfig:
    """The evaluation's recommended configuration (if any), overridden by the options."""
    config = DEFAULT_CONFIG
    record = store.evaluations.latest(version.model, version.number)
    if record is not None and record.recommended:
        config = ServingConfig.model_validate(record.recommended)
    changes: dict[str, object] = {}
    if options.max_batch_size is not None:
        changes["max_batch_size"] = options.max_batch_size
    if options.max_queue_delay_ms is not None:
        changes["max_queue_delay_ms"] = options.max_queue_delay_ms
    if options.threads is not None:
        changes["intra_op_threads"] = options.threads
    return config.model_copy(update=changes) if changes else config
