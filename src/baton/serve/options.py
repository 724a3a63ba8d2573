"""How a server runs: the operator's options, and each model's serving plan.

A version's batching and runtime settings start from its latest evaluation's
``recommended`` configuration (what the profile measured to meet the SLO); options the
operator sets on the command line win over it. The model itself never changes silently:
the registered file is served unless ``--precision`` asks for the evaluation's int8 copy,
and the plan keeps where each setting came from so the start-up line and the model
metadata can say so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from baton.core.refs import parse_ref
from baton.core.serving_config import ServingConfig
from baton.core.signature import Signature
from baton.errors import BadInput
from baton.serve.source import ModelSource
from baton.store.evaluations import EvaluationRecord
from baton.store.registry import VersionInfo

if TYPE_CHECKING:
    from baton.serve.process_metrics import Limits

KIB = 1 << 10
MIB = 1 << 20
MIN_ADMIN_TOKEN = 16  # characters: a token short enough to guess protects nothing


def _pinned_problems(text: str) -> list[str]:
    try:
        ref = parse_ref(text)
    except BadInput as exc:
        return [f"--output-bins-from: {exc.message}"]
    if ref.version is None:
        return [f"--output-bins-from {text!r} must name one version, as in {ref.name}:3"]
    return []


@dataclass(frozen=True)
class ServeOptions:
    """Everything ``baton serve`` takes besides the settings (picklable, for workers)."""

    refs: tuple[str, ...]
    # a model folder to serve instead of the registry (refs then name its one version)
    model_dir: str | None = None
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
    # None: the registered model as it is; fp32 | int8 | recommended (the evaluation's)
    precision: str | None = None
    # set by serve() for --workers above 1: where the workers share their metric values
    metrics_dir: str | None = None
    # set by serve(): where the server's one decider publishes what to serve (serve/board.py);
    # None: the app decides for itself (a ServeApp run from Python)
    decisions_dir: str | None = None
    # what a client may hold before any work starts (docs/serve.md: the server port's promises)
    max_connections: int = 1024  # beyond: the oldest idle or slow connection is closed
    header_timeout_s: float = 10.0  # from a request's first byte to its complete headers
    body_timeout_s: float = 30.0  # longest pause while a body arrives (408 beyond)
    body_budget_bytes: int | None = None  # bodies held at once (503); None: 4 x max body
    offload_bytes: int = 256 * KIB  # JSON this large is decoded / encoded off the loop
    # None: POST /v2/repository/models/NAME/load and /unload are off (403)
    admin_token: str | None = field(default=None, repr=False)
    grpc_port: int | None = None  # V2 over gRPC on this port too (0: any free one); None: off
    # NAME:N whose evaluation's output deciles bin the served outputs of NAME's versions
    # (baton_output_bin_total), so a canary and its baseline count into the same bins;
    # None: each version's own evaluation
    output_bins_from: str | None = None

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
        if self.grpc_port is not None and not (
            0 <= self.grpc_port <= 65535 and (self.grpc_port != self.port or self.port == 0)
        ):
            problems.append(f"--grpc-port {self.grpc_port} must lie in 0..65535, apart from --port")
        if self.precision is not None and self.precision not in PRECISIONS:
            problems.append(f"--precision {self.precision} must be one of {', '.join(PRECISIONS)}")
        problems += self._port_limit_problems()
        if self.output_bins_from is not None:
            problems += _pinned_problems(self.output_bins_from)
        if problems:
            raise BadInput("; ".join(problems))

    @property
    def body_budget(self) -> int:
        """Bytes of request bodies all connections may hold at once."""
        if self.body_budget_bytes is None:
            return 4 * self.max_body_bytes
        return self.body_budget_bytes

    def _port_limit_problems(self) -> list[str]:
        problems = []
        if self.max_connections < 1:
            problems.append("--max-connections must be at least 1")
        if not 0 < self.header_timeout_s < math.inf:
            problems.append("--header-timeout must be a number of seconds above 0")
        if not 0 < self.body_timeout_s < math.inf:
            problems.append("--body-timeout must be a number of seconds above 0")
        if self.body_budget < self.max_body_bytes:
            problems.append(
                "--body-budget-mb must be at least --max-body-mb, "
                "or the largest request allowed could never be received"
            )
        if self.admin_token is not None and len(self.admin_token) < MIN_ADMIN_TOKEN:
            problems.append(
                f"the admin token must be at least {MIN_ADMIN_TOKEN} characters "
                "(make one with `openssl rand -hex 32`)"
            )
        return problems


PRECISIONS = ("fp32", "int8", "recommended")

# Without an evaluation: batch up to 32 rows, never hold a request for more.
DEFAULT_CONFIG = ServingConfig(max_batch_size=32, max_queue_delay_ms=0.0)

Source = Literal["flag", "evaluation", "default", "signature"]
SETTINGS = ("precision", "max_batch_size", "threads", "max_queue_delay_ms")
_FLAGS = {
    "precision": "--precision",
    "max_batch_size": "--max-batch-size",
    "threads": "--threads",
    "max_queue_delay_ms": "--max-queue-delay-ms",
}


@dataclass(frozen=True)
class ServingPlan:
    """What one served version runs, and where each of its settings came from."""

    config: ServingConfig
    sources: Mapping[str, Source]  # one per name in SETTINGS
    evaluation: int | None = None  # the evaluation whose recommendation was read
    recommended_precision: str | None = None

    @property
    def values(self) -> dict[str, object]:
        c = self.config
        return {
            "precision": c.precision,
            "max_batch_size": c.max_batch_size,
            "threads": c.intra_op_threads,
            "max_queue_delay_ms": c.max_queue_delay_ms,
        }

    def source_text(self, setting: str) -> str:
        source = self.sources[setting]
        if source == "flag":
            return _FLAGS[setting]
        if source == "evaluation":
            return f"evaluation {self.evaluation}'s recommendation"
        if source == "signature":
            return "the signature's fixed first dimension"
        if setting == "precision":
            return "default: the registered model"
        return "default"

    def describe(self) -> str:
        """``fp32 (default: the registered model), batch 256 (evaluation 3's ...), ...``"""
        c = self.config
        parts = [
            f"{c.precision} ({self.source_text('precision')})",
            f"batch {c.max_batch_size} ({self.source_text('max_batch_size')})",
            f"{c.intra_op_threads} thread{'s' * (c.intra_op_threads != 1)} "
            f"({self.source_text('threads')})",
            f"queue delay {c.max_queue_delay_ms:g} ms ({self.source_text('max_queue_delay_ms')})",
        ]
        return ", ".join(parts)

    def hint(self) -> str | None:
        """What the evaluation recommends that is not served, and the flag that serves it."""
        recommended = self.recommended_precision
        if recommended is None or recommended == self.config.precision:
            return None
        return (
            f"evaluation {self.evaluation} recommends {recommended} (its outputs differ a "
            f"little from the registered model's): --precision {recommended} serves it"
        )

    def parameters(self) -> dict[str, object]:
        """The V2 model metadata ``parameters`` for what runs: value and source of each."""
        out: dict[str, object] = {}
        for name in SETTINGS:
            out[name] = self.values[name]
            out[f"{name}_source"] = self.sources[name]
        if self.evaluation is not None:  # V2 parameters hold no nulls
            out["evaluation"] = self.evaluation
        return out


def is_batchable(signature: Signature) -> bool:
    """Requests merge only if every tensor has a dynamic first (batch) dimension."""
    tensors = (*signature.inputs, *signature.outputs)
    return all(t.shape and t.shape[0] == -1 for t in tensors)


def serving_plan(store: ModelSource, version: VersionInfo, options: ServeOptions) -> ServingPlan:
    """The evaluation's recommendation (if any) with the options over it, and the sources."""
    record = store.evaluations.latest(version.model, version.number)
    recommended = _recommended(record)
    origin: Source = "evaluation" if recommended else "default"
    base = recommended or DEFAULT_CONFIG
    sources: dict[str, Source] = dict.fromkeys(SETTINGS, origin)
    changes: dict[str, object] = {}
    for setting, key, value in (
        ("max_batch_size", "max_batch_size", options.max_batch_size),
        ("max_queue_delay_ms", "max_queue_delay_ms", options.max_queue_delay_ms),
        ("threads", "intra_op_threads", options.threads),
    ):
        if value is not None:
            changes[key] = value
            sources[setting] = "flag"
    signature = version.manifest.signature
    if not is_batchable(signature):
        changes["max_batch_size"] = 1
        sources["max_batch_size"] = "signature"
    precision, sha, sources["precision"] = _precision(version, recommended, options.precision)
    changes.update(precision=precision, model_sha256=sha)
    return ServingPlan(
        base.model_copy(update=changes),
        sources,
        evaluation=record.id if recommended and record else None,
        recommended_precision=recommended.precision if recommended else None,
    )


def _recommended(record: EvaluationRecord | None) -> ServingConfig | None:
    return None if record is None else record.recommended


def _precision(
    version: VersionInfo, recommended: ServingConfig | None, wanted: str | None
) -> tuple[Literal["fp32", "int8"], str | None, Source]:
    """(precision, the derived artifact to serve or None for the version's own, source)."""
    if wanted is None:
        return "fp32", None, "default"
    if wanted == "fp32":
        return "fp32", None, "flag"
    if recommended is None:
        if wanted == "recommended":
            return "fp32", None, "default"  # nothing recommends otherwise
        raise BadInput(
            f"{version.ref} has no int8 copy: it was never evaluated (run `baton evaluate "
            f"{version.ref}`), or serve it without --precision int8"
        )
    if recommended.precision == "int8" and recommended.model_sha256 is not None:
        return "int8", recommended.model_sha256, "evaluation" if wanted == "recommended" else "flag"
    if wanted == "int8":
        raise BadInput(
            f"{version.ref} has no int8 copy: its latest evaluation recommends "
            f"{recommended.precision} (int8 lost too much quality or was not needed), "
            "so serve it without --precision int8"
        )
    return "fp32", None, "evaluation"


def workers_from(text: str, limits: Callable[[], Limits] | None = None) -> tuple[int, str | None]:
    """``--workers N`` or ``--workers auto``: the count, and for auto why that many.

    Auto runs one worker per whole core this process may use: the CPUs its affinity
    allows, capped by the cgroup CPU quota (a container's or pod's limit), at least one.
    """
    if text.strip().lower() != "auto":
        try:
            return int(text), None
        except ValueError:
            raise BadInput(f"--workers {text!r} must be a whole number or auto") from None
    if limits is None:
        from baton.serve.process_metrics import read_limits

        limits = read_limits
    found = limits()
    cores = max(1, len(found.cpu_affinity))
    why = f"{cores} CPU{'s' * (cores != 1)} allowed"
    if found.cpu_limit is not None:
        why += f", cgroup CPU limit {found.cpu_limit:g}"
        cores = min(cores, max(1, math.floor(found.cpu_limit)))
    return cores, why
