"""The hand-over manifest (``baton.yaml``): what research hands the serving team.

Parsing is pure: the loader at the edge reads the file and hands the mapping here.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from baton.core.refs import NAME_PATTERN
from baton.core.signature import Signature
from baton.errors import BadInput

MANIFEST_FILE = "baton.yaml"
_SUFFIXES = (".npz", ".csv", ".parquet", ".jsonl")


class Task(StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"
    EMBEDDING = "embedding"
    GENERIC = "generic"


def _to_str(value: Any) -> Any:
    # YAML reads `version: 1.0` as a float and `git_commit: 1234567` as an int.
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)
    return value


class EvalSpec(BaseModel):
    """Held-out data and the metrics research claims on it."""

    # A NaN or infinite claim or tolerance can never be checked: refuse it at hand-over.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    data: str = Field(
        min_length=1, description="file next to the manifest (.npz/.csv/.parquet/.jsonl)"
    )
    target: str = Field(default="label", min_length=1, description="key or column with the truth")
    claimed: dict[str, float] = Field(
        default_factory=dict, description="metric -> value research measured"
    )
    tolerance: float = Field(default=0.01, ge=0, le=1, description="allowed absolute difference")

    @field_validator("data")
    @classmethod
    def _known_suffix(cls, data: str) -> str:
        if not data.lower().endswith(_SUFFIXES):
            raise ValueError(f"eval data must be one of {', '.join(_SUFFIXES)} (got {data!r})")
        return data


class SLO(BaseModel):
    """Service level objective for single-row requests, as served."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    p99_latency_ms: float | None = Field(default=None, gt=0)
    min_throughput_rps: float | None = Field(default=None, gt=0)
    max_error_rate: float | None = Field(default=None, ge=0, le=1)


class Manifest(BaseModel):
    """``baton.yaml``: identity, owner, signature, claimed quality, SLO and lineage."""

    model_config = ConfigDict(extra="forbid", title="baton hand-over manifest")

    name: str = Field(pattern=f"^{NAME_PATTERN}$", description="model name, stable across versions")
    version: str | None = Field(default=None, max_length=64, description="research's own label")
    owner: str = Field(
        pattern=f"^{NAME_PATTERN}$", description="team accountable for model quality"
    )
    task: Task = Task.GENERIC
    model: str = Field(
        min_length=1, description="model file next to the manifest (.onnx, .pt, .pt2)"
    )
    signature: Signature
    labels: list[str] | None = Field(default=None, description="class names, in output order")
    eval: EvalSpec | None = None
    slo: SLO | None = None
    lineage: dict[str, str] = Field(default_factory=dict)
    contacts: dict[str, str] = Field(default_factory=dict)
    description: str | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version_str(cls, value: Any) -> Any:
        return _to_str(value)

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_str(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [_to_str(v) for v in value]
        return value

    @field_validator("lineage", "contacts", mode="before")
    @classmethod
    def _values_str(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _to_str(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _labels_fit(self) -> Manifest:
        if self.labels is not None:
            if len(set(self.labels)) != len(self.labels):
                raise ValueError("labels repeat a name: each class needs its own label")
            if self.task is not Task.CLASSIFICATION:
                raise ValueError("labels are only for task: classification")
            last = self.signature.outputs[0].shape[-1:] or (-1,)
            if last[0] != -1 and last[0] != len(self.labels):
                raise ValueError(
                    f"{len(self.labels)} labels but output {self.signature.outputs[0].name!r} "
                    f"has {last[0]} classes"
                )
        return self

    @model_serializer(mode="wrap")
    def _as_stored(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Unset optional fields are left out, as the registry stores the manifest, so a
        version's manifest reads the same in the CLI's JSON, the API and the database."""
        return _without_none(handler(self))

    def to_json_dict(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(self.model_dump_json())
        return data


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def parse_manifest(data: Any, source: str = MANIFEST_FILE) -> Manifest:
    """Validate a mapping read from ``baton.yaml``; errors name the field and what it expects."""
    if not isinstance(data, dict):
        raise BadInput(
            f"{source}: expected a mapping of fields (name, owner, model, ...), "
            f"got {type(data).__name__}"
        )
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise BadInput(f"{source}: {describe_validation_error(exc)}") from None


def describe_validation_error(exc: ValidationError, limit: int = 3) -> str:
    """Pydantic's errors as one line: ``field.path: what is expected (got X)``."""
    parts = []
    errors = exc.errors(include_url=False)
    for err in errors[:limit]:
        loc = ".".join(_key(p) for p in err["loc"]) or "(top level)"
        msg = str(err["msg"])
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check its spelling; `baton schema manifest` lists the fields)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        got = err.get("input")
        if err["type"] not in ("missing", "extra_forbidden", "value_error") and not isinstance(
            got, dict | list
        ):
            msg += f" (got {_short(repr(got))})"
        parts.append(f"{_short(loc)}: {msg}")
    more = len(errors) - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def _key(part: str | int) -> str:
    """A field path part as text: a user's own key that would break the line is quoted."""
    return part if isinstance(part, str) and part.isprintable() else repr(part)


def _short(text: str, width: int = 80) -> str:
    """A value or field path as the user wrote it, cut to fit one line of an error."""
    return text if len(text) <= width else f"{text[: width - 3]}..."


def manifest_json_schema() -> dict[str, object]:
    """The published JSON Schema of ``baton.yaml``."""
    schema = Manifest.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
