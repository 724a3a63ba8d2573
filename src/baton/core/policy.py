"""The team's gate policy: the thresholds that turn measured numbers into verdicts.

Every field has a default a serving team can live with, so a team file (``policy.yaml``,
read at the edge) only names what it wants different. Per-model numbers (claimed metrics,
tolerance, SLO) come from the manifest; the policy holds what is the same for every model.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from baton.core.manifest import SLO, describe_validation_error
from baton.errors import BadInput

HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "macro_f1": True,
    "log_loss": False,
    "ece": False,
    "mae": False,
    "rmse": False,
    "r2": True,
    "mean_cosine": True,
    "recall_at_k": True,
    "max_abs_diff": False,
    "mean_abs_diff": False,
}

DEFAULT_GATED: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "macro_f1"),
    "regression": ("mae", "rmse", "r2"),
    "embedding": ("recall_at_k", "mean_cosine"),
    "generic": ("mean_abs_diff",),
}


class RegressionPolicy(BaseModel):
    """When a candidate is worse than the version it would replace."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metrics: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: dict(DEFAULT_GATED),
        description="task -> metrics compared with the baseline (others are only reported)",
    )
    max_drop: float = Field(
        default=0.005,
        ge=0,
        description="a drop smaller than this is never a regression, however certain",
    )
    confidence: float = Field(
        default=0.95, gt=0.5, lt=1, description="level of the bootstrap confidence intervals"
    )
    bootstrap: int = Field(default=1000, ge=50, le=100_000, description="bootstrap resamples")
    min_agreement: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="fail when fewer predictions agree with the baseline (None: report only)",
    )
    examples: int = Field(default=10, ge=0, le=1000, description="disagreements in the report")


class SanityPolicy(BaseModel):
    """What outputs a healthy model never produces."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_nonfinite: int = Field(default=0, ge=0, description="NaN/Inf output values allowed")
    probability_tolerance: float = Field(
        default=1e-3, gt=0, le=1, description="|sum of class probabilities - 1| allowed"
    )
    range_margin: float = Field(
        default=0.1, ge=0, description="slack around the reference range, as a share of its span"
    )
    max_out_of_range: float = Field(
        default=0.01, ge=0, le=1, description="share of outputs allowed outside that range"
    )


class PerformancePolicy(BaseModel):
    """How the profile is judged and which configurations it may recommend."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue_delay_ms: float = Field(
        default=0.0,
        ge=0,
        le=10_000,
        description="how long the server may hold a request to fill a batch (baton's holds none)",
    )
    max_cores: int | None = Field(
        default=None, ge=1, description="largest replica to recommend (None: this machine's)"
    )
    precisions: tuple[Literal["fp32", "int8"], ...] = Field(
        default=("fp32", "int8"),
        min_length=1,
        description="precisions the profile may recommend (the modes choose among these)",
    )
    int8_max_drop: float = Field(
        default=0.005, ge=0, le=1, description="int8 may cost at most this much primary metric"
    )


class Policy(BaseModel):
    """A team's gate thresholds; ``Policy()`` is the built-in default."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="baton gate policy")

    regression: RegressionPolicy = Field(default_factory=RegressionPolicy)
    sanity: SanityPolicy = Field(default_factory=SanityPolicy)
    performance: PerformancePolicy = Field(default_factory=PerformancePolicy)
    require_slo: bool = Field(
        default=False, description="fail a model whose manifest states no SLO"
    )
    default_slo: SLO = Field(
        default_factory=lambda: SLO(p99_latency_ms=100, max_error_rate=0.001),
        description="what monitoring holds a model without an slo in baton.yaml to",
    )

    def gated_metrics(self, task: str) -> tuple[str, ...]:
        return self.regression.metrics.get(task, DEFAULT_GATED.get(task, ()))


def parse_policy(data: Any, source: str = "policy.yaml") -> Policy:
    """Validate a mapping read from a policy file; errors name the field and the fix."""
    if data is None:
        return Policy()
    if not isinstance(data, dict):
        raise BadInput(f"{source}: expected a mapping (regression, sanity, performance)")
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        raise BadInput(f"{source}: {describe_validation_error(exc)}") from None
    for task, names in policy.regression.metrics.items():
        unknown = [n for n in names if n not in HIGHER_IS_BETTER]
        if unknown:
            raise BadInput(
                f"{source}: regression.metrics.{task} names unknown metric(s) "
                f"{', '.join(unknown)}; known: {', '.join(HIGHER_IS_BETTER)}"
            )
    return policy
