"""The price table: what a core, a GiB of memory and a GPU cost per hour, by hardware type.

``prices.yaml`` turns allocations and recommendations into money. Its shape::

    currency: USD
    example: false              # true only for illustrative figures; reports label them
    cpu: {core_hour: 0.0316, gib_hour: 0.0042}     # every replica's cores and memory
    hardware:                                       # per hardware type (Resources.hardware)
      nvidia-t4: {gpu_hour: 0.35}                   # per GPU, on top of cores and memory
      nvidia-a100-40gb: {gpu_hour: 2.93, core_hour: 0.0332, gib_hour: 0.0045}

A hardware entry may set its own ``core_hour`` / ``gib_hour`` (GPU machines often price
their CPUs differently); otherwise the ``cpu`` prices apply. Without a file the built-in
table is used, and it says ``example: true`` so every money figure derived from it is
labelled "example prices": they are rough public on-demand list prices, not a quote.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from baton.core.manifest import describe_validation_error
from baton.core.pricing import HardwareRate, Prices
from baton.errors import BadInput
from baton.yaml_files import read_yaml

BUILT_IN = "built-in example prices"
_MANIFEST_HINT = "; `baton schema manifest` lists the fields"


class CpuPrice(BaseModel):
    """Price of one core and one GiB of memory for an hour."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    core_hour: float = Field(ge=0, allow_inf_nan=False)
    gib_hour: float = Field(ge=0, allow_inf_nan=False)


class HardwarePrice(BaseModel):
    """One hardware type: its GPU price, and its own CPU prices where they differ."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gpu_hour: float = Field(default=0.0, ge=0, allow_inf_nan=False, description="per GPU")
    core_hour: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    gib_hour: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class PriceTable(BaseModel):
    """``prices.yaml`` validated: the money side of the audit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str = Field(default="USD", min_length=1, max_length=8)
    example: bool = Field(default=False, description="illustrative figures, not real prices")
    cpu: CpuPrice
    hardware: dict[str, HardwarePrice] = Field(default_factory=dict)
    source: str = Field(default="", exclude=True, description="the file it was read from")

    def knows(self, hardware: str) -> bool:
        """Whether a deployment on ``hardware`` can be priced (plain CPU always can)."""
        return hardware == "cpu" or hardware in self.hardware

    def unknown(self, hardware: Iterable[str]) -> list[str]:
        """The hardware types this table cannot price, sorted, each once."""
        return sorted({h for h in hardware if not self.knows(h)})

    def hourly(self, cores: float, memory_bytes: float, gpus: int, hardware: str) -> float:
        """One replica for one hour."""
        return self.to_sizing().hourly(cores, memory_bytes, gpus, hardware)

    def monthly(
        self, replicas: float, cores: float, memory_bytes: float, gpus: int, hardware: str
    ) -> float:
        """``replicas`` replicas for a month of ``HOURS_PER_MONTH`` hours."""
        return self.to_sizing().monthly(replicas, cores, memory_bytes, gpus, hardware)

    def to_sizing(self) -> Prices:
        """The ``core.pricing.Prices`` that ``recommend`` reads, per-hardware prices included."""
        return Prices(
            core_hour=self.cpu.core_hour,
            gib_hour=self.cpu.gib_hour,
            hardware={
                name: HardwareRate(h.gpu_hour, h.core_hour, h.gib_hour)
                for name, h in self.hardware.items()
            },
        )

    def to_report(self) -> dict[str, JsonValue]:
        """JSON-safe description for ``AuditResult.prices`` (and so every report)."""
        data: dict[str, JsonValue] = self.model_dump(mode="json")
        data["source"] = self.source or BUILT_IN
        return data


# Rough public on-demand list prices (x86 general purpose per core and GiB; GPUs per card),
# for illustration only: every report built on them says "example prices". Kept equal to
# examples/prices.yaml (a test checks it).
_GPU_HOST = {"core_hour": 0.0332, "gib_hour": 0.0045}  # large GPU hosts price CPUs higher
DEFAULT_PRICES: dict[str, JsonValue] = {
    "currency": "USD",
    "example": True,
    "cpu": {"core_hour": 0.0316, "gib_hour": 0.0042},
    "hardware": {
        "nvidia-t4": {"gpu_hour": 0.35},
        "nvidia-l4": {"gpu_hour": 0.56},
        "nvidia-a10g": {"gpu_hour": 0.75},
        "nvidia-a100-40gb": {"gpu_hour": 2.93, **_GPU_HOST},
        "nvidia-a100-80gb": {"gpu_hour": 3.93, **_GPU_HOST},
        "nvidia-h100": {"gpu_hour": 9.80, **_GPU_HOST},
    },
}


def default_prices() -> PriceTable:
    """The built-in table, marked ``example: true``."""
    return PriceTable.model_validate(DEFAULT_PRICES)


def parse_prices(data: Any, source: str = "prices.yaml") -> PriceTable:
    """Validate a mapping read from a price file; errors name the file and the field."""
    if not isinstance(data, dict):
        raise BadInput(
            f"{source}: expected a mapping with `cpu: {{core_hour: ..., gib_hour: ...}}` and "
            f"optional `hardware:`, got {type(data).__name__}"
        )
    if "source" in data:
        raise BadInput(f"{source}: source: unknown field (check its spelling)")
    try:
        table = PriceTable.model_validate(data)
    except ValidationError as exc:
        problem = describe_validation_error(exc).replace(_MANIFEST_HINT, "")
        raise BadInput(f"{source}: {problem}") from None
    return table.model_copy(update={"source": source})


def load_prices(path: Path | None) -> PriceTable:
    """The price table in ``path``, or the built-in example prices when ``path`` is None."""
    if path is None:
        return default_prices()
    data = read_yaml(path, "price file", "--prices")
    return parse_prices(data, str(path))
