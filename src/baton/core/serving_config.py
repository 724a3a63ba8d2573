"""The serving configuration: how one replica runs a model, and what it was measured to do.

The evaluation's profile picks one (the cheapest that meets the SLO) and stores it with the
evaluation record; the server starts from it, and the right-size audit reads its capacity.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ServingConfig(BaseModel):
    """Runtime settings of one replica, plus the figures the profile measured for them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str = Field(default="CPUExecutionProvider", description="ONNX Runtime provider")
    intra_op_threads: int = Field(default=1, ge=1, le=256)
    inter_op_threads: int = Field(default=1, ge=1, le=256)
    graph_optimization: Literal["disable", "basic", "extended", "all"] = "all"
    precision: Literal["fp32", "int8"] = "fp32"
    model_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{64}$",
        description="artifact to serve when it is not the version's own model (int8)",
    )
    max_batch_size: int = Field(default=32, ge=1, le=65536)
    max_queue_delay_ms: float = Field(default=2.0, ge=0, le=10_000)
    cores: int = Field(default=1, ge=1, description="CPU cores one replica needs")
    gpus: int = Field(default=0, ge=0, description="GPUs one replica needs")
    # measured by the profile at this configuration (None: not measured)
    throughput_rps: float | None = Field(default=None, ge=0, description="single-row req/s at SLO")
    p50_latency_ms: float | None = Field(default=None, ge=0)
    p99_latency_ms: float | None = Field(default=None, ge=0)
    memory_bytes: int | None = Field(default=None, ge=0, description="resident memory of a replica")

    @property
    def throughput_per_core(self) -> float | None:
        if self.throughput_rps is None:
            return None
        return self.throughput_rps / self.cores
