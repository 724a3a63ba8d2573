"""The team's gate policy: the thresholds that turn measured numbers into verdicts.

Every field has a default a serving team can live with, so a team file (``policy.yaml``,
read at the edge) only names what it wants different. Per-model numbers (claimed metrics,
tolerance, SLO) come from the manifest; the policy holds what is the same for every model.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
    "top_3_accuracy": True,
    "top_5_accuracy": True,
    "top_10_accuracy": True,
    "mean_cosine": True,
    "recall_at_1": True,
    "recall_at_5": True,
    "recall_at_10": True,
    "mrr": True,
    "max_abs_diff": False,
    "mean_abs_diff": False,
}

# Names that stored reports, claims and team files used before: they mean the metric named.
ALIASES: dict[str, str] = {"recall_at_k": "recall_at_5", "top_1_accuracy": "accuracy"}


def canonical(name: str) -> str:
    """A metric's current name (``recall_at_k`` is ``recall_at_5``)."""
    return ALIASES.get(name, name)


DEFAULT_GATED: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "macro_f1"),
    "regression": ("mae", "rmse", "r2"),
    "embedding": ("recall_at_5", "mean_cosine"),
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
    higher_is_better: dict[str, bool] = Field(
        default_factory=dict,
        description="direction of a team's own metric (a baton.metrics entry point) that "
        "does not declare one",
    )

    @field_validator("metrics")
    @classmethod
    def _current_names(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        return {task: tuple(canonical(n) for n in names) for task, names in value.items()}


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


def parse_policy(data: Any, source: str = "policy.yaml", extra: Collection[str] = ()) -> Policy:
    """Validate a mapping read from a policy file; errors name the field and the fix.

    ``extra``: the names of metrics installed packages add (entry points), also known."""
    if data is None:
        return Policy()
    if not isinstance(data, dict):
        raise BadInput(f"{source}: expected a mapping (regression, sanity, performance)")
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        raise BadInput(f"{source}: {describe_validation_error(exc)}") from None
    known = [*HIGHER_IS_BETTER, *extra]
    for task, names in policy.regression.metrics.items():
        unknown = [n for n in names if n not in known]
        if unknown:
            raise BadInput(
                f"{source}: regression.metrics.{task} names unknown metric(s) "
                f"{', '.join(unknown)}; known: {', '.join(known)} (see `baton metrics`)"
            )
    built_in = sorted(n for n in policy.regression.higher_is_better if n in HIGHER_IS_BETTER)
    if built_in:
        raise BadInput(
            f"{source}: regression.higher_is_better names built-in metric(s) "
            f"{', '.join(built_in)}, whose direction is fixed: name only a package's metric"
        )
    return policy
