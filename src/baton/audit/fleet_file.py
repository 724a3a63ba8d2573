"""``fleet.yaml``: the inventory of servers baton did not start and no manifest describes.

A hand-written list of deployments in human units (``cores: 500m``, ``memory: 2Gi``), with
autoscaling bounds and measured capacity where a team has it. Each entry becomes a
``core.inventory.Deployment``; a mistake is one line naming the file, the entry (index and
name) and the field. ``baton schema fleet`` prints the JSON Schema for editors and CI.

Shape (examples/fleet/fleet.yaml is a documented example)::

    deployments:
      - name: digits-prod            # unique; shown in reports
        model: digits-classifier     # the `model` label of its metrics
        version: 3                   # the `version` label
        replicas: 4                  # or omit it and give autoscaling (replicas = min)
        autoscaling: {min: 2, max: 8}
        resources: {cores: 2, memory: 2Gi, cpu_limit: 4, memory_limit: 4Gi}
        serving: {max_batch_size: 32, threads: 2, precision: fp32, workers: 2}
        instances: ["10.0.3.7:8000"] # scrape addresses (host:port), where known
        capacity: [{cores: 2, rps_at_slo: 850}]
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from baton.core.inventory import (
    CapacityOption,
    Deployment,
    Resources,
    Serving,
    parse_cpu,
    parse_memory,
)
from baton.errors import BadInput
from baton.yaml_files import read_yaml

Cores = str | float
Quantity = str | float
_SCHEMA_HINT = "`baton schema fleet` lists the fields"


def _finite(value: float, text: object) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite quantity")
    return value


def _cores(value: object) -> float | None:
    return None if value is None else _finite(parse_cpu(value), value)  # type: ignore[arg-type]


def _bytes(value: object) -> float | None:
    return None if value is None else _finite(parse_memory(value), value)  # type: ignore[arg-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FleetResources(_Strict):
    """Per replica: what it requests (is paid for), its limits, GPUs and hardware type."""

    cores: Cores = Field(description="CPU request: cores (2, 0.5) or millicores (500m)")
    memory: Quantity = Field(description="memory request: bytes, or 512Mi, 2Gi, 1G")
    cpu_limit: Cores | None = None
    memory_limit: Quantity | None = None
    gpus: int = Field(default=0, ge=0)
    hardware: str = Field(default="cpu", min_length=1, description="price-table key")

    @field_validator("cores", "cpu_limit", mode="after")
    @classmethod
    def _check_cores(cls, value: Cores | None) -> Cores | None:
        _cores(value)
        return value

    @field_validator("memory", "memory_limit", mode="after")
    @classmethod
    def _check_memory(cls, value: Quantity | None) -> Quantity | None:
        _bytes(value)
        return value

    def to_resources(self) -> Resources:
        return Resources(
            cores=parse_cpu(self.cores),
            memory_bytes=parse_memory(self.memory),
            cpu_limit=_cores(self.cpu_limit),
            memory_limit_bytes=_bytes(self.memory_limit),
            gpus=self.gpus,
            hardware=self.hardware,
        )


class FleetAutoscaling(_Strict):
    min: int = Field(ge=0, description="fewest replicas the autoscaler keeps")
    max: int = Field(ge=1, description="most replicas the autoscaler may start")

    @model_validator(mode="after")
    def _ordered(self) -> FleetAutoscaling:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class FleetCapacity(_Strict):
    """A measured capacity of one replica (a load test within the SLO)."""

    hardware: str = "cpu"
    cores: Cores = 1.0
    memory: Quantity | None = None
    gpus: int = Field(default=0, ge=0)
    rps_at_slo: float = Field(gt=0, description="req/s one replica serves within the p99 SLO")

    @field_validator("cores", mode="after")
    @classmethod
    def _check_cores(cls, value: Cores) -> Cores:
        if not _cores(value):
            raise ValueError("cores must be above 0")
        return value

    @field_validator("memory", mode="after")
    @classmethod
    def _check_memory(cls, value: Quantity | None) -> Quantity | None:
        _bytes(value)
        return value

    def to_option(self) -> CapacityOption:
        return CapacityOption(
            hardware=self.hardware,
            cores=parse_cpu(self.cores),
            memory_bytes=_bytes(self.memory),
            gpus=self.gpus,
            rps_at_slo=self.rps_at_slo,
        )


class FleetEntry(_Strict):
    """One served model version and all its replicas."""

    name: str = Field(min_length=1, description="unique in the inventory; shown in reports")
    model: str = Field(min_length=1, description="the `model` label of its metrics")
    version: str | int = Field(description="the `version` label of its metrics")
    replicas: int | None = Field(default=None, ge=0, description="default: autoscaling.min")
    autoscaling: FleetAutoscaling | None = None
    resources: FleetResources
    serving: Serving = Serving()
    namespace: str | None = None
    pod_prefix: str | None = Field(default=None, description="its pods' name prefix")
    instances: list[str] = Field(default_factory=list, description="host:port scrape addresses")
    owner: str | None = None
    slo_p99_ms: float | None = Field(default=None, gt=0)
    capacity: list[FleetCapacity] = Field(
        default_factory=list, description="measured per-replica capacity; first = current"
    )

    @model_validator(mode="after")
    def _replicas(self) -> FleetEntry:
        if self.replicas is None and self.autoscaling is None:
            raise ValueError("give replicas, or autoscaling: {min: ..., max: ...}")
        return self

    def to_deployment(self, origin: str) -> Deployment:
        bounds = self.autoscaling
        replicas = self.replicas if self.replicas is not None else bounds.min  # type: ignore[union-attr]
        return Deployment(
            name=self.name,
            model=self.model,
            version=str(self.version),
            source="fleet",
            replicas=replicas,
            min_replicas=bounds.min if bounds else None,
            max_replicas=bounds.max if bounds else None,
            resources=self.resources.to_resources(),
            serving=self.serving,
            namespace=self.namespace,
            pod_prefix=self.pod_prefix,
            instances=tuple(self.instances),
            owner=self.owner,
            slo_p99_ms=self.slo_p99_ms,
            capacity=tuple(c.to_option() for c in self.capacity),
            origin=origin,
        )


class FleetFile(_Strict):
    """``fleet.yaml``: the deployments baton did not start and no manifest describes."""

    deployments: list[FleetEntry] = Field(min_length=1)


def fleet_json_schema() -> dict[str, object]:
    """The published JSON Schema of ``fleet.yaml``."""
    schema = FleetFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "baton fleet.yaml"
    return schema


def _first_error(exc: ValidationError) -> str:
    """Pydantic's first error as ``.field.path: what is wrong`` (one line, to follow the entry)."""
    errors = exc.errors(include_url=False)
    err = errors[0]
    loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
    kind = err["type"]
    if kind == "extra_forbidden":
        msg = f"unknown field (check its spelling; {_SCHEMA_HINT})"
    elif kind == "missing":
        msg = "required field is missing"
    else:
        msg = str(err["msg"]).removeprefix("Value error, ")
        msg = msg.removeprefix("memory ").removeprefix("CPU ")  # the field says which
        got = err.get("input")
        if kind != "value_error" and not isinstance(got, dict | list):
            msg += f" (got {got!r})"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f".{loc}: {msg}{more}" if loc else f": {msg}{more}"


def parse_fleet(data: Any, source: str = "fleet.yaml") -> list[Deployment]:
    """Validate a mapping read from a fleet file; errors name the file, entry and field."""
    if not isinstance(data, dict) or "deployments" not in data:
        raise BadInput(f"{source}: expected a mapping with a `deployments:` list ({_SCHEMA_HINT})")
    unknown = sorted(set(data) - {"deployments"})
    if unknown:
        raise BadInput(f"{source}: {unknown[0]}: unknown field ({_SCHEMA_HINT})")
    entries = data["deployments"]
    if not isinstance(entries, list) or not entries:
        raise BadInput(f"{source}: deployments: expected a non-empty list of deployments")
    found = []
    for i, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and not name.isprintable():
            name = repr(name)  # a newline in the name must not break the one-line message
        where = f"{source}: deployments[{i}]" + (f" ({name})" if isinstance(name, str) else "")
        if not isinstance(entry, dict):
            raise BadInput(f"{where}: expected a mapping, got {type(entry).__name__}")
        try:
            found.append(
                FleetEntry.model_validate(entry).to_deployment(f"{source}: deployments[{i}]")
            )
        except ValidationError as exc:
            raise BadInput(f"{where}{_first_error(exc)}") from None
    return found


def read_fleet(path: Path) -> list[Deployment]:
    """The deployments in a ``fleet.yaml``."""
    data = read_yaml(path, "fleet file", "--fleet")
    return parse_fleet(data, str(path))


def fleet_entry(d: Deployment) -> dict[str, object]:
    """The ``fleet.yaml`` entry that reads back as ``d`` (for inventories baton writes)."""
    res = d.resources
    resources: dict[str, object] = {"cores": res.cores, "memory": int(res.memory_bytes)}
    if res.cpu_limit is not None:
        resources["cpu_limit"] = res.cpu_limit
    if res.memory_limit_bytes is not None:
        resources["memory_limit"] = int(res.memory_limit_bytes)
    if res.gpus:
        resources["gpus"] = res.gpus
    if res.hardware != "cpu":
        resources["hardware"] = res.hardware
    entry: dict[str, object] = {"name": d.name, "model": d.model, "version": d.version}
    if d.max_replicas is not None:
        low = d.min_replicas if d.min_replicas is not None else d.replicas
        entry["autoscaling"] = {"min": low, "max": d.max_replicas}
        if d.replicas != low:
            entry["replicas"] = d.replicas
    else:
        entry["replicas"] = d.replicas
    entry["resources"] = resources
    serving = d.serving.model_dump(exclude_none=True)
    optional = {
        "serving": serving or None,
        "namespace": d.namespace,
        "pod_prefix": d.pod_prefix,
        "instances": list(d.instances) or None,
        "owner": d.owner,
        "slo_p99_ms": d.slo_p99_ms,
    }
    entry.update({k: v for k, v in optional.items() if v is not None})
    if d.capacity:
        entry["capacity"] = [
            {
                "hardware": o.hardware,
                "cores": o.cores,
                **({"memory": int(o.memory_bytes)} if o.memory_bytes is not None else {}),
                **({"gpus": o.gpus} if o.gpus else {}),
                "rps_at_slo": o.rps_at_slo,
            }
            for o in d.capacity
        ]
    return entry
