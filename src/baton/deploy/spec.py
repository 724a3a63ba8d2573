"""The one typed input every target renders from, and where its resources come from.

Rendering is a pure function of a ``RenderSpec``: the service (``deploy/service.py``)
gathers it from the registry, the evaluation, an audit file and the flags; each target
(``deploy/k8s.py``, ``kserve.py``, ``compose.py``, ``image.py``, ``ray.py``) turns it
into text. Resources are chosen field by field, first found wins: flags, the audit
result (``--from-audit``), the evaluation's recommended configuration, defaults; each
field keeps its source, and the rendered files say it in a comment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from baton.core.manifest import describe_validation_error
from baton.core.serving_config import ServingConfig
from baton.errors import BadInput

TARGETS = ("image", "compose", "k8s", "kserve", "ray")
Target = Literal["image", "compose", "k8s", "kserve", "ray"]
Origin = Literal["flag", "audit", "evaluation", "default"]
MIB = 1 << 20
PORT = 8080
MODEL_PATH = "/mnt/models"  # KServe's storage-initializer mounts the model here
# the Compose router's state volume: the image makes the folder its user's, which Docker
# copies to the named volume when it first mounts it (a read-only container writes there)
ROUTER_STATE_DIR = "/var/lib/baton/router"
Number = float | int
Layer = Mapping[str, Number | None]
DEFAULTS: dict[str, Number] = {
    "cores": 1.0,
    "memory_bytes": 1024 * MIB,
    "gpus": 0,
    "replicas": 1,
    "min_replicas": 1,
    "max_replicas": 3,
}
FIELDS = tuple(DEFAULTS)
_FLAG = {
    "cores": "--cpu",
    "memory_bytes": "--memory",
    "gpus": "--gpus",
    "replicas": "--replicas",
    "min_replicas": "--min-replicas",
    "max_replicas": "--max-replicas",
}


class Resources(BaseModel):
    """One replica's requests (= limits: a guaranteed pod) and the replica bounds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cores: float = Field(gt=0, le=1024)
    memory_bytes: int = Field(gt=0)
    gpus: int = Field(ge=0, le=16)
    replicas: int = Field(ge=1, le=1000)
    min_replicas: int = Field(ge=1, le=1000)
    max_replicas: int = Field(ge=1, le=1000)
    hardware: str = Field(default="cpu", pattern=r"^[a-z0-9][a-z0-9.-]{0,62}$")
    sources: dict[str, str] = Field(description="per field: flag, audit FILE, evaluation N...")

    @model_validator(mode="after")
    def _consistent(self) -> Resources:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"--min-replicas {self.min_replicas} is above --max-replicas {self.max_replicas}"
            )
        if not self.min_replicas <= self.replicas <= self.max_replicas:
            raise ValueError(
                f"--replicas {self.replicas} must lie within "
                f"{self.min_replicas}..{self.max_replicas}"
            )
        if self.gpus and self.hardware == "cpu":
            raise ValueError(
                f"{self.gpus} GPU(s) on the cpu hardware price: name the GPU with --hardware "
                "(a price-table key such as nvidia-t4), or render with --gpus 0"
            )
        return self

    @property
    def cpu(self) -> str:
        """A Kubernetes CPU quantity: whole cores, else millicores."""
        millis = math.ceil(self.cores * 1000)
        return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"

    @property
    def memory(self) -> str:
        """A Kubernetes memory quantity in Mi (rounded up)."""
        return f"{math.ceil(self.memory_bytes / MIB)}Mi"

    def comment(self) -> str:
        """``resources: cpu 2 (--cpu), memory 1024Mi (default), ...`` for a file header."""
        parts = [
            f"cpu {self.cpu} ({self.sources['cores']})",
            f"memory {self.memory} ({self.sources['memory_bytes']})",
            f"gpus {self.gpus} ({self.sources['gpus']})",
            f"replicas {self.replicas} ({self.sources['replicas']})",
            f"min {self.min_replicas} ({self.sources['min_replicas']})",
            f"max {self.max_replicas} ({self.sources['max_replicas']})",
        ]
        return "resources: " + ", ".join(parts)


class Canary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    percent: int = Field(ge=1, le=99)
    # KServe standard mode: a copy of the stable version beside the canary with the same
    # share of traffic (the canary controller's baseline); the stable keeps 100 - 2 x percent
    baseline: bool = False

    @model_validator(mode="after")
    def _room_for_baseline(self) -> Canary:
        if self.baseline and 2 * self.percent > 100:
            raise ValueError(
                f"a canary at {self.percent} % with a baseline at as much adds up to "
                f"{2 * self.percent} %: give the canary 50 % at most"
            )
        return self


class RenderSpec(BaseModel):
    """Everything a target needs: what to serve, how, on what, and how it is labelled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    version: int = Field(ge=1)
    owner: str
    digest: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the model file")
    evaluation: int | None = None
    config: ServingConfig
    resources: Resources
    slo_p99_ms: float | None = None
    rps_at_slo: float | None = None
    baton_version: str
    revision: str = Field(description="the source commit baton was built from ('' unknown)")
    image: str = Field(description="the image the container targets run")
    namespace: str = "default"
    storage_uri: str
    kserve_mode: Literal["standard", "knative"] = "standard"
    canary: Canary | None = None
    model_from: Literal["image", "volume"] = "image"
    with_monitoring: bool = False
    with_router: bool = False
    precision: Literal["fp32", "int8"] = Field(
        default="fp32", description="fp32: the registered model; int8: the evaluation's copy"
    )
    int8_sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="the int8 copy served (int8 only)"
    )
    grpc_port: int | None = Field(
        default=None, ge=1, le=65535, description="V2 over gRPC on this port too (None: off)"
    )

    @model_validator(mode="after")
    def _int8_copy(self) -> RenderSpec:
        if (self.precision == "int8") != (self.int8_sha256 is not None):
            raise ValueError("an int8 render names its int8 copy, and only an int8 render does")
        if self.grpc_port == PORT:
            raise ValueError(f"--grpc-port {PORT} is the HTTP port: pick another (8081)")
        if self.canary is not None and self.canary.baseline and self.kserve_mode != "standard":
            raise ValueError("a baseline beside the canary needs --kserve-mode standard")
        return self

    @property
    def name(self) -> str:
        """The workload's name: ``digits-v3`` (a DNS label)."""
        return f"{self.model.replace('.', '-').replace('_', '-')}-v{self.version}"[:63]

    @property
    def ref(self) -> str:
        return f"{self.model}:{self.version}"

    @property
    def folder(self) -> str:
        """The model folder's name on a shared volume: the model's digest, ``-int8`` after it
        for a folder that also holds the int8 copy (the two never overwrite each other)."""
        return model_folder(self.digest, self.precision)


def model_folder(digest: str, precision: str) -> str:
    return f"{digest}-int8" if precision == "int8" else digest


def choose_resources(
    flags: Layer,
    audit: tuple[str, Mapping[str, object]] | None,
    evaluation: tuple[int, ServingConfig] | None,
    hardware: str | None,
) -> Resources:
    """Each field from the first source that has it: flags, audit target, evaluation, default.

    ``audit`` is (file name, the row's ``target``); ``evaluation`` is (id, recommended).
    """
    layers: list[tuple[str, Layer]] = [
        ("flag", {k: v for k, v in flags.items() if v is not None}),
    ]
    if audit is not None:
        layers.append((f"audit {audit[0]}", _from_audit(audit[1])))
    if evaluation is not None:
        layers.append((f"evaluation {evaluation[0]}", _from_evaluation(evaluation[1])))
    layers.append(("default", DEFAULTS))
    values: dict[str, Number] = {}
    sources: dict[str, str] = {}
    for field in FIELDS:
        for name, layer in layers:
            value = layer.get(field)
            if value is not None:
                values[field] = value
                sources[field] = _FLAG[field] if name == "flag" else name
                break
    _widen_bounds(values, sources)
    hw = hardware or (str(audit[1].get("hardware") or "") if audit else None) or "cpu"
    try:
        return Resources.model_validate({**values, "hardware": hw, "sources": sources})
    except ValidationError as exc:
        raise BadInput(describe_validation_error(exc)) from None


def _widen_bounds(values: dict[str, Number], sources: dict[str, str]) -> None:
    """Replicas from one source and bounds from defaults must agree: a default bound moves."""
    if sources["min_replicas"] == "default" and values["replicas"] < values["min_replicas"]:
        values["min_replicas"] = values["replicas"]
    if sources["max_replicas"] == "default" and values["replicas"] > values["max_replicas"]:
        values["max_replicas"] = values["replicas"]


def _number(target: Mapping[str, object], key: str) -> Number | None:
    """The audit target's ``key``: a JSON number (never a boolean), or None when absent."""
    value = target.get(key)
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    raise BadInput(f"--from-audit: the target's {key} is {value!r}, not a number")


def _from_audit(target: Mapping[str, object]) -> dict[str, Number | None]:
    out = {
        key: _number(target, key)
        for key in ("cores", "gpus", "replicas", "min_replicas", "max_replicas")
    }
    memory = _number(target, "memory_bytes")
    out["memory_bytes"] = math.ceil(memory) if memory else None
    if out["replicas"] == 0:  # "scale to zero" is not a rendering: keep one running
        out["replicas"] = None
    return out


def _from_evaluation(config: ServingConfig) -> dict[str, Number | None]:
    """The profile's replica: its cores and GPUs, and its measured memory with 50% headroom."""
    memory = None
    if config.memory_bytes:
        memory = math.ceil(config.memory_bytes * 1.5 / (64 * MIB)) * 64 * MIB
    return {"cores": float(config.cores), "gpus": config.gpus, "memory_bytes": memory}
