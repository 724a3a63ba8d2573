"""The stored evaluation result: the report of one gate run, as typed sections.

The store validates a report once when it reads it and hands out these models, so the
server, the audit and the CLI read fields, not string keys. Every field is optional and
unknown keys are kept: a row written by an older baton (fewer sections, fewer fields)
still loads, and dumping a report gives back exactly the keys it was read with.

``schema`` versions the document: a row from a newer baton (a higher number) is refused
with a clear line instead of being half-read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SerializerFunctionWrapHandler,
    field_serializer,
    model_serializer,
)

from baton.core.manifest import SLO
from baton.core.serving_config import ServingConfig

if TYPE_CHECKING:  # core.drift needs numpy: reading a record (`baton models`) does not
    from baton.core.drift import Reference

REPORT_SCHEMA = 1  # every shape written so far reads as 1: later sections are optional
Metrics = dict[str, JsonValue]  # scalars, and per-class tables / matrices for the charts


class Section(BaseModel):
    """A part of the stored report: read as written, dumped back with the same keys."""

    model_config = ConfigDict(
        extra="allow",
        frozen=True,
        validate_by_name=True,
        serialize_by_alias=True,
        defer_build=True,
    )

    @model_serializer(mode="wrap")
    def _as_stored(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        """Only the keys the document had (or the writer set), so JSON output is unchanged."""
        dumped: dict[str, object] = handler(self)
        kept = {
            (info.serialization_alias or info.alias or name)
            for name, info in type(self).model_fields.items()
            if name in self.model_fields_set
        }
        kept |= set(self.model_extra or {})
        return {k: v for k, v in dumped.items() if k in kept}


class Check(Section):
    """One check's verdict (or the overall one), with the reasons a report shows."""

    passed: bool = False
    status: str = "failed"
    reasons: list[str] = Field(default_factory=list)


class DataFile(Section):
    """The eval data the gate ran over."""

    file: str | None = None
    format: str | None = None
    rows: int | None = None
    sha256: str | None = None


class ProfileRow(Section):
    """One measured operating point of the profile (one configuration at one load)."""

    provider: str | None = None
    threads: int | None = None
    graph_optimization: str | None = None
    precision: str | None = None
    batch_size: int | None = None
    concurrency: int | None = None
    cores: int | None = None
    gpus: int | None = None
    calls: int | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    throughput_rps: float | None = None
    served_p50_ms: float | None = None
    served_p99_ms: float | None = None
    key: str | None = None  # configuration and load
    config: str | None = None  # configuration only: the rows of one curve share it


class ProfileSummary(Section):
    """The profile: every point measured, and which one was recommended."""

    mode: str | None = None
    budget_s: float | None = None
    seconds_per_point: float | None = None
    elapsed_s: float | None = None
    points: list[ProfileRow] = Field(default_factory=list)
    load_seconds: dict[str, float] = Field(default_factory=dict)  # precision -> s
    size_bytes: dict[str, int] = Field(default_factory=dict)  # precision -> bytes
    memory_bytes: dict[str, int] = Field(default_factory=dict)  # config -> RSS growth
    recommended_point: str | None = None
    closest_point: str | None = None
    notes: list[str] = Field(default_factory=list)
    basis: str | None = None

    def recommended_row(self) -> ProfileRow | None:
        if self.recommended_point is None:
            return None
        return next((p for p in self.points if p.key == self.recommended_point), None)


class Int8Tradeoff(Section):
    """What int8 costs in the task's primary metric, and whether the policy accepts it."""

    metric: str | None = None
    fp32: float | None = None
    int8: float | None = None
    drop: float | None = None
    ok: bool = False
    reason: str = ""


class FeatureBins(Section):
    name: str
    edges: list[float]
    shares: list[float]


class ReferenceBins(Section):
    """One side (inputs or outputs) of the drift reference, as stored."""

    rows: int
    features: list[FeatureBins]

    @classmethod
    def of(cls, reference: Reference) -> ReferenceBins:
        features = [
            FeatureBins(name=f.name, edges=list(f.edges), shares=list(f.shares))
            for f in reference.features
        ]
        return cls(rows=reference.rows, features=features)

    def reference(self) -> Reference:
        from baton.core.drift import FeatureReference, Reference

        return Reference(
            tuple(FeatureReference(f.name, tuple(f.edges), tuple(f.shares)) for f in self.features),
            self.rows,
        )


class DriftReferences(Section):
    """How the eval data's inputs and the model's outputs on it are distributed."""

    inputs: ReferenceBins | None = None
    outputs: ReferenceBins | None = None


class EvaluationReport(Section):
    """The whole report of one gate run, as the store keeps it."""

    schema_version: int | None = Field(default=None, alias="schema")
    model: str | None = None
    version: int | None = None
    label: str | None = None
    owner: str | None = None
    task: str | None = None
    mode: str | None = None
    against: int | None = None
    data: DataFile | None = None
    error: str | None = None
    verdict: Check | None = None
    checks: dict[str, Check] = Field(default_factory=dict)
    metrics: Metrics | None = None
    baseline_metrics: Metrics | None = None
    directions: dict[str, bool | None] = Field(default_factory=dict)
    claimed: dict[str, float] | None = None
    tolerance: float | None = None
    slo: SLO | None = None
    regression: dict[str, JsonValue] | None = None  # the baseline comparison (charts)
    sanity: dict[str, JsonValue] | None = None
    int8: Int8Tradeoff | None = None
    profile: ProfileSummary | None = None
    recommended: ServingConfig | None = None
    run_seconds: dict[str, float] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    drift_reference: DriftReferences | None = None

    @field_serializer("slo")
    def _slo_as_stored(self, slo: SLO | None) -> dict[str, float] | None:
        """The SLO keeps only the objectives the manifest set, as it was stored."""
        return None if slo is None else slo.model_dump(exclude_none=True)

    @field_serializer("recommended")
    def _config_as_stored(self, config: ServingConfig | None) -> dict[str, JsonValue] | None:
        """The recommendation with the fields the report was written with."""
        return None if config is None else config.model_dump(mode="json", exclude_unset=True)

    def failed_checks(self) -> list[str]:
        return [name for name, check in self.checks.items() if not check.passed]

    def per_class_recall(self, baseline: bool = False) -> dict[str, float]:
        """Recall of each class (classifiers) of this version or its baseline, or nothing."""
        found = ((self.baseline_metrics if baseline else self.metrics) or {}).get(
            "per_class_recall"
        )
        if not isinstance(found, dict):
            return {}
        return {str(k): float(v) for k, v in found.items() if isinstance(v, int | float)}

    def confusion_matrix(self) -> tuple[list[list[int]], list[str] | None] | None:
        """The confusion matrix (rows: truth) and the class labels, when it was kept."""
        metrics = self.metrics or {}
        matrix, labels = metrics.get("confusion_matrix"), metrics.get("labels")
        if not isinstance(matrix, list) or not matrix:
            return None
        rows = [
            [int(c) for c in row if isinstance(c, int | float)]
            for row in matrix
            if isinstance(row, list)
        ]
        names = [str(label) for label in labels] if isinstance(labels, list) else None
        return rows, names

    def drift_references(self) -> tuple[Reference | None, Reference | None]:
        """The input and output references the evaluation stored, if any."""
        stored = self.drift_reference
        if stored is None:
            return None, None
        return (
            stored.inputs.reference() if stored.inputs else None,
            stored.outputs.reference() if stored.outputs else None,
        )

    def to_json(self) -> dict[str, JsonValue]:
        """The report as stored: exactly the keys it was read or built with."""
        dumped: dict[str, JsonValue] = self.model_dump(mode="json")
        return dumped
