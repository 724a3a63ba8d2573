"""A rollout's records: its phase, traffic weights, spec, lease and each canary decision. Pure.

The store keeps these as JSON columns and hands them out parsed, so the controller, the
CLI and ``baton history`` read fields, never keys. Phase words are Flagger's (its status
vocabulary reads well in an audit log); metric classifications are Kayenta's (pass, high,
low, no data, error). Documents are validated when built and when read back: a weight
table that does not sum to 100 or a non-finite number never reaches the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from baton.core.manifest import describe_validation_error
from baton.errors import BadInput, Conflict


class Phase(StrEnum):
    INITIALIZING = "initializing"
    PROGRESSING = "progressing"
    PAUSED = "paused"
    PROMOTING = "promoting"
    SUCCEEDED = "succeeded"
    ROLLING_BACK = "rolling_back"
    FAILED = "failed"
    ABORTED = "aborted"

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED = frozenset({Phase.SUCCEEDED, Phase.FAILED, Phase.ABORTED})
ACTIVE = frozenset(Phase) - FINISHED

# Where each phase may go next; a finished rollout never changes again.
_NEXT: dict[Phase, frozenset[Phase]] = {
    Phase.INITIALIZING: frozenset(
        {Phase.PROGRESSING, Phase.PAUSED, Phase.ROLLING_BACK, Phase.FAILED, Phase.ABORTED}
    ),
    Phase.PROGRESSING: frozenset(
        {Phase.PROGRESSING, Phase.PAUSED, Phase.PROMOTING, Phase.ROLLING_BACK, Phase.ABORTED}
    ),
    Phase.PAUSED: frozenset(
        {Phase.PAUSED, Phase.PROGRESSING, Phase.PROMOTING, Phase.ROLLING_BACK, Phase.ABORTED}
    ),
    Phase.PROMOTING: frozenset({Phase.PROMOTING, Phase.SUCCEEDED, Phase.ROLLING_BACK}),
    Phase.ROLLING_BACK: frozenset({Phase.ROLLING_BACK, Phase.FAILED, Phase.ABORTED}),
}


def check_phase_change(rollout: int, current: Phase, wanted: Phase) -> None:
    """Raise Conflict unless a rollout in ``current`` may move to ``wanted``."""
    if wanted in _NEXT.get(current, frozenset()):
        return
    if current.finished:
        raise Conflict(f"rollout #{rollout} has {current.value}: a finished rollout never changes")
    allowed = ", ".join(sorted(p.value for p in _NEXT[current]))
    raise Conflict(
        f"rollout #{rollout} is {current.value} and cannot become {wanted.value} "
        f"(from {current.value} it may become: {allowed})"
    )


class RolloutTarget(StrEnum):
    LOCAL = "local"  # baton's router in front of baton serve processes
    KSERVE = "kserve"  # an InferenceService's spec.canary traffic, through an apply hook
    COMPOSE = "compose"  # the Compose file's router service, services up/down through hooks


class Classification(StrEnum):
    PASS = "pass"
    HIGH = "high"
    LOW = "low"
    NODATA = "nodata"
    ERROR = "error"


class Decision(StrEnum):
    ADVANCE = "advance"  # the interval passed: next step
    HOLD = "hold"  # not enough to judge (marginal score, too few requests): same step
    FAIL = "fail"  # the interval failed: a failed check counted, same step
    PAUSE = "pause"  # the judge could not read its inputs (Prometheus unreachable)
    PROMOTE = "promote"  # the last step passed: move @production
    ROLLBACK = "rollback"  # a guardrail tripped, too many failed checks, or the deadline


Percent = Annotated[int, Field(ge=0, le=100)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class Document(BaseModel):
    """A JSON document kept in a column: frozen, unknown keys refused, numbers finite."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Weights(Document):
    """The share of traffic, in percent, each variant gets; they sum to 100."""

    stable: Percent
    baseline: Percent = 0
    canary: Percent = 0

    @model_validator(mode="after")
    def _sums_to_100(self) -> Self:
        total = self.stable + self.baseline + self.canary
        if total != 100:
            raise ValueError(
                f"weights stable {self.stable} + baseline {self.baseline} + canary "
                f"{self.canary} sum to {total}, not 100"
            )
        return self

    def __str__(self) -> str:
        return f"stable {self.stable} / baseline {self.baseline} / canary {self.canary}"


ALL_STABLE = Weights(stable=100)


class Thresholds(Document):
    """What the judge holds the canary to (defaults: Kayenta's and Flagger's, see the notes)."""

    pass_score: Annotated[float, Field(ge=0, le=100)] = 95.0
    marginal_score: Annotated[float, Field(ge=0, le=100)] = 75.0
    failed_checks: Annotated[int, Field(ge=1)] = 3  # failed intervals before rollback
    consecutive_errors: Annotated[int, Field(ge=1)] = 4  # unreadable intervals before pause
    success_rate_min: Annotated[float, Field(gt=0, le=1)] = 0.99
    p99_max_ms: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None  # None: SLO
    latency_allowed_increase: Annotated[float, Field(ge=1, allow_inf_nan=False)] = 1.1
    error_min_effect: Annotated[float, Field(ge=0, le=1)] = 0.005  # absolute, 0.5 pp
    confidence: Annotated[float, Field(gt=0.5, lt=1)] = 0.98
    tolerance: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.25

    @model_validator(mode="after")
    def _marginal_below_pass(self) -> Self:
        if self.marginal_score > self.pass_score:
            raise ValueError(
                f"marginal score {self.marginal_score} is above pass score {self.pass_score}"
            )
        return self


class RolloutSpec(Document):
    """How a rollout proceeds: canary percent per step (then 100), pace, patience, limits."""

    steps: tuple[Annotated[int, Field(gt=0, lt=100)], ...] = (5, 10, 25, 50)
    interval_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 60.0
    min_requests: Annotated[int, Field(ge=0)] = 200  # canary requests per step, else no data
    deadline_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 600.0
    thresholds: Thresholds = Thresholds()

    @model_validator(mode="after")
    def _steps_rise(self) -> Self:
        if not self.steps:
            raise ValueError("steps is empty: give at least one canary percentage")
        if any(b <= a for a, b in zip(self.steps, self.steps[1:], strict=False)):
            raise ValueError(f"steps {list(self.steps)} must rise")
        return self


class MetricResult(Document):
    """One metric's result for one interval: canary against baseline, with its numbers."""

    classification: Classification
    critical: bool = False  # a guardrail: failing it rolls back at once
    canary: Finite | None = None  # the canary's summary value (rate, seconds, score)
    baseline: Finite | None = None
    n_canary: Annotated[int, Field(ge=0)] | None = None  # samples or requests behind it
    n_baseline: Annotated[int, Field(ge=0)] | None = None
    statistic: Finite | None = None
    p_value: Annotated[float, Field(ge=0, le=1)] | None = None
    ci_low: Finite | None = None
    ci_high: Finite | None = None
    effect: Finite | None = None  # e.g. the Hodges-Lehmann shift, or the rate difference
    message: str | None = None  # why, in words
    values: dict[str, Finite] = {}  # any further numbers the check reports


MetricResults = Mapping[str, MetricResult]


def parse_weights(value: object, what: str) -> Weights:
    """Weights from JSON (a stored column or a request); BadInput naming ``what``."""
    return _parse(Weights, value, what)


def parse_spec(value: object, what: str) -> RolloutSpec:
    return _parse(RolloutSpec, value, what)


def parse_metrics(value: object, what: str) -> dict[str, MetricResult]:
    if not isinstance(value, dict):
        raise BadInput(f"{what}: per-metric results must be an object of metric name -> result")
    return {
        str(name): _parse(MetricResult, v, f"{what}, metric {name!r}") for name, v in value.items()
    }


D = TypeVar("D", bound=Document)


def _parse(kind: type[D], value: object, what: str) -> D:
    if isinstance(value, kind):
        return value
    try:
        return kind.model_validate(value)
    except ValidationError as exc:
        raise BadInput(f"{what}: {describe_validation_error(exc)}") from None


@dataclass(frozen=True)
class Holder:
    """Who runs a rollout: one controller process, named by host and process id."""

    pid: int
    host: str

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}"


@dataclass(frozen=True)
class Lease:
    """A controller's claim on a rollout, good until ``expires_at`` unless renewed."""

    holder: Holder
    heartbeat_at: datetime
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


def lease_for(holder: Holder, now: datetime, ttl_s: float) -> Lease:
    if not ttl_s > 0:
        raise BadInput(f"a lease lasts a positive number of seconds, not {ttl_s}")
    return Lease(holder, now, now + timedelta(seconds=ttl_s))


@dataclass(frozen=True)
class RolloutRecord:
    """A rollout as stored: what moves where, how far it got, and who runs it now."""

    id: int
    model: str
    from_version: int
    to_version: int
    baseline_version: int | None  # the copy of the current version beside the canary
    target: RolloutTarget
    phase: Phase
    step: int  # index into spec.steps; len(spec.steps) once at 100 %
    weights: Weights
    spec: RolloutSpec
    failed_checks: int
    promotion_id: int | None  # the approved promotion this rollout applies
    started_by: str
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    reason: str | None
    lease: Lease | None

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE

    def summary(self) -> str:
        return f"rollout #{self.id} of {self.model} ({self.from_version} -> {self.to_version})"


@dataclass(frozen=True)
class DecisionRecord:
    """One judged interval: the step and weights it judged, the score and what it decided."""

    id: int
    rollout_id: int
    at: datetime
    step: int
    weights: Weights
    score: float | None  # None: nothing to score (no data, Prometheus unreachable)
    decision: Decision
    reason: str
    metrics: dict[str, MetricResult]


@dataclass(frozen=True)
class Change:
    """What an update sets; fields left None stay as they are."""

    phase: Phase | None = None
    step: int | None = None
    weights: Weights | None = None
    failed_checks: int | None = None

    def check(self, current: RolloutRecord) -> None:
        """Refuse a change that leaves the rollout inconsistent (step past 100 %, ...)."""
        if self.phase is not None:
            check_phase_change(current.id, current.phase, self.phase)
        elif current.phase.finished:
            raise Conflict(f"rollout #{current.id} has {current.phase.value}: it never changes")
        if self.step is not None and not 0 <= self.step <= len(current.spec.steps):
            raise BadInput(
                f"step {self.step} of rollout #{current.id}: it has steps 0 to "
                f"{len(current.spec.steps)} ({len(current.spec.steps)} = 100 %)"
            )
        if self.failed_checks is not None and self.failed_checks < 0:
            raise BadInput(f"failed checks cannot be negative ({self.failed_checks})")
