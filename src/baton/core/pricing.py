"""What a replica costs: price per hour by hardware type, per month, per million requests.

The price file (``audit.prices``) builds ``Prices``; the sizing maths (``core.rightsizing``)
reads it to cost a deployment now and after the recommendation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

HOURS_PER_MONTH = 730.0
GIB = 1024**3


@dataclass(frozen=True)
class HardwareRate:
    """One hardware type's price per hour: per GPU, and its own CPU prices where they differ."""

    gpu_hour: float = 0.0
    core_hour: float | None = None  # None: the plain CPU price
    gib_hour: float | None = None


@dataclass(frozen=True)
class Prices:
    """Price per hour by hardware type; the defaults are examples, not quotes."""

    core_hour: float = 0.04
    gib_hour: float = 0.005
    hardware: Mapping[str, HardwareRate] = field(
        default_factory=lambda: {"nvidia-t4": HardwareRate(gpu_hour=0.35)}
    )

    def hourly(self, cores: float, memory_bytes: float, gpus: int, hardware: str) -> float:
        """One replica for one hour."""
        rate = self.hardware.get(hardware, HardwareRate())
        core = self.core_hour if rate.core_hour is None else rate.core_hour
        gib = self.gib_hour if rate.gib_hour is None else rate.gib_hour
        return cores * core + memory_bytes / GIB * gib + gpus * rate.gpu_hour

    def monthly(
        self, replicas: float, cores: float, memory_bytes: float, gpus: int, hardware: str
    ) -> float:
        return replicas * self.hourly(cores, memory_bytes, gpus, hardware) * HOURS_PER_MONTH


def per_million(monthly: float | None, rps_mean: float | None) -> float | None:
    """A monthly cost per million requests at the mean rate; None without traffic."""
    if monthly is None or not rps_mean:
        return None
    return monthly / (rps_mean * HOURS_PER_MONTH * 3600 / 1e6)
