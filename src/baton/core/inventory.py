"""What is deployed and what it was given: the audit's inventory, whatever its source.

A ``Deployment`` is one served model version and every replica serving it. Its sources
differ (a ``baton serve`` that recorded itself in the store, a Kubernetes Deployment or
KServe InferenceService with its HPA, or a hand-written ``fleet.yaml``) but the audit sees
only this shape. Prometheus tells replicas apart by ``instance``; a deployment's series are
the ones whose ``model`` and ``version`` labels match it, so two deployments of the same
model version cannot be told apart and are refused.

Kubernetes quantities ("500m", "2Gi", "1.5") are parsed here, purely, so every source
reads them the same way.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Source = Literal["baton", "kubernetes", "kserve", "fleet"]

_CPU_HINT = "write cores (2, 0.5) or millicores (500m)"
_CPU = re.compile(r"^(?P<n>\d+(\.\d+)?)(?P<u>m?)$")
_MEMORY = re.compile(r"^(?P<n>\d+(\.\d+)?([eE]\d+)?)(?P<u>Ki|Mi|Gi|Ti|Pi|Ei|k|K|M|G|T|P|E|m)?$")
_MEMORY_UNITS = {
    None: 1.0,
    "m": 1e-3,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "E": 1e18,
    "Ki": 1024.0,
    "Mi": 1024.0**2,
    "Gi": 1024.0**3,
    "Ti": 1024.0**4,
    "Pi": 1024.0**5,
    "Ei": 1024.0**6,
}


def parse_cpu(value: str | float | int) -> float:
    """Cores from a Kubernetes CPU quantity: 2, "1.5", "500m"."""
    if isinstance(value, bool):
        raise ValueError(f"CPU {value!r} is not a quantity: {_CPU_HINT}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"CPU {value!r} is negative")
        return float(value)
    found = _CPU.match(value.strip())
    if not found:
        raise ValueError(f"CPU {value!r} is not a quantity: {_CPU_HINT}")
    cores = float(found["n"])
    return cores / 1000 if found["u"] == "m" else cores


def parse_memory(value: str | float | int) -> float:
    """Bytes from a Kubernetes memory quantity: 536870912, "512Mi", "2Gi", "1G"."""
    if isinstance(value, bool):
        raise ValueError(f"memory {value!r} is not a quantity: write bytes or 512Mi, 2Gi")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"memory {value!r} is negative")
        return float(value)
    found = _MEMORY.match(value.strip())
    if not found:
        raise ValueError(f"memory {value!r} is not a quantity: write bytes or 512Mi, 2Gi")
    return float(found["n"]) * _MEMORY_UNITS[found["u"]]


def hardware_name(text: str) -> str:
    """An accelerator's name (node label, NVML device) as a price-table key: ``Tesla T4``
    -> ``nvidia-t4``."""
    name = text.strip().lower().replace("_", "-").replace(" ", "-")
    for prefix in ("nvidia-", "tesla-"):
        name = name.removeprefix(prefix)
    for family in ("t4", "l4", "a10g", "h100", "v100", "p100", "k80", "l40s"):
        if family in name.split("-"):
            return f"nvidia-{family}"
    if "a100" in name:
        return "nvidia-a100-80gb" if "80gb" in name else "nvidia-a100-40gb"
    return f"nvidia-{name}"


class Resources(BaseModel):
    """What one replica was given: requests (what is paid for) and limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cores: float = Field(ge=0, description="CPU request per replica, in cores")
    memory_bytes: float = Field(ge=0, description="memory request per replica, in bytes")
    cpu_limit: float | None = Field(default=None, ge=0)
    memory_limit_bytes: float | None = Field(default=None, ge=0)
    gpus: int = Field(default=0, ge=0)
    hardware: str = Field(default="cpu", description="price-table key: cpu, nvidia-t4, ...")


SHARED_GPU_NOTE = "each is counted with all of its GPUs"


def split_between(resources: Resources, models: int) -> Resources:
    """One model's part of a server that serves ``models`` of them: the one rule for every
    source (baton's servers, Kubernetes manifests).

    CPU and memory, requests and limits, are split evenly, as the server's measured CPU and
    memory are. GPUs are not: a GPU is one device that every model on the server runs on
    and its use is measured per device, so each model is counted with all of them
    (``SHARED_GPU_NOTE`` says so in the report) rather than with a share rounded to none.
    """
    if models <= 1:
        return resources
    cpu_limit, memory_limit = resources.cpu_limit, resources.memory_limit_bytes
    return resources.model_copy(
        update={
            "cores": resources.cores / models,
            "memory_bytes": resources.memory_bytes / models,
            "cpu_limit": cpu_limit / models if cpu_limit is not None else None,
            "memory_limit_bytes": memory_limit / models if memory_limit is not None else None,
        }
    )


class Serving(BaseModel):
    """How a replica runs the model, where the source says (batch, threads, precision)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_batch_size: int | None = Field(default=None, ge=1)
    threads: int | None = Field(default=None, ge=1)
    precision: Literal["fp32", "int8"] | None = None
    workers: int | None = Field(default=None, ge=1)


class CapacityOption(BaseModel):
    """A measured capacity of one replica on some hardware (a load test at the SLO)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hardware: str = "cpu"
    cores: float = Field(default=1.0, gt=0)
    memory_bytes: float | None = Field(default=None, ge=0)
    gpus: int = Field(default=0, ge=0)
    rps_at_slo: float = Field(gt=0, description="req/s one replica serves within the p99 SLO")


class Deployment(BaseModel):
    """One served model version with all its replicas, as its source describes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="unique in the inventory; shown in reports")
    model: str = Field(min_length=1, description="the `model` label of its metrics")
    version: str = Field(min_length=1, description="the `version` label of its metrics")
    source: Source = "fleet"
    replicas: int = Field(ge=0, description="replicas now (or desired)")
    min_replicas: int | None = Field(default=None, ge=0, description="autoscaler lower bound")
    max_replicas: int | None = Field(default=None, ge=1, description="autoscaler upper bound")
    replicas_mean: float | None = Field(
        default=None,
        ge=0,
        description="replicas paid for on average over the audit window, where the source "
        "knows (baton's servers: each for the time it ran)",
    )
    resources: Resources
    serving: Serving = Serving()
    namespace: str | None = None
    pod_prefix: str | None = Field(
        default=None, description="pods of this deployment start with it (cAdvisor, DCGM)"
    )
    instances: tuple[str, ...] = Field(
        default=(), description="scrape addresses (host:port), where known"
    )
    owner: str | None = None
    slo_p99_ms: float | None = Field(default=None, gt=0, description="overrides the manifest SLO")
    capacity: tuple[CapacityOption, ...] = Field(
        default=(), description="measured per-replica capacity; first = current hardware"
    )
    origin: str = Field(default="", description="where it was read: file and position, or host")

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value

    @model_validator(mode="after")
    def _bounds(self) -> Deployment:
        low, high = self.min_replicas, self.max_replicas
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_replicas {low} is above max_replicas {high}")
        return self

    @property
    def autoscaled(self) -> bool:
        return self.max_replicas is not None and self.max_replicas != (
            self.min_replicas if self.min_replicas is not None else self.replicas
        )

    @property
    def key(self) -> tuple[str, str]:
        """How Prometheus series find it: their (model, version) labels."""
        return (self.model, self.version)


def check_unique(deployments: list[Deployment]) -> None:
    """Refuse two deployments with one name or one (model, version): their data would mix."""
    names: dict[str, Deployment] = {}
    keys: dict[tuple[str, str], Deployment] = {}
    for d in deployments:
        if d.name in names:
            raise ValueError(
                f"two deployments are named {d.name!r} ({names[d.name].origin} and {d.origin}): "
                "rename one"
            )
        if d.key in keys:
            other = keys[d.key]
            raise ValueError(
                f"{other.name!r} ({other.origin}) and {d.name!r} ({d.origin}) both serve "
                f"{d.model} version {d.version}: Prometheus cannot tell their series apart; "
                "list that version once"
            )
        names[d.name] = d
        keys[d.key] = d
